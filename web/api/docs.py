"""GET /api/v2.0/openapi.json: the OpenAPI document of this API (web/api/openapi.py)."""

from __future__ import annotations

from quart import Response, current_app

from web.api import api
from web.api.common import json_response
from web.api.openapi import build_document, operation


@api.route("/openapi.json", methods=["GET"])
@operation("getOpenAPIDocument", "berth", responses={200: dict[str, object]})
async def openapi_document() -> Response:
    document = current_app.extensions.get("openapi")
    if document is None:  # the routes are fixed once the app serves: build it once
        document = current_app.extensions["openapi"] = build_document(current_app)
    return json_response(document)
