"""The audit log purge (Harbor's ExecHistory, as getPurgeHistory and getPurgeSchedule show)."""

from __future__ import annotations

from web.api.schemas.common import Closed
from web.api.schemas.gc import ScheduleObj


class PurgeSchedule(Closed):
    """The schedule as an ExecHistory; id, status and times are null when none is set."""

    id: int | None
    job_name: str
    job_kind: str
    job_parameters: str
    job_status: str | None
    deleted: bool
    schedule: ScheduleObj
    creation_time: str | None
    update_time: str | None
