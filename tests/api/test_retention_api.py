"""Tag retention policies through Harbor's /api/v2.0/retentions, in process: the metadata,
CRUD with the project's retention_id, the schedule row of a cron, validation naming the
field, and Harbor's rights (developer and up manage; guests and strangers do not)."""

from __future__ import annotations

from typing import Any

import pytest

from models import AuditEvent, Schedule
from tests.factories import (
    API,
    AppApi,
    app_as,
    app_member,
    app_project,
    app_user,
    created,
    message,
    retention_policy_body,
)
from tests.support import InProcessBerth
from web.api.schemas.retention import RetentionMetadata, RetentionPolicy

GUEST, DEVELOPER, MAINTAINER = 3, 2, 4


async def test_the_metadata_lists_harbors_templates_and_selectors(
    in_process: InProcessBerth,
) -> None:
    _, user = await app_user(in_process)
    answer = await app_as(in_process, user).get("/retentions/metadatas")
    assert answer.status_code == 200
    body = answer.json()
    RetentionMetadata.model_validate(body)
    templates = {t["rule_template"]: t for t in body["templates"]}
    assert list(templates) == [
        "latestPushedK",
        "latestPulledN",
        "nDaysSinceLastPush",
        "nDaysSinceLastPull",
        "always",
    ]
    assert templates["nDaysSinceLastPull"]["params"] == [
        {"type": "int", "unit": "DAYS", "required": True}
    ]
    assert templates["always"]["params"] == []
    assert body["scope_selectors"][0]["decorations"] == ["repoMatches", "repoExcludes"]
    assert body["tag_selectors"][0]["decorations"] == ["matches", "excludes"]
    assert (await app_as(in_process, None).get("/retentions/metadatas")).status_code == 401


