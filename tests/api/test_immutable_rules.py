"""Tag immutability rules on a real server: CRUD, roles, bad input, and what an enabled rule
refuses on /v2 and the REST API alike (moving, deleting a tag; deleting its artifact)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.factories import (
    DEVELOPER,
    GUEST,
    MAINTAINER,
    OCI_MANIFEST,
    add_member,
    admin_client,
    artifact_url,
    client_as,
    config_blob,
    error_of,
    id_from_location,
    image_manifest,
    message,
    new_project,
    new_user,
    registry_client,
    repository_url,
    sha256,
)
from tests.support import RunningBerth


def rule_body(
    tags: str = "v*", repos: str = "**", tag_decoration: str = "matches", **extra: Any
) -> dict[str, Any]:
    return {
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": tag_decoration, "pattern": tags}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": repos}]
        },
        **extra,
    }


def push(server: RunningBerth, repo: str, tag: str, content: str) -> httpx.Response:
    """Push a config-only image whose config says content; the manifest PUT's answer."""
    config = config_blob(content)
    with registry_client(server) as client:
        blob = client.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(config)}", content=config)
        assert blob.status_code == 201, blob.text
        return client.put(
            f"/v2/{repo}/manifests/{tag}",
            content=image_manifest(config),
            headers={"Content-Type": OCI_MANIFEST},
        )


def served_digest(server: RunningBerth, repo: str, tag: str) -> str:
    with registry_client(server) as client:
        got = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    assert got.status_code == 200, got.text
    return got.headers["Docker-Content-Digest"]


def make_rule(server: RunningBerth, project: str, body: dict[str, Any]) -> int:
    with admin_client(server) as admin:
        created = admin.post(f"/projects/{project}/immutabletagrules", json=body)
    assert created.status_code == 201, created.text
    return id_from_location(created.headers["Location"])


def test_a_rule_is_created_listed_changed_switched_and_deleted(berth_server: RunningBerth) -> None:
    # Given a project
    project_id, project = new_project(berth_server, prefix="immu")
    with admin_client(berth_server) as admin:
        # When the admin creates a rule, then lists the project's rules by id
        created = admin.post(f"/projects/{project}/immutabletagrules", json=rule_body("v*"))
        rules = admin.get(f"/projects/{project_id}/immutabletagrules")
        # Then it reads back as Harbor's ImmutableRule, enabled
        assert created.status_code == 201, created.text
        rule_id = id_from_location(created.headers["Location"])
        assert rules.headers["X-Total-Count"] == "1"
        assert rules.json() == [
            {
                "id": rule_id,
                "priority": 0,
                "disabled": False,
                "action": "immutable",
                "template": "immutable_template",
                "params": {},
                "tag_selectors": rule_body()["tag_selectors"],
                "scope_selectors": rule_body()["scope_selectors"],
            }
        ]
        url = f"/projects/{project}/immutabletagrules/{rule_id}"
        # When its selectors change, then it is switched off (Harbor's UI sends the whole rule)
        changed = admin.put(url, json={**rule_body("release-*", "app"), "id": rule_id})
        switched = admin.put(url, json={**rule_body("release-*", "app"), "disabled": True})
        shown = admin.get(f"/projects/{project}/immutabletagrules").json()[0]
        # Then both show
        assert changed.status_code == 200 and switched.status_code == 200, switched.text
        assert shown["disabled"] is True
        assert shown["tag_selectors"][0]["pattern"] == "release-*"
        assert shown["scope_selectors"]["repository"][0]["pattern"] == "app"
        query = {"q": "disabled=false"}
        filtered = admin.get(f"/projects/{project}/immutabletagrules", params=query)
        assert filtered.json() == []
        # When it is deleted, then it is gone, and so is a second delete
        assert admin.delete(url).status_code == 200
        assert admin.get(f"/projects/{project}/immutabletagrules").json() == []
        assert admin.delete(url).status_code == 404
        # And each change is in the project's audit log
        logs = admin.get(
            "/auditlog-exts", params={"q": "resource_type=immutable_tag_rule", "page_size": 100}
        )
    assert logs.status_code == 200, logs.text
    operations = {(e["operation"], e["resource"]) for e in logs.json() if e["resource"]}
    name = f"immutable tag rule {rule_id}"
    assert {("create", name), ("update", name), ("delete", name)} <= operations


