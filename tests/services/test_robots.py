"""Robot services: create, update, refresh and delete are one event each; a refused attempt
changes nothing and leaves its failed event; a system robot creates robots only with the
system permission robot:create, granting no more than it holds."""

from __future__ import annotations

from typing import Any

import pytest

from access.errors import AuthenticationFailed, Forbidden
from access.policy import ANONYMOUS, Identity
from access.robots import RobotService
from access.roles import Permission, Role
from core import audit
from models import AuditEvent, Project, ProjectMember, Robot
from services import projects, robots
from tests.services.support import GivenCall, a_user, events_of


def project_robot(project: str, *pairs: str, name: str = "ci") -> dict[str, Any]:
    """A RobotCreate of a project-level robot with the given resource:action pairs."""
    return {
        "name": name,
        "level": "project",
        "permissions": [{"kind": "project", "namespace": project, "access": access(*pairs)}],
    }


def system_robot(system: list[str], projects: dict[str, list[str]], name: str) -> dict[str, Any]:
    """A RobotCreate of a system-level robot: system access, and access per project."""
    entries = [{"kind": "system", "namespace": "/", "access": access(*system)}] if system else []
    entries += [
        {"kind": "project", "namespace": ns, "access": access(*pairs)}
        for ns, pairs in projects.items()
    ]
    return {"name": name, "level": "system", "permissions": entries}


def access(*pairs: str) -> list[dict[str, str]]:
    return [dict(zip(("resource", "action"), p.split(":"), strict=True)) for p in pairs]


def a_system_robot(
    system: set[str], projects: dict[str, set[Permission]] | None = None
) -> Identity:
    """The caller a stored system robot resolves to (its `resource:*` spelled out)."""
    return Identity(
        username="robot$replicator",
        robot_id=9_999,
        system_permissions=frozenset(system),
        robot_permissions={ns: frozenset(held) for ns, held in (projects or {}).items()},
    )


async def a_project(owner: Identity, name: str) -> int:
    project_id, _ = await projects.create(GivenCall(owner, {"project_name": name}))
    return project_id


async def test_create_and_delete_are_one_event_each(database: str) -> None:
    # Given a project and its admin
    admin = await a_user("root", sysadmin=True)
    project_id = await a_project(admin, "apps")
    # When the admin creates a robot there, and deletes it
    made = await robots.create(
        GivenCall(admin, project_robot("apps", "repository:pull")), RobotService()
    )
    await robots.delete(GivenCall(admin), RobotService(), made.robot.id)
    # Then one create and one delete event name it, in its project; the robot is gone
    rows = await events_of(audit.ROBOT)
    assert [(e.operation, e.resource, e.project, e.project_id, e.success) for e in rows] == [
        ("create", "robot$apps+ci", "apps", project_id, True),
        ("delete", "robot$apps+ci", "apps", project_id, True),
    ]
    assert rows[0].description == "level: project" and rows[0].username == "root"
    assert not await Robot.exists(id=made.robot.id)


async def test_update_and_refresh_are_one_event_each(database: str) -> None:
    admin = await a_user("root", sysadmin=True)
    await a_project(admin, "apps")
    made = await robots.create(
        GivenCall(admin, project_robot("apps", "repository:pull")), RobotService()
    )
    await robots.update(GivenCall(admin, {"disable": True}), RobotService(), made.robot.id)
    secret = await robots.refresh_secret(GivenCall(admin, {}), RobotService(), made.robot.id)
    updates = await AuditEvent.filter(resource_type=audit.ROBOT, operation="update").order_by("id")
    assert [(e.description, e.success) for e in updates] == [
        ("disable: false -> true", True),
        ("secret refreshed", True),
    ]
    assert secret and secret != made.secret


async def test_a_refused_create_is_a_failed_event_and_no_robot(database: str) -> None:
    # Given a Developer of a project
    admin = await a_user("root", sysadmin=True)
    project_id = await a_project(admin, "apps")
    dev = await a_user("dev")
    await ProjectMember.create(
        project_id=project_id, entity_type="u", entity_id=dev.user_id, role=int(Role.DEVELOPER)
    )
    # When they ask for a robot of their project
    with pytest.raises(Forbidden):
        await robots.create(
            GivenCall(dev, project_robot("apps", "repository:pull")), RobotService()
        )
    # Then there is no robot, and one failed create event of theirs
    assert await Robot.all().count() == 0
    (event,) = await events_of(audit.ROBOT)
    assert (event.operation, event.username, event.success) == ("create", "dev", False)
    assert event.resource == "ci" and "Project Admin" in event.description


async def test_a_refused_delete_keeps_the_robot_and_records_a_failed_event(database: str) -> None:
    # Given a robot of one project and the Project Admin of another
    admin = await a_user("root", sysadmin=True)
    await a_project(admin, "apps")
    made = await robots.create(
        GivenCall(admin, project_robot("apps", "repository:pull")), RobotService()
    )
    other = await a_user("other")
    await a_project(other, "elsewhere")
    # When that admin tries to delete it
    with pytest.raises(Forbidden):
        await robots.delete(GivenCall(other), RobotService(), made.robot.id)
    # Then it is still there, and the failure is filed under it and its project
    assert await Robot.exists(id=made.robot.id)
    deletes = await AuditEvent.filter(resource_type=audit.ROBOT, operation="delete")
    assert [(e.username, e.success, e.resource, e.project) for e in deletes] == [
        ("other", False, "robot$apps+ci", "apps")
    ]


