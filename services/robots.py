"""Robot accounts: create one (its secret shown once), change it, refresh its secret, delete
it — each one attempt, one transaction, one event; a refused attempt keeps its failed one.

Who may: a system admin; a system robot with the system permission robot:create /
robot:update / robot:delete (granting only what it holds itself); a Project Admin for the
robots of their projects. A project robot never manages robots.
"""

from __future__ import annotations

from typing import Any

from access.robot_spec import SYSTEM, parse_spec
from access.robots import CreatedRobot, RobotService, robot_target
from access.roles import Permission
from core import audit, events
from models import Robot
from services.attempts import Call, attempt, requested


async def create(call: Call, robots: RobotService) -> CreatedRobot:
    """A new robot from a RobotCreate body, and its secret."""
    event = audit.Event(audit.CREATE, audit.ROBOT, await requested(call, "name"))
    async with attempt(call, event) as op:
        await robots.check_may_create(op.caller)  # the right first, then the body
        body = await op.body()
        robots.check_may_create_level(op.caller, body.get("level", SYSTEM))
        spec = parse_spec(body)
        event.resource, event.project = spec.full_name, spec.project or ""
        event.description = f"level: {spec.level}"
        made = await robots.create(op.caller, spec)
        event.project_id = made.robot.project_id
        await events.emit(op.tx, event)
    return made


async def update(call: Call, robots: RobotService, robot_id: int) -> None:
    """Change description, disable, duration and permissions (a Robot body); name and level
    stay."""
    event = await _event(audit.UPDATE, robot_id)
    async with attempt(call, event) as op:
        before = _editable(await robots.get(op.caller, robot_id, Permission.ROBOT_CREATE))
        after = _editable(await robots.update(op.caller, robot_id, await op.body()))
        event.description = audit.changes(before, after, hidden=("permissions",))
        await events.emit(op.tx, event)


async def refresh_secret(call: Call, robots: RobotService, robot_id: int) -> str:
    """A new secret (the body's `secret`, or a random one); the old one stops at once."""
    event = await _event(audit.UPDATE, robot_id, "secret refreshed")
    async with attempt(call, event) as op:
        await robots.get(op.caller, robot_id, Permission.ROBOT_CREATE)  # the right first
        secret = await robots.refresh_secret(op.caller, robot_id, (await op.body()).get("secret"))
        await events.emit(op.tx, event)
    return secret


async def delete(call: Call, robots: RobotService, robot_id: int) -> None:
    event = await _event(audit.DELETE, robot_id)
    async with attempt(call, event) as op:
        await robots.delete(op.caller, robot_id)
        await events.emit(op.tx, event)


async def _event(operation: str, robot_id: int, description: str = "") -> audit.Event:
    name, project, project_id = await robot_target(robot_id)
    return audit.Event(operation, audit.ROBOT, name, project, project_id, description)


def _editable(robot: Robot) -> dict[str, Any]:
    """What a PUT may change, as the API names it (an event names changed permissions
    without them: the log is read more widely than the robot)."""
    return {
        "description": robot.description,
        "disable": robot.disabled,
        "duration": robot.duration,
        "permissions": robot.permissions,
    }
