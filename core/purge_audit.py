"""The audit log purge as Harbor's /system/purgeaudit sees it: runs (core.gc_runs with the
PURGE kind, table purge_audit_run) and one schedule (core.gc_schedule with PURGE_SCHEDULE),
the machinery garbage collection uses. A run removes the events older than
audit_retention_hour of the operations in include_operations (pipelines/audit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import audit
from core.gc_runs import RunActive, RunKind
from core.gc_schedule import JobSchedule
from models import PurgeRun
from models.errors import AlreadyExists
from models.values import ParameterInvalid

RUN_KIND = "purge-audit"  # the job that carries out one run: args {"run": id}
FIRE_KIND = "purge-audit-schedule"  # what the schedule fires: args {"type", "cron", ...}
JOB_NAME = "PURGE_AUDIT_LOG"  # Harbor's vendor type, the job_name of its history rows
LABEL = "audit log purge"
MAX_RETENTION_HOURS = 240_000  # Harbor's bound
DEFAULT_OPERATIONS = ("create", "delete", "pull")
_KEYS = ("audit_retention_hour", "include_operations", "dry_run")


@dataclass(frozen=True, slots=True)
class PurgeParameters:
    """What a caller chooses for a purge (Harbor's job parameters)."""

    audit_retention_hour: int = 0  # 0: a run with this keeps everything (no age given)
    include_operations: tuple[str, ...] = DEFAULT_OPERATIONS
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "audit_retention_hour": self.audit_retention_hour,
            "include_operations": ",".join(self.include_operations),
            "dry_run": self.dry_run,
        }


def parse_parameters(body: object) -> PurgeParameters:
    """Harbor's purge parameters {audit_retention_hour, include_operations ("create,pull"),
    dry_run}; ParameterInvalid naming the field for anything else."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ParameterInvalid("parameters", "must be an object")
    unknown = sorted(set(body) - set(_KEYS))
    if unknown:
        raise ParameterInvalid(f"parameters.{unknown[0]}", "is not a purge parameter")
    hours = body.get("audit_retention_hour", 0)
    if isinstance(hours, bool) or not isinstance(hours, int):
        raise ParameterInvalid("parameters.audit_retention_hour", "must be an integer")
    if not 0 <= hours <= MAX_RETENTION_HOURS:
        raise ParameterInvalid(
            "parameters.audit_retention_hour", f"must be 1..{MAX_RETENTION_HOURS}"
        )
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ParameterInvalid("parameters.dry_run", "must be true or false")
    return PurgeParameters(hours, _operations(body.get("include_operations")), dry_run)


def _operations(value: object) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_OPERATIONS
    if not isinstance(value, str) or len(value) > 200:
        raise ParameterInvalid("parameters.include_operations", "must be a list like create,pull")
    chosen = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    wrong = [v for v in chosen if v not in audit.OPERATIONS]
    if wrong or not chosen:
        known = ", ".join(audit.OPERATIONS)
        raise ParameterInvalid("parameters.include_operations", f"takes some of {known}")
    return chosen


def require_age(parameters: PurgeParameters) -> PurgeParameters:
    """A run or schedule must say how old an event must be (Harbor requires it)."""
    if parameters.audit_retention_hour < 1:
        raise ParameterInvalid("parameters.audit_retention_hour", "is required (1 or more)")
    return parameters


def _running(run_id: int) -> AlreadyExists:
    return RunActive(run_id, LABEL)


PURGE = RunKind(PurgeRun, RUN_KIND, "purge-audit", LABEL, lambda: {"events": 0}, _running, 3)
PURGE_SCHEDULE = JobSchedule("purge-audit", FIRE_KIND, parse_parameters, "purge-audit")
