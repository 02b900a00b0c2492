"""Tag immutability rules (Harbor's ImmutableRule, ImmutableSelector)."""

from __future__ import annotations

from typing import Any

from web.api.schemas.common import Closed, RequestBody


class ImmutableSelector(Closed):
    kind: str
    decoration: str
    pattern: str
    extras: str | None = None


class ImmutableRule(Closed):
    id: int
    priority: int
    disabled: bool
    action: str
    template: str
    params: dict[str, Any]
    tag_selectors: list[ImmutableSelector]
    scope_selectors: dict[str, list[ImmutableSelector]]


class ImmutableRuleReq(RequestBody):
    id: int | None = None
    priority: int | None = None
    disabled: bool | None = None
    action: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    tag_selectors: list[dict[str, Any]] | None = None
    scope_selectors: dict[str, Any] | None = None
