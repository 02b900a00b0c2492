"""What webhook deliveries left behind, as Harbor reads it: a policy's executions, each
execution's one task (Berth delivers an event to a policy's targets in one job, so an
execution has exactly one task, of the execution's id) and its log, a project's jobs, and
the last time each policy fired for each of its event types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.functions import Max

from core.webhooks import get_policy
from models import WebhookExecution, WebhookPolicy
from models.errors import NotFound

# Harbor's job and task statuses of Berth's execution statuses, and back
HARBOR_STATUS = {"pending": "Pending", "success": "Success", "failed": "Error"}
BERTH_STATUS = {v: k for k, v in HARBOR_STATUS.items()}


class WebhookExecutionUnknown(NotFound):
    def __init__(self, execution_id: int) -> None:
        super().__init__(f"webhook execution {execution_id} not found in this policy")


class WebhookTaskUnknown(NotFound):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"webhook task {task_id} not found in this execution")


@dataclass(frozen=True, slots=True)
class LastTrigger:
    """One policy and one of its event types, with when that event last fired it."""

    policy: WebhookPolicy
    event_type: str
    last_trigger: datetime | None


async def get_execution(project_id: int, policy_id: int, execution_id: int) -> WebhookExecution:
    """The execution of a project's policy; WebhookPolicyUnknown, WebhookExecutionUnknown."""
    await get_policy(project_id, policy_id)
    execution = await WebhookExecution.get_or_none(id=execution_id, policy_id=policy_id)
    if execution is None:
        raise WebhookExecutionUnknown(execution_id)
    return execution


async def get_task(
    project_id: int, policy_id: int, execution_id: int, task_id: int
) -> WebhookExecution:
    """The execution whose one task task_id is (its own id); WebhookTaskUnknown otherwise."""
    execution = await get_execution(project_id, policy_id, execution_id)
    if task_id != execution.id:
        raise WebhookTaskUnknown(task_id)
    return execution


async def list_jobs(
    project_id: int, policy_id: int, statuses: list[str], offset: int, limit: int
) -> tuple[list[WebhookExecution], int]:
    """A page of a policy's deliveries (Harbor's webhook jobs), newest first, optionally of
    the given Harbor statuses (Pending, Success, Error; any other matches nothing)."""
    await get_policy(project_id, policy_id)
    query = WebhookExecution.filter(policy_id=policy_id)
    if statuses:
        query = query.filter(status__in=[BERTH_STATUS.get(s, "") for s in statuses])
    return list(await query.order_by("-id").offset(offset).limit(limit)), await query.count()


async def last_triggers(project_id: int) -> list[LastTrigger]:
    """Every policy of the project with each of its event types and when it last fired."""
    policies = await WebhookPolicy.filter(project_id=project_id).order_by("id")
    rows = (
        await WebhookExecution.filter(policy_id__in=[p.id for p in policies])
        .group_by("policy_id", "event_type")
        .annotate(last=Max("created_at"))
        .values_list("policy_id", "event_type", "last")
    )
    fired = {(int(pid), str(kind)): _as_time(last) for pid, kind, last in rows}
    return [
        LastTrigger(p, kind, fired.get((p.id, kind))) for p in policies for kind in p.event_types
    ]


def _as_time(value: object) -> datetime | None:
    """An aggregate's time: SQLite hands MAX() of a timestamp back as text."""
    if value is None or isinstance(value, datetime):
        return value
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
