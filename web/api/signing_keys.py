"""A project's keys (Berth's own, under Harbor's prefix): /api/v2.0/projects/{p}/keys —
the keys it signs with (the active one, the retired ones still trusted) and those it
trusts for signatures made elsewhere; each public key downloadable as PEM, so anyone can
verify with standard tools (`cosign verify --key`, a sigstoreSigned policy)."""

from __future__ import annotations

from typing import Any

from quart import Response, current_app, request

import services.signing_keys
from core import signing_keys
from models import ProjectKey
from models.errors import NotFound
from signer.sealing import Sealer
from web.api import api
from web.api.calls import api_call, project_ref
from web.api.common import created, json_response
from web.api.openapi import Content, operation
from web.api.schemas.keys import ProjectKey as KeyShape
from web.api.schemas.keys import TrustedKeyReq
from web.params import api_time

BASE = "/projects/<ref>/keys"
PEM = "application/x-pem-file"


@api.route(BASE, methods=["GET"])
@operation("listProjectKeys", "berth", responses={200: list[KeyShape]})
async def list_keys(ref: str) -> Response:
    scope = await services.signing_keys.readable(await api_call(), project_ref(ref))
    return json_response([key_json(k) for k in await signing_keys.list_keys(scope.project.id)])


@api.route(f"{BASE}/signing.pem", methods=["GET"])
@operation("getProjectSigningKeyPem", "berth", responses={200: Content({PEM: str})})
async def signing_pem(ref: str) -> Response:
    """The active signing key's public half, made on first ask."""
    scope = await services.signing_keys.readable(await api_call(), project_ref(ref))
    key = await signing_keys.signing_key(scope.project.id, _sealer())
    row = await signing_keys.get_key_by_id(scope.project.id, key.key_id)
    return Response(row.public_pem, status=200, content_type=PEM)


@api.route(f"{BASE}/<key>", methods=["GET"])
@operation(
    "getProjectKey", "berth", responses={200: Content({"application/json": KeyShape, PEM: str})}
)
async def get_key(ref: str, key: str) -> Response:
    """One key as JSON, or its PEM when the path ends in .pem."""
    scope = await services.signing_keys.readable(await api_call(), project_ref(ref))
    row = await signing_keys.get_key(scope.project.id, _row_id(key.removesuffix(".pem")))
    if key.endswith(".pem"):
        return Response(row.public_pem, status=200, content_type=PEM)
    return json_response(key_json(row))


@api.route(BASE, methods=["POST"])
@operation("trustProjectKey", "berth", body=TrustedKeyReq, responses={201: KeyShape})
async def trust_key(ref: str) -> Response:
    made = await services.signing_keys.trust(await api_call(), project_ref(ref))
    return created(f"{request.path.rstrip('/')}/{made.id}", key_json(made))


@api.route(f"{BASE}/rotate", methods=["POST"])
@operation("rotateProjectSigningKey", "berth", responses={201: KeyShape})
async def rotate_key(ref: str) -> Response:
    made = await services.signing_keys.rotate(await api_call(), project_ref(ref), _sealer())
    return created(f"{request.path.rsplit('/', 1)[0]}/{made.id}", key_json(made))


@api.route(f"{BASE}/<key>", methods=["DELETE"])
@operation("deleteProjectKey", "berth", responses={200: None})
async def untrust_key(ref: str, key: str) -> Response:
    await services.signing_keys.untrust(await api_call(), project_ref(ref), _row_id(key))
    return Response("", status=200)


def key_json(row: ProjectKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "key_id": row.key_id,
        "kind": row.kind,
        "status": row.status,
        "name": row.name,
        "public_key": row.public_pem,
        "creation_time": api_time(row.created_at),
        "retired_time": api_time(row.retired_at) if row.retired_at else None,
    }


def _row_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise NotFound(f"the project has no key {text[:40]}")
    return int(text)


def _sealer() -> Sealer:
    sealer: Sealer = current_app.extensions["registry"].sealed()
    return sealer
