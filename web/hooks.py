"""Incoming webhooks: POST /hooks/replication/{policy_id}, the CI trigger of a replication
policy. No Berth credentials: the delivery proves itself with the policy's trigger secret
(core/replication_hooks.py). Errors are Harbor's JSON (web/errors.py); a delivery that does
not prove itself is 401 whatever the reason (unknown policy, no secret, wrong signature)."""

from __future__ import annotations

from quart import Blueprint, Response, current_app, request

import services.replication
from core.replication_hooks import MAX_BODY
from models.errors import TooLarge
from web.api.common import json_response, wake_jobs
from web.streaming import read_bounded

hooks = Blueprint("hooks", __name__, url_prefix="/hooks")
EXECUTIONS = "/api/v2.0/replication/executions"


class HookBodyTooLarge(TooLarge):
    def __init__(self) -> None:
        super().__init__("the delivery's body is too large", {"limit_bytes": MAX_BODY})


@hooks.post("/replication/<int:policy_id>")
async def replication_hook(policy_id: int) -> Response:
    """201 {"execution_id"} for a first delivery, 200 with the first execution's id for a
    delivery id seen before (nothing started)."""
    body = await read_bounded(request.content_length, request.body, MAX_BODY, HookBodyTooLarge)
    headers = {name.lower(): value for name, value in request.headers.items()}
    delivery = services.replication.HookDelivery(policy_id, body, headers)
    sealer = current_app.extensions["registry"].sealed()
    started = await services.replication.deliver_hook(delivery, sealer)
    execution_id = int(started.execution.id)
    if not started.new:
        return json_response({"execution_id": execution_id}, 200)
    wake_jobs(True)
    response = json_response({"execution_id": execution_id}, 201)
    response.headers["Location"] = f"{EXECUTIONS}/{execution_id}"
    return response
