"""core.events: an operation that forgets its event is rolled back; a project whose
policies do not want an event gets no delivery."""

from __future__ import annotations

import pytest

from core import audit, events
from models import AuditEvent, Project, WebhookExecution, WebhookPolicy


async def test_an_operation_without_its_event_is_rolled_back_and_recorded(database: str) -> None:
    # Given an operation that changes something but emits nothing
    event = audit.Event(audit.CREATE, audit.PROJECT, "ghost", project="ghost")
    # When it runs
    with pytest.raises(events.EventNotEmitted):
        async with events.recorded(event):
            await Project.create(name="ghost")
    # Then the change is gone, and the failure is recorded
    assert await Project.filter(name="ghost").count() == 0
    (row,) = await AuditEvent.filter(resource="ghost")
    assert row.success is False


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param({"enabled": False}, id="disabled"),
        pytest.param({"event_types": ["PUSH_ARTIFACT"]}, id="other-event-types"),
    ],
)
async def test_a_policy_that_does_not_want_the_event_gets_no_delivery(
    database: str, policy: dict[str, object]
) -> None:
    # Given a project whose one policy is disabled or wants other events
    project = await Project.create(name="quiet")
    fields: dict[str, object] = {"enabled": True, "event_types": ["DELETE_ARTIFACT"], **policy}
    await WebhookPolicy.create(project_id=project.id, name="p", secret="s", **fields)
    event = audit.Event(audit.DELETE, audit.ARTIFACT, "quiet/app@sha256:0", "quiet", project.id)
    event.artifacts = [audit.Artifact("quiet/app", "sha256:0")]
    # When an artifact event is emitted there
    async with events.recorded(event) as tx:
        sent = await events.emit(tx, event)
    # Then its audit row is written and no delivery is
    assert sent == 0 and await WebhookExecution.all().count() == 0
    assert await AuditEvent.filter(resource="quiet/app@sha256:0", success=True).count() == 1
