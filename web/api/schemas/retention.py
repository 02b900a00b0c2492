"""Tag retention (Harbor's RetentionMetadata, RetentionPolicy, RetentionExecution,
RetentionExecutionTask and the bodies of a run and of its stop)."""

from __future__ import annotations

from typing import Any

from web.api.schemas.common import Closed, RequestBody


class RetentionRuleParamMetadata(Closed):
    type: str
    unit: str
    required: bool


class RetentionRuleMetadata(Closed):
    rule_template: str
    display_text: str
    action: str
    params: list[RetentionRuleParamMetadata]


class RetentionSelectorMetadata(Closed):
    display_text: str
    kind: str
    decorations: list[str]


class RetentionMetadata(Closed):
    templates: list[RetentionRuleMetadata]
    scope_selectors: list[RetentionSelectorMetadata]
    tag_selectors: list[RetentionSelectorMetadata]


class RetentionSelector(Closed):
    kind: str
    decoration: str
    pattern: str
    extras: str


class RetentionRule(Closed):
    id: int
    priority: int
    disabled: bool
    action: str
    template: str
    params: dict[str, Any]
    tag_selectors: list[RetentionSelector]
    scope_selectors: dict[str, list[RetentionSelector]]


class RetentionRuleTrigger(Closed):
    kind: str
    settings: dict[str, Any]
    references: dict[str, Any]


class RetentionPolicyScope(Closed):
    level: str
    ref: int


class RetentionPolicy(Closed):
    id: int
    algorithm: str
    rules: list[RetentionRule]
    trigger: RetentionRuleTrigger
    scope: RetentionPolicyScope


class RetentionPolicyReq(RequestBody):
    """The body of create and update; each part is checked in detail by the service
    (core/retention_rules.py), naming the field."""

    id: int | None = None
    algorithm: str | None = None
    rules: list[Any] | None = None
    trigger: dict[str, Any] | None = None
    scope: dict[str, Any] | None = None


class RetentionExecution(Closed):
    id: int
    policy_id: int
    start_time: str
    end_time: str
    status: str
    trigger: str
    dry_run: bool


class RetentionExecutionTask(Closed):
    id: int
    execution_id: int
    repository: str
    job_id: str
    status: str
    status_code: int
    status_revision: int
    start_time: str
    end_time: str
    total: int
    retained: int


class RetentionRun(RequestBody):
    dry_run: bool | None = None


class RetentionOperation(RequestBody):
    action: str | None = None