@pytest.mark.parametrize(
    "body, field",
    [
        pytest.param(rule_body(action="retain"), "action", id="action"),
        pytest.param(rule_body(template="latestPushedK"), "template", id="template"),
        pytest.param(rule_body(tag_decoration="with"), "decoration", id="decoration"),
        pytest.param(rule_body(tags=""), "pattern", id="empty-pattern"),
        pytest.param(rule_body(tags="v[1"), "pattern", id="bad-glob"),
        pytest.param(rule_body(tags="{a,b"), "pattern", id="bad-brace"),
        pytest.param({**rule_body(), "tag_selectors": []}, "tag_selectors", id="no-tag-selector"),
        pytest.param({**rule_body(), "scope_selectors": {}}, "scope_selectors", id="no-scope"),
        pytest.param(rule_body(priority=-1), "priority", id="priority"),
        pytest.param(rule_body(disabled="yes"), "disabled", id="disabled"),
        pytest.param(
            {**rule_body(), "tag_selectors": [{"kind": "label", "decoration": "matches"}]},
            "kind",
            id="kind",
        ),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(
    berth_server: RunningBerth, body: dict[str, Any], field: str
) -> None:
    _, project = new_project(berth_server, prefix="immubad")
    with admin_client(berth_server) as admin:
        refused = admin.post(f"/projects/{project}/immutabletagrules", json=body)
        listed = admin.get(f"/projects/{project}/immutabletagrules")
    assert refused.status_code == 400, refused.text
    assert field in message(refused)
    assert listed.json() == []


def test_a_project_holds_at_most_fifteen_rules(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, prefix="immumax")
    for n in range(15):
        make_rule(berth_server, project, rule_body(f"t{n}-*"))
    with admin_client(berth_server) as admin:
        refused = admin.post(f"/projects/{project}/immutabletagrules", json=rule_body("x"))
        page = admin.get(f"/projects/{project}/immutabletagrules", params={"page_size": 100})
    assert refused.status_code == 400 and "15" in message(refused)
    assert page.headers["X-Total-Count"] == "15"


def test_maintainers_manage_rules_developers_and_guests_may_not(
    berth_server: RunningBerth,
) -> None:
    # Given a project with a maintainer, a developer and a guest, and one rule
    _, project = new_project(berth_server, prefix="immurole")
    names = {}
    for role in (MAINTAINER, DEVELOPER, GUEST):
        _, names[role] = new_user(berth_server)
        add_member(berth_server, project, names[role], role)
    rule_id = make_rule(berth_server, project, rule_body())
    url = f"/projects/{project}/immutabletagrules"
    # When each tries to list and to create
    for role, allowed in ((MAINTAINER, True), (DEVELOPER, False), (GUEST, False)):
        with client_as(berth_server, names[role]) as user:
            listed = user.get(url)
            created = user.post(url, json=rule_body("x-*"))
            deleted = user.delete(f"{url}/{rule_id}")
        # Then only the maintainer may (Harbor's rbac: immutable-tag for admin, maintainer)
        assert listed.status_code == (200 if allowed else 403), listed.text
        assert created.status_code == (201 if allowed else 403), created.text
        if not allowed:
            assert deleted.status_code == 403
    with client_as(berth_server, None) as anonymous:
        assert anonymous.get(url).status_code in (401, 404)
    with admin_client(berth_server) as admin:
        assert admin.get(f"/projects/no-such-{project}/immutabletagrules").status_code == 404
        assert admin.put(f"{url}/2147483647", json=rule_body()).status_code == 404
        mismatch = admin.put(f"{url}/{rule_id}", json={**rule_body(), "id": rule_id + 1000})
        assert mismatch.status_code in (400, 404)


def test_an_immutable_tag_cannot_be_moved_or_deleted_but_is_pushed_first(
    berth_server: RunningBerth,
) -> None:
    # Given a rule protecting v* in repositories app*, and a pushed app:v1
    _, project = new_project(berth_server, prefix="immuenf")
    repo, other = f"{project}/app", f"{project}/web"
    make_rule(berth_server, project, rule_body("v*", "app*"))
    first = push(berth_server, repo, "v1", "one")
    assert first.status_code == 201, first.text
    digest = first.headers["Docker-Content-Digest"]
    # When different content is pushed as v1, and the same again
    moved = push(berth_server, repo, "v1", "two")
    again = push(berth_server, repo, "v1", "one")
    # Then the move is refused with Harbor's message, the same content is accepted
    assert moved.status_code == 412, moved.text
    assert error_of(moved) == "PRECONDITION"
    assert "immutable" in message(moved) and f"{repo}:v1" in message(moved)
    assert again.status_code == 201, again.text
    assert served_digest(berth_server, repo, "v1") == digest
    # And a tag outside the rule moves, and so does v1 of a repository outside it
    assert push(berth_server, repo, "latest", "one").status_code == 201
    assert push(berth_server, repo, "latest", "two").status_code == 201
    assert push(berth_server, other, "v1", "one").status_code == 201
    assert push(berth_server, other, "v1", "two").status_code == 201
    with registry_client(berth_server) as client:
        # When v1 is deleted by tag, and its artifact by digest, on /v2
        by_tag = client.delete(f"/v2/{repo}/manifests/v1")
        by_digest = client.delete(f"/v2/{repo}/manifests/{digest}")
        # And through the REST API: the tag, the artifact, the repository
        tag_api = client.delete(f"{artifact_url(repo, 'v1')}/tags/v1")
        artifact_api = client.delete(artifact_url(repo, digest))
        repository_api = client.delete(repository_url(repo))
        listed = client.get(f"{repository_url(repo)}/artifacts/{digest}").json()
    # Then every one is refused (412), and v1 shows as immutable
    for refused in (by_tag, by_digest, tag_api, artifact_api, repository_api):
        assert refused.status_code == 412, refused.text
        assert "immutable" in message(refused)
    assert served_digest(berth_server, repo, "v1") == digest
    assert {t["name"]: t["immutable"] for t in listed["tags"]} == {"v1": True}


def test_a_disabled_or_deleted_rule_protects_nothing(berth_server: RunningBerth) -> None:
    # Given a protected v1, then its rule switched off
    _, project = new_project(berth_server, prefix="immuoff")
    repo = f"{project}/app"
    rule_id = make_rule(berth_server, project, rule_body("v1"))
    assert push(berth_server, repo, "v1", "one").status_code == 201
    assert push(berth_server, repo, "v1", "two").status_code == 412
    url = f"/projects/{project}/immutabletagrules/{rule_id}"
    with admin_client(berth_server) as admin:
        assert admin.put(url, json={"disabled": True}).status_code == 200
    # When v1 is moved, then deleted
    moved = push(berth_server, repo, "v1", "two")
    with registry_client(berth_server) as client:
        deleted = client.delete(f"/v2/{repo}/manifests/v1")
    # Then both go through
    assert moved.status_code == 201, moved.text
    assert deleted.status_code == 202, deleted.text


def test_excludes_protects_every_other_tag(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server, prefix="immuexc")
    repo = f"{project}/app"
    make_rule(berth_server, project, rule_body("{latest,dev-*}", tag_decoration="excludes"))
    for tag in ("latest", "dev-1", "1.0"):
        assert push(berth_server, repo, tag, "one").status_code == 201
    assert push(berth_server, repo, "latest", "two").status_code == 201
    assert push(berth_server, repo, "dev-1", "two").status_code == 201
    assert push(berth_server, repo, "1.0", "two").status_code == 412
    with registry_client(berth_server) as client:
        tags = client.get(f"{repository_url(repo)}/artifacts", params={"with_tag": "true"})
    shown = {t["name"]: t["immutable"] for a in tags.json() for t in a["tags"] or []}
    assert shown == {"latest": False, "dev-1": False, "1.0": True}


def test_two_first_pushes_of_a_protected_tag_at_once_leave_one_winner(
    berth_server: RunningBerth,
) -> None:
    # Given a rule protecting v*, and two different images uploaded (blobs only)
    _, project = new_project(berth_server, prefix="immurace")
    repo = f"{project}/app"
    make_rule(berth_server, project, rule_body("v*"))
    bodies = []
    with registry_client(berth_server) as client:
        for content in ("one", "two"):
            config = config_blob(content)
            sent = client.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(config)}", content=config)
            assert sent.status_code == 201, sent.text
            bodies.append(image_manifest(config))
    for round_ in range(3):
        tag = f"v{round_}"

        def put(body: bytes, tag: str = tag) -> httpx.Response:
            with registry_client(berth_server) as client:
                return client.put(
                    f"/v2/{repo}/manifests/{tag}",
                    content=body,
                    headers={"Content-Type": OCI_MANIFEST},
                )

        # When both are pushed as the same new tag at once
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(put, bodies))
        # Then one is stored, the other refused, and the tag names the winner
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201, 412], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 201)
        assert served_digest(berth_server, repo, tag) == winner.headers["Docker-Content-Digest"]
