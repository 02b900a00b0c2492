"""System-wide resources: configurations and health (Harbor's Configurations,
ConfigurationsResponse, OverallHealthStatus)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from web.api.schemas.common import Closed, RequestBody


class ConfigItem(Closed):
    value: Any
    editable: bool


class Configurations(RequestBody):
    """Any of the settings GET /configurations lists (checked by the service)."""

    model_config = ConfigDict(extra="allow", strict=True)


class ComponentHealthStatus(Closed):
    name: str
    status: str
    error: str | None = None


class OverallHealthStatus(Closed):
    status: str
    components: list[ComponentHealthStatus]
