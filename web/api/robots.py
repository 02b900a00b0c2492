"""Robot accounts: /api/v2.0/robots (Harbor's Robot, RobotCreate, RobotCreated, RobotSec).

Changes go through services.robots; the secret appears only in the answers to POST (create)
and PATCH (refresh).
"""

from __future__ import annotations

from typing import Any

from quart import Response, current_app, request

import services.robots
from access.robots import RobotFilter, RobotService
from access.roles import Permission
from models import Robot
from models.errors import InvalidInput
from web.api import api
from web.api.calls import api_call
from web.api.common import (
    created,
    json_response,
    paged_response,
    paging,
    signed_in,
)
from web.api.openapi import operation
from web.api.query import CONTAINS, EXACT, parse_query, parse_sort, tortoise_order
from web.api.schemas.common import Empty, ListQuery
from web.api.schemas.robots import (
    Robot as RobotShape,
)
from web.api.schemas.robots import (
    RobotCreate,
    RobotCreated,
    RobotSec,
    RobotSecretReq,
    RobotUpdate,
)
from web.params import api_time


def robots() -> RobotService:
    service: RobotService = current_app.extensions["auth"].users.robots
    return service


@api.route("/robots", methods=["POST"])
@operation("CreateRobot", "robot", body=RobotCreate, responses={201: RobotCreated})
async def create_robot() -> Response:
    made = await services.robots.create(await api_call(), robots())
    robot = made.robot
    body = {
        "id": robot.id,
        "name": robot.name,
        "secret": made.secret,
        "creation_time": api_time(robot.created_at),
        "expires_at": _expires(robot),
    }
    return created(f"{request.path}/{robot.id}", body)


@api.route("/robots", methods=["GET"])
@operation("ListRobot", "robot", query=ListQuery, responses={200: list[RobotShape]})
async def list_robots() -> Response:
    caller = await signed_in()
    pages = paging()
    found, total = await robots().list(caller, _filter(), pages.offset, pages.page_size)
    return paged_response([robot_json(r) for r in found], total, pages)


@api.route("/robots/<int:robot_id>", methods=["GET"])
@operation("GetRobotByID", "robot", responses={200: RobotShape})
async def get_robot(robot_id: int) -> Response:
    robot = await robots().get(await signed_in(), robot_id, Permission.ROBOT_LIST)
    return json_response(robot_json(robot))


@api.route("/robots/<int:robot_id>", methods=["PUT"])
@operation("UpdateRobot", "robot", body=RobotUpdate, responses={200: Empty})
async def update_robot(robot_id: int) -> Response:
    await services.robots.update(await api_call(), robots(), robot_id)
    return json_response({})


@api.route("/robots/<int:robot_id>", methods=["PATCH"])
@operation("RefreshSec", "robot", body=RobotSecretReq, responses={200: RobotSec})
async def refresh_robot_secret(robot_id: int) -> Response:
    secret = await services.robots.refresh_secret(await api_call(), robots(), robot_id)
    return json_response({"secret": secret})


@api.route("/robots/<int:robot_id>", methods=["DELETE"])
@operation("DeleteRobot", "robot", responses={200: Empty})
async def delete_robot(robot_id: int) -> Response:
    await services.robots.delete(await api_call(), robots(), robot_id)
    return json_response({})


def robot_json(robot: Robot) -> dict[str, Any]:
    """Harbor's Robot, without the secret."""
    return {
        "id": robot.id,
        "name": robot.name,
        "description": robot.description,
        "level": robot.level,
        "duration": robot.duration,
        "editable": True,
        "disable": robot.disabled,
        "expires_at": _expires(robot),
        "permissions": robot.permissions,
        "creation_time": api_time(robot.created_at),
        "update_time": api_time(robot.updated_at),
    }


def _filter() -> RobotFilter:
    """`q` (Level, ProjectID, name exact or =~) and `sort` (id, name, creation_time)."""
    terms = parse_query(request.args.get("q"), {"Level": str, "ProjectID": int, "name": str})
    found: dict[str, Any] = {}
    for term in terms:
        if term.op not in (EXACT, CONTAINS) or (term.op == CONTAINS and term.key != "name"):
            raise InvalidInput(f"q: {term.key} takes one exact value")
        found[term.key + ("~" if term.op == CONTAINS else "")] = term.values[0]
    if found.get("Level") not in (None, "system", "project"):
        raise InvalidInput("q: Level is system or project")
    order = tortoise_order(parse_sort(request.args.get("sort"), _SORT), _SORT)
    return RobotFilter(
        found.get("Level"),
        found.get("ProjectID"),
        found.get("name~"),
        found.get("name"),
        tuple(order),
    )


_SORT = {"id": "id", "name": "name", "creation_time": "created_at"}


def _expires(robot: Robot) -> int:
    return -1 if robot.expires_at is None else int(robot.expires_at.timestamp())