async def test_nobody_is_asked_to_sign_in_to_delete_a_robot(database: str) -> None:
    admin = await a_user("root", sysadmin=True)
    await a_project(admin, "apps")
    made = await robots.create(
        GivenCall(admin, project_robot("apps", "repository:pull")), RobotService()
    )
    audit.identify(None)
    with pytest.raises(AuthenticationFailed):
        await robots.delete(GivenCall(ANONYMOUS), RobotService(), made.robot.id)
    assert await Robot.exists(id=made.robot.id)


@pytest.mark.parametrize("sent", [project_robot("apps", "repository:pull"), "not json"])
async def test_a_system_robot_without_robot_create_is_refused_before_the_body(
    database: str, sent: Any
) -> None:
    # Given a system robot that may replicate, but not create robots
    caller = GivenCall(a_system_robot({"replication:create"}), sent)
    # When it asks for a robot, well-formed or not
    with pytest.raises(Forbidden, match="robot:create"):
        await robots.create(caller, RobotService())
    # Then the refusal is recorded as its failed attempt
    (event,) = await events_of(audit.ROBOT)
    assert (event.username, event.success) == ("robot$replicator", False)


async def test_a_system_robot_with_robot_create_grants_only_what_it_holds(database: str) -> None:
    # Given a project, and a system robot that may create robots and pull there
    await a_project(await a_user("root", sysadmin=True), "apps")
    held = {"robot:create", "replication:create"}
    creator = a_system_robot(held, {"apps": {Permission.REPOSITORY_PULL}})
    # When it creates a pull robot there, and a system robot with part of its own rights
    pull = await robots.create(
        GivenCall(creator, project_robot("apps", "repository:pull")), RobotService()
    )
    system = await robots.create(
        GivenCall(creator, system_robot(["replication:create"], {}, "sub")), RobotService()
    )
    # Then both exist
    assert (pull.robot.name, system.robot.name) == ("robot$apps+ci", "robot$sub")
    # But asking for push in apps, or a system permission it lacks, is refused and recorded
    refused = [
        project_robot("apps", "repository:pull", "repository:push", name="pusher"),
        system_robot(["user:list"], {}, "lister"),
        system_robot(["replication:create"], {"*": ["repository:pull"]}, "everywhere"),
    ]
    for body in refused:
        with pytest.raises(Forbidden, match="do not hold"):
            await robots.create(GivenCall(creator, body), RobotService())
    assert await Robot.filter(name__in=["robot$apps+pusher", "robot$lister"]).count() == 0
    results = [(e.resource, e.success) for e in await events_of(audit.ROBOT)]
    assert results == [
        ("robot$apps+ci", True),
        ("robot$sub", True),
        ("robot$apps+pusher", False),
        ("robot$lister", False),
        ("robot$everywhere", False),
    ]


async def test_a_robot_cannot_take_the_secret_of_a_stronger_robot(database: str) -> None:
    # Given a robot that may push in a project, made by the admin
    admin = await a_user("root", sysadmin=True)
    await a_project(admin, "apps")
    made = await robots.create(
        GivenCall(admin, project_robot("apps", "repository:pull", "repository:push")),
        RobotService(),
    )
    # When a system robot that may update robots but only pull there refreshes its secret
    weaker = a_system_robot({"robot:update"}, {"apps": {Permission.REPOSITORY_PULL}})
    with pytest.raises(Forbidden, match="repository:push in apps"):
        await robots.refresh_secret(GivenCall(weaker, {}), RobotService(), made.robot.id)
    # Then the secret is unchanged
    assert (await Robot.get(id=made.robot.id)).secret_hash == made.robot.secret_hash


async def test_a_project_created_by_a_robot_belongs_to_admin_without_members(
    database: str,
) -> None:
    # Given the system admin `admin`, and a system robot that may create projects
    admin = await a_user("admin", sysadmin=True)
    creator = a_system_robot({"project:create"})
    # When it creates a project
    project_id, _ = await projects.create(GivenCall(creator, {"project_name": "made-by-ci"}))
    # Then, as in Harbor, admin owns it and nobody is its member; one event names the robot
    project = await Project.get(id=project_id)
    assert project.owner_id == admin.user_id
    assert await ProjectMember.filter(project_id=project_id).count() == 0
    (event,) = await events_of(audit.PROJECT)
    assert (event.resource, event.username, event.success) == ("made-by-ci", creator.username, True)


async def test_a_robot_without_project_create_creates_no_project(database: str) -> None:
    caller = GivenCall(a_system_robot({"replication:create"}), {"project_name": "nope"})
    with pytest.raises(Forbidden, match="project:create"):
        await projects.create(caller)
    assert not await Project.exists(name="nope")
    (event,) = await events_of(audit.PROJECT)
    assert (event.resource, event.success) == ("nope", False)
    assert caller.asked[-1] == "caller"  # refused before the body was read for the change
