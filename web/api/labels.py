"""Labels: /api/v2.0/labels (Harbor's ListLabels, CreateLabel, GetLabelByID, UpdateLabel,
DeleteLabel) and an artifact's labels, .../artifacts/{reference}/labels (addLabel,
removeLabel)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from quart import Response, request

import services.labels
from core import labels
from models import Label
from services.artifacts import RepositoryPath
from web.api import api
from web.api.calls import api_call
from web.api.common import created, current_identity, json_response, paged_response, paging
from web.api.openapi import operation
from web.api.query import (
    KeyParsers,
    as_row_id,
    parse_query,
    parse_sort,
    tortoise_filters,
    tortoise_order,
)
from web.api.schemas.labels import Label as LabelShape
from web.api.schemas.labels import LabelQuery, LabelRef, LabelReq
from web.params import ParameterInvalid, api_time, arg, int_arg, name_arg

# an artifact's labels; repository_name as web/api/artifacts.py reads it
ARTIFACTS = "/projects/<project_name>/repositories/<path:repository_name>/artifacts"
QUERY_KEYS: KeyParsers = {"name": str, "id": as_row_id}
SORT_KEYS = {"id": "id", "name": "name", "creation_time": "created_at"}


@api.route("/labels", methods=["GET"])
@operation("ListLabels", "label", query=LabelQuery, responses={200: list[LabelShape]})
async def list_labels() -> Response:
    scope, project_id = await _listed_scope()
    filters = tortoise_filters(parse_query(request.args.get("q"), QUERY_KEYS))
    if name := name_arg("name"):
        filters["name__icontains"] = name
    order = tortoise_order(parse_sort(request.args.get("sort"), SORT_KEYS), SORT_KEYS)
    pages = paging()
    rows, total = await labels.list_labels(
        scope, project_id, filters, order, pages.offset, pages.page_size
    )
    return paged_response([render_label(r) for r in rows], total, pages)


async def _listed_scope() -> tuple[str, int]:
    """scope (g, the default, or p) and, for p, the project_id, which the caller must be
    allowed to list the labels of; anybody may list the global ones, as in Harbor."""
    scope = arg("scope") or labels.GLOBAL
    if scope not in labels.SCOPES:
        raise ParameterInvalid("scope", "must be g (global) or p (project)")
    project_id = int_arg("project_id", 0, 0, 2**31 - 1)
    if scope == labels.PROJECT:
        if not project_id:
            raise ParameterInvalid("project_id", "is required for project labels (scope p)")
        identity = await current_identity()
        await services.labels.require_label_right(identity, scope, project_id, "list")
    return scope, project_id


@api.route("/labels", methods=["POST"])
@operation("CreateLabel", "label", body=LabelReq, responses={201: None})
async def create_label() -> Response:
    label = await services.labels.create(await api_call())
    return created(f"/api/v2.0/labels/{label.id}")


@api.route("/labels/<int:label_id>", methods=["GET"])
@operation("GetLabelByID", "label", responses={200: LabelShape})
async def get_label(label_id: int) -> Response:
    label = await labels.get_label(label_id)
    identity = await current_identity()
    project_id = labels.project_id_of(label)
    await services.labels.require_label_right(identity, label.scope, project_id, "read")
    return json_response(render_label(label))


@api.route("/labels/<int:label_id>", methods=["PUT"])
@operation("UpdateLabel", "label", body=LabelReq, responses={200: None})
async def update_label(label_id: int) -> Response:
    await services.labels.update(await api_call(), label_id)
    return Response("", status=200)


@api.route("/labels/<int:label_id>", methods=["DELETE"])
@operation("DeleteLabel", "label", responses={200: None})
async def delete_label(label_id: int) -> Response:
    await services.labels.delete(await api_call(), label_id)
    return Response("", status=200)


@api.route(f"{ARTIFACTS}/<reference>/labels", methods=["POST"])
@operation("addLabel", "artifact", body=LabelRef, responses={200: None})
async def add_label(project_name: str, repository_name: str, reference: str) -> Response:
    path = _path(project_name, repository_name)
    await services.labels.add_to_artifact(await api_call(), path, unquote(reference))
    return Response("", status=200)


@api.route(f"{ARTIFACTS}/<reference>/labels/<int:label_id>", methods=["DELETE"])
@operation("removeLabel", "artifact", responses={200: None})
async def remove_label(
    project_name: str, repository_name: str, reference: str, label_id: int
) -> Response:
    path = _path(project_name, repository_name)
    await services.labels.remove_from_artifact(await api_call(), path, unquote(reference), label_id)
    return Response("", status=200)


def _path(project: str, encoded_name: str) -> RepositoryPath:
    return RepositoryPath(project, f"{project}/{unquote(encoded_name)}")


def render_label(label: Label) -> dict[str, Any]:
    """Harbor's Label; project_id 0 for a global label."""
    return {
        "id": label.id,
        "name": label.name,
        "description": label.description,
        "color": label.color,
        "scope": label.scope,
        "project_id": labels.project_id_of(label),
        "creation_time": api_time(label.created_at),
        "update_time": api_time(label.updated_at),
    }
