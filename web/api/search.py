"""/search (projects and repositories by a part of their name) and /statistics (how many
projects and repositories, by visibility, and the bytes stored): both of what the caller
may see, as Harbor counts them."""

from __future__ import annotations

from dataclasses import asdict

from quart import Response

from access.policy import visible_project_ids
from core import projects, repositories
from models.errors import InvalidInput
from web.api import api
from web.api.common import current_identity, json_response, signed_in
from web.api.openapi import operation
from web.api.projects import _render as render_project
from web.api.schemas.search import Search, SearchQuery, Statistic
from web.params import arg

MAX_TEXT = 255


@api.route("/search", methods=["GET"])
@operation("search", "search", query=SearchQuery, responses={200: Search})
async def search() -> Response:
    identity = await current_identity()
    text = (arg("q", "", MAX_TEXT) or "").strip()
    if not text:
        raise InvalidInput("q: say what to search for")
    visible = await visible_project_ids(identity, "project:list")
    found, _total = await projects.list_projects(
        visible, {"name__icontains": text}, ["name"], 0, repositories.MAX_FOUND
    )
    repos = await repositories.search_repositories(visible, text)
    return json_response(
        {
            "project": [await render_project(identity, p) for p in found],
            "repository": [asdict(r) for r in repos],
        }
    )


@api.route("/statistics", methods=["GET"])
@operation("getStatistic", "statistic", responses={200: Statistic})
async def statistics() -> Response:
    identity = await signed_in()
    visible = await visible_project_ids(identity, "project:list")
    counted = await repositories.statistics(visible, identity.sysadmin)
    return json_response(asdict(counted))
