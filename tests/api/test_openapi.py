"""GET /api/v2.0/openapi.json: a valid OpenAPI 3.1 document naming every /api/v2.0 route, and
the request bodies it describes are checked by it (a 400 naming the field)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from tests.factories import AppApi, app_as, app_project, app_user, created, id_from_location
from tests.support import InProcessBerth, berth_app

API = "/api/v2.0"


@pytest.fixture
async def berth(tmp_path: Path) -> AsyncIterator[InProcessBerth]:
    async with berth_app(tmp_path) as app:
        yield app


async def document(berth: InProcessBerth) -> dict[str, Any]:
    answer = await app_as(berth, None).get("/openapi.json")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    found: dict[str, Any] = answer.json()
    return found


def routed(berth: InProcessBerth) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every /api/v2.0 route of the app (HEAD and OPTIONS aside)."""
    pairs = set()
    for rule in berth.app.url_map.iter_rules():
        if rule.rule.startswith(API + "/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule[len(API) :])
            pairs.update((m, path) for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
    return pairs


async def test_the_document_is_valid_openapi_3(berth: InProcessBerth) -> None:
    doc = await document(berth)
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": API}]


async def test_every_api_route_is_in_the_document(berth: InProcessBerth) -> None:
    doc = await document(berth)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    missing = sorted(routed(berth) - documented)
    assert not missing, f"routes without @operation (web/api/openapi.py): {missing}"


async def test_operation_ids_are_unique_and_every_operation_documents_harbors_errors(
    berth: InProcessBerth,
) -> None:
    doc = await document(berth)
    ops = [op for item in doc["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in ops]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for op in ops:
        for status in ("400", "401", "403", "404", "409", "412", "413", "415", "503"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Errors"}, op["operationId"]


async def test_response_models_are_closed(berth: InProcessBerth) -> None:
    """Every object a response names says additionalProperties: false, so a fuzzer checking
    answers against the document sees any field the code adds without documenting it."""
    doc = await document(berth)
    response_refs = set()
    for item in doc["paths"].values():
        for op in item.values():
            for answer in op["responses"].values():
                for content in answer.get("content", {}).values():
                    response_refs.update(re.findall(r"#/components/schemas/(\w+)", str(content)))
    assert {"Project", "UserResp", "Errors", "Artifact"} <= response_refs
    schemas = doc["components"]["schemas"]
    for name in response_refs:
        assert schemas[name].get("additionalProperties") is False, name


async def test_path_parameters_come_from_the_route(berth: InProcessBerth) -> None:
    doc = await document(berth)
    member = doc["paths"]["/projects/{ref}/members/{mid}"]["get"]
    params = {p["name"]: p for p in member["parameters"] if p["in"] == "path"}
    assert params["mid"]["schema"]["type"] == "integer"
    assert params["ref"]["schema"]["type"] == "string"
    assert member["operationId"] == "getProjectMember"
    assert member["tags"] == ["member"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {"project_name": "x", "storage_limit": "ten"},
            "storage_limit: Input should be a valid integer",
            id="string-for-integer",
        ),
        pytest.param(
            {"project_name": 5}, "project_name: Input should be a valid string", id="int-for-string"
        ),
        pytest.param(
            {"project_name": "x", "metadata": {"public": ["true"]}},
            "metadata.public",
            id="nested-field",
        ),
    ],
)
async def test_a_body_against_its_model_is_400_naming_the_field(
    berth: InProcessBerth, body: dict[str, Any], message: str
) -> None:
    nobody = await app_as(berth, None).post("/projects", json=body)
    assert nobody.status_code == 401  # the rights first: nobody learns what a body lacks
    answer = await AppApi(berth).post("/projects", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["code"] == "BAD_REQUEST"
    assert error["message"].startswith(message), error


async def test_a_valid_body_still_reaches_the_service(berth: InProcessBerth) -> None:
    _, name = await app_user(berth)
    _, project = await app_project(berth)
    body = {"role_id": 3, "member_user": {"username": name}, "unknown_field": [1]}
    answer = await AppApi(berth).post(f"/projects/{project}/members", json=body)
    assert answer.status_code == 201, answer.text
    members = await AppApi(berth).get(f"/projects/{project}/members", params={"entityname": name})
    assert [m["role_id"] for m in members.json()] == [3]


def conforms(doc: dict[str, Any], method: str, path: str, answer: Any) -> None:
    """answer's JSON body matches the document's schema for its status at method path."""
    responses = doc["paths"][path][method]["responses"]
    schema = responses[str(answer.status_code)]["content"]["application/json"]["schema"]
    jsonschema.validate(answer.json(), {**schema, "components": doc["components"]})


async def test_the_documented_shapes_are_what_the_resources_answer(
    in_process: InProcessBerth,
) -> None:
    """The answers the fuzzer's seed data cannot reach (a registry, a replication policy and
    its local side, a GC run and schedule, the audit log) against their schemas."""
    doc = await document(in_process)
    admin = AppApi(in_process)
    _, project = await app_project(in_process)
    registry = {"name": "dc2", "url": "https://registry.dc2.example.com", "type": "harbor"}
    registry["credential"] = {"type": "basic", "access_key": "r", "access_secret": "s"}
    registry_id = id_from_location(
        (await admin.post("/registries", json=registry)).headers["Location"]
    )
    policy = {"name": "to-dc2", "dest_registry": {"id": registry_id}}
    policy_id = await created(await admin.post("/replication/policies", json=policy))
    run = await admin.post("/system/gc/schedule", json={"schedule": {"type": "Manual"}})
    assert run.status_code == 201, run.text
    checks = [
        ("/registries", await admin.get("/registries")),
        ("/registries/{registry_id}", await admin.get(f"/registries/{registry_id}")),
        ("/registries/{registry_id}/info", await admin.get(f"/registries/{registry_id}/info")),
        ("/replication/adapterinfos", await admin.get("/replication/adapterinfos")),
        ("/replication/policies", await admin.get("/replication/policies")),
        (
            "/replication/policies/{policy_id}",
            await admin.get(f"/replication/policies/{policy_id}"),
        ),
        ("/system/gc", await admin.get("/system/gc")),
        ("/system/gc/schedule", await admin.get("/system/gc/schedule")),
        ("/auditlog-exts", await admin.get("/auditlog-exts")),
        ("/auditlog-exts", await admin.get("/auditlog-exts", params={"text": project})),
        ("/auditlog-exts/events", await admin.get("/auditlog-exts/events")),
        ("/configurations", await admin.get("/configurations")),
        ("/health", await admin.get("/health")),
        ("/users/current/permissions", await admin.get("/users/current/permissions")),
        ("/projects/{ref}/keys", await admin.get(f"/projects/{project}/keys")),
    ]
    for path, answer in checks:
        assert answer.status_code == 200, (path, answer.text)
        conforms(doc, "get", path, answer)
    assert (await admin.get("/system/gc")).json(), "a GC run to check"
