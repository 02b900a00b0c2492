"""Project services: create with its owner, and delete with everything that hangs on it, in
one transaction with exactly one event; a refused or crashed delete changes nothing."""

from __future__ import annotations

import pytest

from access.errors import Forbidden
from access.policy import Identity
from access.robots import RobotService
from access.roles import Role
from core import audit
from models import AuditEvent, Project, ProjectMember, Robot, WebhookExecution, WebhookPolicy
from services import projects
from services.rights import ProjectRef, ProjectUnknown
from tests.services.support import GivenCall, a_user, events_of


async def a_project_with_everything(owner: GivenCall, name: str) -> int:
    """A project with its owner, another member, a robot, a policy and a delivery."""
    project_id, _ = await projects.create(GivenCall(owner.identity, {"project_name": name}))
    other = await a_user(f"{name}-dev")
    await ProjectMember.create(
        project_id=project_id, entity_type="u", entity_id=other.user_id, role=int(Role.DEVELOPER)
    )
    await Robot.create(
        name=f"robot${name}+ci", secret_hash="x", level="project", project_id=project_id
    )
    policy = await WebhookPolicy.create(project_id=project_id, name="ci", secret="s")
    await WebhookExecution.create(policy_id=policy.id, event_type="PUSH_ARTIFACT")
    return project_id


async def left_of(project_id: int) -> list[int]:
    """How many projects, members, robots, policies and executions of the project remain."""
    policies = await WebhookPolicy.filter(project_id=project_id).values_list("id", flat=True)
    return [
        await Project.filter(id=project_id).count(),
        await ProjectMember.filter(project_id=project_id).count(),
        await Robot.filter(project_id=project_id).count(),
        len(policies),
        await WebhookExecution.filter(policy_id__in=list(policies)).count(),
    ]


async def test_create_makes_the_caller_project_admin_and_records_it(database: str) -> None:
    # Given a user
    alice = await a_user("alice")
    # When they create a public project
    call = GivenCall(alice, {"project_name": "apps", "metadata": {"public": "true"}})
    project_id, name = await projects.create(call)
    # Then it is theirs, they are its Project Admin, and one event says so
    project = await Project.get(id=project_id)
    assert (name, project.public, project.owner_id) == ("apps", True, alice.user_id)
    member = await ProjectMember.get(project_id=project_id, entity_id=alice.user_id)
    assert member.role == int(Role.PROJECT_ADMIN)
    (event,) = await events_of(audit.PROJECT)
    assert (event.operation, event.resource, event.project_id) == ("create", "apps", project_id)
    assert (event.username, event.success, event.description) == ("alice", True, "public: true")
    assert event.client_address == "192.0.2.7"


async def test_delete_removes_members_robots_and_policies_with_one_event(database: str) -> None:
    # Given a project with members, a robot and a webhook policy with a delivery
    admin = GivenCall(await a_user("root", sysadmin=True))
    project_id = await a_project_with_everything(admin, "doomed")
    # When the admin deletes it
    await projects.delete(admin, ProjectRef("doomed", True), RobotService())
    # Then nothing of it remains, and exactly one successful delete event names it
    assert await left_of(project_id) == [0, 0, 0, 0, 0]
    deletes = await AuditEvent.filter(operation="delete", resource_type=audit.PROJECT)
    assert [(e.resource, e.project_id, e.success) for e in deletes] == [
        ("doomed", project_id, True)
    ]


async def test_a_refused_delete_changes_nothing_and_records_a_failed_event(database: str) -> None:
    # Given a private project and a user who is no member of it
    admin = GivenCall(await a_user("root", sysadmin=True))
    project_id = await a_project_with_everything(admin, "kept")
    outsider = GivenCall(await a_user("mallory"))
    # When the outsider tries to delete it
    with pytest.raises(ProjectUnknown):
        await projects.delete(outsider, ProjectRef(str(project_id), False), RobotService())
    # Then everything is still there, and a failed event of theirs is filed under it
    assert await left_of(project_id) == [1, 2, 1, 1, 1]
    (event,) = await AuditEvent.filter(operation="delete", resource_type=audit.PROJECT)
    assert (event.username, event.success, event.resource) == ("mallory", False, "kept")
    assert event.project_id == project_id and "not found" in event.description


async def test_a_developer_is_refused_before_the_body_is_read(database: str) -> None:
    # Given a developer of a project
    admin = GivenCall(await a_user("root", sysadmin=True))
    project_id = await a_project_with_everything(admin, "guarded")
    developer = (await ProjectMember.get(project_id=project_id, role=int(Role.DEVELOPER))).entity_id
    caller = GivenCall(Identity(username="guarded-dev", user_id=developer), "not json")
    # When they try to change its visibility with a body that is not even an object
    with pytest.raises(Forbidden):
        await projects.update(caller, ProjectRef("guarded", True))
    # Then the refusal came first: the body was never read, and the failure is recorded
    assert caller.asked == ["caller"]
    (event,) = await AuditEvent.filter(operation="update", resource_type=audit.PROJECT)
    assert (event.username, event.success) == ("guarded-dev", False)


class CrashingRobots(RobotService):
    """Robots that cannot be deleted: the operation fails half-way, after its first writes."""

    async def delete_project_robots(self, project_id: int) -> int:
        raise RuntimeError("disk on fire")


async def test_a_crash_mid_delete_rolls_back_the_change_and_its_event(database: str) -> None:
    # Given a project with everything
    admin = GivenCall(await a_user("root", sysadmin=True))
    project_id = await a_project_with_everything(admin, "survivor")
    # When its delete fails after the project row is gone, before its robots go
    with pytest.raises(RuntimeError, match="disk on fire"):
        await projects.delete(admin, ProjectRef("survivor", True), CrashingRobots())
    # Then the project, its members, robots and policies are all still there, and the only
    # delete event is the failed one
    assert await left_of(project_id) == [1, 2, 1, 1, 1]
    deletes = await AuditEvent.filter(operation="delete", resource_type=audit.PROJECT)
    assert [(e.success, e.description) for e in deletes] == [(False, "disk on fire")]