async def test_a_policy_is_created_read_changed_and_deleted(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    project_id, project = await app_project(in_process)
    # When the admin creates the project's policy with a nightly schedule
    answer = await admin.post("/retentions", json=retention_policy_body(project_id, "0 0 2 * * *"))
    policy_id = await created(answer)
    assert answer.headers["Location"] == f"{API}/retentions/{policy_id}"
    # Then the project names it, it reads back as sent, and its schedule is there
    meta = (await admin.get(f"/projects/{project}")).json()["metadata"]
    assert meta["retention_id"] == str(policy_id)
    # A client that sends the project's metadata back as it read it changes nothing of it
    put = await admin.put(f"/projects/{project}", json={"metadata": {**meta, "retention_id": "7"}})
    assert put.status_code == 200, put.text
    meta = (await admin.get(f"/projects/{project}")).json()["metadata"]
    assert meta["retention_id"] == str(policy_id)
    read = (await admin.get(f"/retentions/{policy_id}")).json()
    RetentionPolicy.model_validate(read)  # the document's model of it, exactly
    sent = retention_policy_body(project_id, "0 0 2 * * *")
    assert read["id"] == policy_id
    assert read["algorithm"] == "or"
    assert read["scope"] == {"level": "project", "ref": project_id}
    assert read["trigger"]["settings"]["cron"] == "0 0 2 * * *"
    assert read["rules"][0]["params"] == {"latestPushedK": 3}
    assert read["rules"][0]["tag_selectors"] == sent["rules"][0]["tag_selectors"]
    assert read["rules"][0]["scope_selectors"]["repository"][0]["pattern"] == "**"
    schedule = await Schedule.get(name=f"retention-{policy_id}")
    assert (schedule.cron, schedule.kind) == ("0 2 * * * 0", "retention-schedule")
    # A second policy for the project is refused
    again = await admin.post("/retentions", json=retention_policy_body(project_id))
    assert again.status_code == 400
    assert f"already has retention policy {policy_id}" in message(again)
    # When it is changed to keep pulls and no schedule
    changed = retention_policy_body(
        project_id, template="nDaysSinceLastPull", params={"nDaysSinceLastPull": 7}
    )
    assert (await admin.put(f"/retentions/{policy_id}", json=changed)).status_code == 200
    read = (await admin.get(f"/retentions/{policy_id}")).json()
    assert read["rules"][0]["template"] == "nDaysSinceLastPull"
    assert read["rules"][0]["params"] == {"nDaysSinceLastPull": 7}
    assert not await Schedule.exists(name=f"retention-{policy_id}")
    # When it is deleted, the project no longer names it
    assert (await admin.delete(f"/retentions/{policy_id}")).status_code == 200
    assert (await admin.get(f"/retentions/{policy_id}")).status_code == 404
    meta = (await admin.get(f"/projects/{project}")).json()["metadata"]
    assert "retention_id" not in meta
    # Each change has its audit row
    rows = await AuditEvent.filter(resource_type="retention_policy", project_id=project_id)
    assert [(r.operation, r.success) for r in rows] == [
        ("create", True),
        ("create", False),  # the second policy, refused
        ("update", True),
        ("delete", True),
    ]


def broken(path: str, value: Any) -> Any:
    """retention_policy_body(1), the field at path (dotted; numbers index lists) set to value."""
    body = retention_policy_body(1)
    *parents, last = path.split(".")
    target: Any = body
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = value
    return body


BAD = [
    pytest.param(broken("algorithm", "and"), "algorithm", id="algorithm"),
    pytest.param(broken("rules", {}), "rules", id="rules not a list"),
    pytest.param(broken("rules.0.template", "latestK"), "rules[0].template", id="template"),
    pytest.param(broken("rules.0.action", "delete"), "rules[0].action", id="action"),
    pytest.param(broken("rules.0.disabled", "no"), "rules[0].disabled", id="disabled"),
    pytest.param(broken("rules.0.params", {}), "rules[0].params.latestPushedK", id="param missing"),
    pytest.param(
        broken("rules.0.params", {"latestPushedK": -1}),
        "rules[0].params.latestPushedK",
        id="negative count",
    ),
    pytest.param(
        broken("rules.0.params", {"latestPushedK": 40000}),
        "rules[0].params.latestPushedK",
        id="count too large",
    ),
    pytest.param(
        broken("rules.0.params", {"latestPushedK": "3"}),
        "rules[0].params.latestPushedK",
        id="count a string",
    ),
    pytest.param(
        broken("rules.0.tag_selectors.0.decoration", "repoMatches"),
        "rules[0].tag_selectors[0].decoration",
        id="tag decoration",
    ),
    pytest.param(
        broken("rules.0.tag_selectors.0.pattern", "[a-"),
        "rules[0].tag_selectors[0].pattern",
        id="bad pattern",
    ),
    pytest.param(
        broken("rules.0.tag_selectors.0.kind", "regexp"),
        "rules[0].tag_selectors[0].kind",
        id="selector kind",
    ),
    pytest.param(
        broken("rules.0.scope_selectors.repository.0.decoration", "matches"),
        "rules[0].scope_selectors.repository[0].decoration",
        id="scope decoration",
    ),
    pytest.param(
        broken("rules.0.tag_selectors.0.extras", "[" * 600),
        "rules[0].tag_selectors[0].extras",
        id="extras not JSON",
    ),
    pytest.param(
        broken("rules.0.params", {"latestPushedK": 2.5}),
        "rules[0].params.latestPushedK",
        id="count not whole",
    ),
    pytest.param(broken("rules.0", None), "rules[0]", id="rule not an object"),
    pytest.param(broken("trigger.kind", "Event"), "trigger.kind", id="trigger kind"),
    pytest.param(
        broken("trigger.settings", {"cron": "every day"}),
        "trigger.settings.cron",
        id="cron",
    ),
    pytest.param(broken("scope.level", "system"), "scope.level", id="scope level"),
    pytest.param(broken("scope.ref", "one"), "scope.ref", id="scope ref"),
    pytest.param(broken("scope.ref", 999999), "scope.ref", id="no such project"),
    pytest.param(
        {**retention_policy_body(1), "rules": [retention_policy_body(1)["rules"][0]] * 16},
        "rules",
        id="16",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD)
async def test_bad_bodies_are_refused_naming_the_field(
    in_process: InProcessBerth, body: dict[str, Any], field: str
) -> None:
    project_id, _ = await app_project(in_process)
    if isinstance(body.get("scope"), dict) and body["scope"].get("ref") == 1:
        body["scope"]["ref"] = project_id
    answer = await AppApi(in_process).post("/retentions", json=body)
    assert answer.status_code == 400, answer.text
    assert field in message(answer)


async def test_two_rules_alike_conflict(in_process: InProcessBerth) -> None:
    project_id, _ = await app_project(in_process)
    body = retention_policy_body(project_id)
    body["rules"] = body["rules"] * 2
    answer = await AppApi(in_process).post("/retentions", json=body)
    assert answer.status_code == 409
    assert "rule 1 is conflict with rule 0" in message(answer)


async def test_developers_manage_retention_guests_and_strangers_do_not(
    in_process: InProcessBerth,
) -> None:
    project_id, project = await app_project(in_process)
    _, developer = await app_user(in_process)
    _, guest = await app_user(in_process)
    _, stranger = await app_user(in_process)
    await app_member(in_process, project, developer, DEVELOPER)
    await app_member(in_process, project, guest, GUEST)
    # A guest may not create the policy; a stranger does not see the project
    assert (
        await app_as(in_process, guest).post("/retentions", json=retention_policy_body(project_id))
    ).status_code == 403
    assert (
        await app_as(in_process, stranger).post(
            "/retentions", json=retention_policy_body(project_id)
        )
    ).status_code == 404
    assert (
        await app_as(in_process, None).post("/retentions", json=retention_policy_body(project_id))
    ).status_code == 401
    # A developer creates it, reads it, runs it and lists its runs
    dev = app_as(in_process, developer)
    policy_id = await created(await dev.post("/retentions", json=retention_policy_body(project_id)))
    assert (await dev.get(f"/retentions/{policy_id}")).status_code == 200
    run = await dev.post(f"/retentions/{policy_id}/executions", json={"dry_run": True})
    assert run.status_code == 201, run.text
    assert (await dev.get(f"/retentions/{policy_id}/executions")).status_code == 200
    # Guests and strangers may neither read nor change it
    for name, status in ((guest, 403), (stranger, 404), (None, 401)):
        caller = app_as(in_process, name)
        assert (await caller.get(f"/retentions/{policy_id}")).status_code == status
        assert (await caller.get(f"/retentions/{policy_id}/executions")).status_code == status
        put = await caller.put(f"/retentions/{policy_id}", json=retention_policy_body(project_id))
        assert put.status_code == status
        post = await caller.post(f"/retentions/{policy_id}/executions", json={"dry_run": True})
        assert post.status_code == status
        assert (await caller.delete(f"/retentions/{policy_id}")).status_code == status
    refused = await AuditEvent.filter(resource_type="retention_policy", success=False).count()
    assert refused >= 3


async def test_unknown_ids_are_404(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    project_id, _ = await app_project(in_process)
    policy_id = await created(
        await admin.post("/retentions", json=retention_policy_body(project_id))
    )
    for path in (
        "/retentions/99999",
        "/retentions/99999/executions",
        f"/retentions/{policy_id}/executions/99999/tasks",
        f"/retentions/{policy_id}/executions/99999/tasks/1",
    ):
        assert (await admin.get(path)).status_code == 404, path
    stop = await admin.request(
        "PATCH", f"/retentions/{policy_id}/executions/99999", json={"action": "stop"}
    )
    assert stop.status_code == 404
    bad = await admin.request(
        "PATCH", f"/retentions/{policy_id}/executions/1", json={"action": "pause"}
    )
    assert bad.status_code == 400
    assert "action" in message(bad)
    dry = await admin.post(f"/retentions/{policy_id}/executions", json={"dry_run": "yes"})
    assert dry.status_code == 400
    assert "dry_run" in message(dry)


async def test_deleting_the_project_deletes_its_policy(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    project_id, project = await app_project(in_process)
    body = retention_policy_body(project_id, "0 0 2 * * *")
    policy_id = await created(await admin.post("/retentions", json=body))
    assert (await admin.delete(f"/projects/{project}")).status_code == 200
    assert (await admin.get(f"/retentions/{policy_id}")).status_code == 404
    assert not await Schedule.exists(name=f"retention-{policy_id}")
