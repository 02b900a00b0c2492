"""Labels on a real server: global and project labels (CRUD, scopes, roles, names unique in
their scope), and labels on artifacts (add, remove, with_label, gone with the label)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import (
    API,
    DEVELOPER,
    GUEST,
    MAINTAINER,
    add_member,
    admin_client,
    artifact_url,
    client_as,
    id_from_location,
    message,
    new_project,
    new_user,
    push_image,
    unique,
)
from tests.support import RunningBerth


def label_body(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": "", "color": "#0065AB", **extra}


def make_label(server: RunningBerth, body: dict[str, Any]) -> int:
    with admin_client(server) as admin:
        created = admin.post("/labels", json=body)
    assert created.status_code == 201, created.text
    return id_from_location(created.headers["Location"])


def test_a_global_label_is_created_read_changed_listed_and_deleted(
    berth_server: RunningBerth,
) -> None:
    name = unique("release")
    with admin_client(berth_server) as admin:
        # When the admin creates a global label
        created = admin.post("/labels", json=label_body(name, scope="g", description="ok"))
        location = f"/labels/{id_from_location(created.headers['Location'])}"
        read = admin.get(location)
        # Then it reads back as Harbor's Label, of no project
        assert created.status_code == 201, created.text
        label = read.json()
        assert (label["name"], label["scope"], label["project_id"]) == (name, "g", 0)
        assert (label["description"], label["color"]) == ("ok", "#0065AB")
        assert label["creation_time"] and label["update_time"]
        # When it is renamed and recolored, then listed by name
        changed = admin.put(location, json={"name": f"{name}-x", "color": "#FFFFFF"})
        listed = admin.get("/labels", params={"scope": "g", "name": f"{name}-x"})
        assert changed.status_code == 200, changed.text
        assert [(x["name"], x["color"], x["description"]) for x in listed.json()] == [
            (f"{name}-x", "#FFFFFF", "ok")
        ]
        # When a second global label takes the name, then it is refused
        assert admin.post("/labels", json=label_body(f"{name}-x")).status_code == 409
        # When it is deleted, then it is gone
        assert admin.delete(location).status_code == 200
        assert admin.get(location).status_code == 404
        logs = admin.get("/auditlog-exts", params={"q": "resource_type=label", "page_size": 100})
    done = {(e["operation"], e["resource"]) for e in logs.json()}
    assert {("create", name), ("update", name), ("delete", f"{name}-x")} <= done


def test_project_labels_belong_to_their_project(berth_server: RunningBerth) -> None:
    # Given two projects, each with a label of the same name, and a global one
    one_id, _ = new_project(berth_server, prefix="lbl")
    two_id, _ = new_project(berth_server, prefix="lbl")
    name = unique("qa")
    make_label(berth_server, label_body(name, scope="p", project_id=one_id))
    make_label(berth_server, label_body(name, scope="p", project_id=two_id))
    with admin_client(berth_server) as admin:
        # When the name is taken again in the first project, and one's labels are listed
        again = admin.post("/labels", json=label_body(name, scope="p", project_id=one_id))
        listed = admin.get("/labels", params={"scope": "p", "project_id": one_id})
        # Then the first is refused, the list shows the project's label only
        assert again.status_code == 409
        assert [(x["name"], x["project_id"]) for x in listed.json()] == [(name, one_id)]
        # And bad scopes and projects are refused naming the field
        for params, field in (
            ({"scope": "x"}, "scope"),
            ({"scope": "p"}, "project_id"),
            ({"scope": "p", "project_id": "abc"}, "project_id"),
        ):
            refused = admin.get("/labels", params=params)
            assert refused.status_code == 400 and field in message(refused), refused.text
        missing = admin.post("/labels", json=label_body("x", scope="p", project_id=2**31 - 1))
        assert missing.status_code == 404
        assert admin.post("/labels", json=label_body("x", scope="p")).status_code == 400
        moved = admin.put(
            f"/labels/{make_label(berth_server, label_body(unique('m')))}",
            json={"scope": "p", "project_id": one_id},
        )
        assert moved.status_code == 400


@pytest.mark.parametrize(
    "body, field",
    [
        pytest.param({"color": "#fff"}, "name", id="no-name"),
        pytest.param(label_body(""), "name", id="empty-name"),
        pytest.param(label_body("x" * 129), "name", id="long-name"),
        pytest.param(label_body("x", color="#" * 33), "color", id="long-color"),
        pytest.param(label_body("x", description=7), "description", id="description"),
        pytest.param(label_body("x", scope="z"), "scope", id="scope"),
    ],
)
def test_a_bad_label_is_refused_naming_the_field(
    berth_server: RunningBerth, body: dict[str, Any], field: str
) -> None:
    with admin_client(berth_server) as admin:
        refused = admin.post("/labels", json=body)
    assert refused.status_code == 400 and field in message(refused), refused.text


def test_who_may_manage_labels(berth_server: RunningBerth) -> None:
    # Given a project with a maintainer, a developer and a guest
    project_id, project = new_project(berth_server, prefix="lblrole")
    users = {}
    for role in (MAINTAINER, DEVELOPER, GUEST):
        _, users[role] = new_user(berth_server)
        add_member(berth_server, project, users[role], role)
    for role, manages in ((MAINTAINER, True), (DEVELOPER, False), (GUEST, False)):
        with client_as(berth_server, users[role]) as user:
            # When each creates a project label and a global one, then lists
            mine = user.post(
                "/labels", json=label_body(unique("l"), scope="p", project_id=project_id)
            )
            global_ = user.post("/labels", json=label_body(unique("g"), scope="g"))
            listed = user.get("/labels", params={"scope": "p", "project_id": project_id})
            # Then only maintainers make project labels, nobody but admins global ones
            assert mine.status_code == (201 if manages else 403), mine.text
            assert global_.status_code == 403
            assert listed.status_code == 200
    _, outsider = new_user(berth_server)
    with client_as(berth_server, outsider) as user:
        hidden = user.get("/labels", params={"scope": "p", "project_id": project_id})
        assert hidden.status_code in (403, 404)
        assert user.get("/labels", params={"scope": "g"}).status_code == 200


def test_labels_on_an_artifact(berth_server: RunningBerth) -> None:
    # Given an artifact, a label of its project, one of another project, and a global one
    project_id, project = new_project(berth_server, prefix="lblart")
    other_id, _ = new_project(berth_server, prefix="lblart")
    repo = f"{project}/app"
    digest = push_image(berth_server, repo, "v1")
    mine = make_label(berth_server, label_body(unique("mine"), scope="p", project_id=project_id))
    theirs = make_label(berth_server, label_body(unique("theirs"), scope="p", project_id=other_id))
    everywhere = make_label(berth_server, label_body(unique("all"), scope="g"))
    url = artifact_url(repo, digest).removeprefix(API)
    _, developer = new_user(berth_server)
    add_member(berth_server, project, developer, DEVELOPER)
    with client_as(berth_server, developer) as user:
        # When a developer adds the project's label and the global one, then again
        added = [user.post(f"{url}/labels", json={"id": i}) for i in (mine, everywhere)]
        twice = user.post(f"{url}/labels", json={"id": mine})
        foreign = user.post(f"{url}/labels", json={"id": theirs})
        unknown = user.post(f"{url}/labels", json={"id": 2**31 - 1})
        shown = user.get(url, params={"with_label": "true"}).json()
        plain = user.get(url).json()
        listed = user.get(url.rsplit("/", 1)[0], params={"with_label": "true"}).json()
    # Then both are on it, the second time is a conflict, another project's is refused
    assert [a.status_code for a in added] == [200, 200], [a.text for a in added]
    assert twice.status_code == 409 and foreign.status_code == 400 and unknown.status_code == 404
    assert sorted(x["id"] for x in shown["labels"]) == sorted([mine, everywhere])
    assert "labels" not in plain
    assert [sorted(x["id"] for x in a["labels"]) for a in listed] == [sorted([mine, everywhere])]
    with admin_client(berth_server) as admin:
        # When one is removed from it, and the other deleted as a label
        removed = admin.delete(f"{url}/labels/{mine}")
        again = admin.delete(f"{url}/labels/{mine}")
        assert admin.delete(f"/labels/{everywhere}").status_code == 200
        after = admin.get(url, params={"with_label": "true"}).json()
    # Then the artifact carries none
    assert removed.status_code == 200 and again.status_code == 404
    assert after["labels"] == []
    with client_as(berth_server, None) as anonymous:
        refused = anonymous.post(f"{url}/labels", json={"id": mine})
    assert refused.status_code in (401, 404)


def test_a_deleted_project_takes_its_labels_and_immutable_rules(
    berth_server: RunningBerth,
) -> None:
    # Given an empty project with a label and an immutability rule
    project_id, project = new_project(berth_server, prefix="lblgone")
    label = make_label(berth_server, label_body(unique("x"), scope="p", project_id=project_id))
    rule = {
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }
    with admin_client(berth_server) as admin:
        assert admin.post(f"/projects/{project}/immutabletagrules", json=rule).status_code == 201
        # When the project is deleted
        deleted = admin.delete(f"/projects/{project}")
        # Then so is its label
        assert deleted.status_code == 200, deleted.text
        assert admin.get(f"/labels/{label}").status_code == 404
