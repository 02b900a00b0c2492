"""The projects API on a real server: create, list, read, visibility, update, delete."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.factories import (
    API,
    add_member,
    admin_client,
    client_as,
    error_of,
    new_project,
    new_user,
    push_image,
)
from tests.support import RunningBerth


def names_in(response: httpx.Response) -> set[str]:
    return {p["name"] for p in response.json()}


# --- create ------------------------------------------------------------------------------


def test_a_user_creates_a_project_and_becomes_its_admin(berth_server: RunningBerth) -> None:
    # Given a signed-in user
    user_id, user = new_user(berth_server)
    name = f"mine-{uuid.uuid4().hex[:8]}"
    with client_as(berth_server, user) as client:
        # When they create a project
        created = client.post("/projects", json={"project_name": name})
        project = client.get(created.headers["Location"].removeprefix(API))
        members = client.get(f"/projects/{name}/members")
    # Then it is theirs, private by default, and they are its Project Admin
    assert created.status_code == 201
    body = project.json()
    assert body["name"] == name and body["owner_id"] == user_id and body["owner_name"] == user
    assert body["metadata"] == {"public": "false"} and body["repo_count"] == 0
    assert body["current_user_role_id"] == 1 and body["current_user_role_ids"] == [1]
    assert {"project_id", "creation_time", "update_time"} <= set(body)
    assert [(m["entity_name"], m["role_name"]) for m in members.json()] == [(user, "projectAdmin")]


def test_anonymous_cannot_create_a_project(berth_server: RunningBerth) -> None:
    # When nobody signs in and creates a project
    with client_as(berth_server, None) as client:
        response = client.post("/projects", json={"project_name": "nobodys"})
    # Then
    assert response.status_code == 401


def test_a_taken_name_is_a_conflict(berth_server: RunningBerth) -> None:
    # Given a project
    _, name = new_project(berth_server, public=False)
    # When another one gets the same name
    with admin_client(berth_server) as admin:
        response = admin.post("/projects", json={"project_name": name})
    # Then
    assert response.status_code == 409 and error_of(response) == "CONFLICT"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"project_name": "Upper"}, id="upper-case"),
        pytest.param({"project_name": ""}, id="empty"),
        pytest.param({"project_name": "a/b"}, id="slash"),
        pytest.param({"project_name": "-dash"}, id="leading-dash"),
        pytest.param({"project_name": "x" * 256}, id="too-long"),
        pytest.param({"project_name": 7}, id="not-a-string"),
        pytest.param({}, id="missing"),
        pytest.param({"project_name": "okname", "metadata": {"public": "yes"}}, id="bad-public"),
        pytest.param({"project_name": "okname", "metadata": []}, id="bad-metadata"),
    ],
)
def test_bad_project_requests_are_refused(berth_server: RunningBerth, body: Any) -> None:
    # When the admin sends a bad ProjectReq
    with admin_client(berth_server) as admin:
        response = admin.post("/projects", json=body)
    # Then a 400 in Harbor's envelope
    assert response.status_code == 400 and error_of(response) == "BAD_REQUEST"


def test_a_255_character_name_is_fine(berth_server: RunningBerth) -> None:
    name = uuid.uuid4().hex[:8] + "x" * 247
    with admin_client(berth_server) as admin:
        assert admin.post("/projects", json={"project_name": name}).status_code == 201


def test_head_tells_whether_a_name_is_taken(berth_server: RunningBerth) -> None:
    # Given a private project
    _, name = new_project(berth_server, public=False)
    _, user = new_user(berth_server)
    with client_as(berth_server, user) as client:
        # When a signed-in user asks about it and about a free name
        taken = client.head("/projects", params={"project_name": name})
        free = client.head("/projects", params={"project_name": name + "-free"})
    # Then
    assert (taken.status_code, free.status_code) == (200, 404)


# --- list and read -----------------------------------------------------------------------


def test_who_sees_which_projects(berth_server: RunningBerth) -> None:
    # Given a public and a private project, and a user who owns another private one
    _, public = new_project(berth_server, public=True, prefix="vis")
    _, private = new_project(berth_server, public=False, prefix="vis")
    _, user = new_user(berth_server)
    own = f"vis-own-{uuid.uuid4().hex[:8]}"
    with client_as(berth_server, user) as client:
        assert client.post("/projects", json={"project_name": own}).status_code == 201
        # When each kind of caller lists projects whose names start with "vis"
        mine = names_in(client.get("/projects", params={"name": "vis", "page_size": 100}))
    with client_as(berth_server, None) as anonymous:
        theirs = names_in(anonymous.get("/projects", params={"name": "vis", "page_size": 100}))
    with admin_client(berth_server) as admin:
        everything = names_in(admin.get("/projects", params={"name": "vis", "page_size": 100}))
    # Then anonymous sees public ones, a user public plus their own, the admin all
    assert public in theirs and private not in theirs and own not in theirs
    assert public in mine and own in mine and private not in mine
    assert {public, private, own} <= everything


def test_a_private_project_is_missing_for_outsiders(berth_server: RunningBerth) -> None:
    # Given a private project with one member
    project_id, name = new_project(berth_server, public=False)
    _, member = new_user(berth_server)
    _, outsider = new_user(berth_server)
    add_member(berth_server, name, member, 3)
    # When each reads it by name and by id
    with client_as(berth_server, outsider) as client:
        hidden = [client.get(f"/projects/{name}"), client.get(f"/projects/{project_id}")]
    with client_as(berth_server, member) as client:
        shown = client.get(f"/projects/{project_id}")
    # Then the outsider gets 404 as if it did not exist; the member sees it with their role
    assert [r.status_code for r in hidden] == [404, 404]
    assert shown.status_code == 200 and shown.json()["current_user_role_id"] == 3


def test_a_numeric_name_is_read_with_x_is_resource_name(berth_server: RunningBerth) -> None:
    # Given a project named by digits
    name = str(uuid.uuid4().int)[:9]
    with admin_client(berth_server) as admin:
        assert admin.post("/projects", json={"project_name": name}).status_code == 201
        # When it is read by name with the header, and without it (an id)
        by_name = admin.get(f"/projects/{name}", headers={"X-Is-Resource-Name": "true"})
        by_id = admin.get(f"/projects/{name}")
    # Then
    assert by_name.status_code == 200 and by_name.json()["name"] == name
    assert by_id.status_code == 404


def test_paging_filters_and_sorting(berth_server: RunningBerth) -> None:
    # Given three public projects with a common prefix and one private
    prefix = f"pg{uuid.uuid4().hex[:6]}"
    names = sorted(new_project(berth_server, public=True, prefix=prefix)[1] for _ in range(3))
    _, private = new_project(berth_server, public=False, prefix=prefix)
    with admin_client(berth_server) as admin:
        # When the admin pages through them, newest name first, and filters
        page1 = admin.get("/projects", params={"name": prefix, "page_size": 2, "sort": "-name"})
        page2 = admin.get(
            "/projects", params={"name": prefix, "page_size": 2, "page": 2, "sort": "-name"}
        )
        publics = admin.get("/projects", params={"q": f"name=~{prefix},public=true"})
        privates = admin.get("/projects", params={"name": prefix, "public": "false"})
        by_owner = admin.get("/projects", params={"name": prefix, "owner": "admin"})
    # Then
    ordered = sorted([*names, private], reverse=True)
    assert [p["name"] for p in page1.json()] == ordered[:2]
    assert [p["name"] for p in page2.json()] == ordered[2:]
    assert page1.headers["X-Total-Count"] == "4" and 'rel="next"' in page1.headers["Link"]
    assert 'rel="prev"' in page2.headers["Link"]
    assert names_in(publics) == set(names) and names_in(privates) == {private}
    assert names_in(by_owner) == {*names, private}


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"q": "colour=red"}, id="unknown-q-key"),
        pytest.param({"q": "public=maybe"}, id="bad-bool"),
        pytest.param({"q": "name=[a~"}, id="unclosed-range"),
        pytest.param({"q": "project_id=~1"}, id="contains-on-number"),
        pytest.param({"sort": "password"}, id="unknown-sort-key"),
        pytest.param({"public": "perhaps"}, id="bad-public"),
        pytest.param({"page_size": "0"}, id="bad-page-size"),
    ],
)
def test_bad_list_queries_are_refused(berth_server: RunningBerth, params: dict[str, str]) -> None:
    with admin_client(berth_server) as admin:
        response = admin.get("/projects", params=params)
    assert response.status_code == 400 and error_of(response) == "BAD_REQUEST"


def test_q_ranges_and_lists(berth_server: RunningBerth) -> None:
    # Given two projects
    first_id, first = new_project(berth_server, public=False)
    second_id, second = new_project(berth_server, public=False)
    with admin_client(berth_server) as admin:
        # When they are selected by an id range and by a list of names
        ranged = admin.get("/projects", params={"q": f"project_id=[{first_id}~{second_id}]"})
        listed = admin.get("/projects", params={"q": f"name={{{first} {second}}}"})
    # Then
    assert {first, second} <= names_in(ranged)
    assert names_in(listed) == {first, second}


# --- update and delete -------------------------------------------------------------------


def test_making_a_project_public_shows_it_at_once(berth_server: RunningBerth) -> None:
    # Given a private project with an image
    _, name = new_project(berth_server, public=False)
    push_image(berth_server, f"{name}/app", "v1")
    anonymous = httpx.Client(base_url=berth_server.url)
    before = anonymous.get(f"{API}/projects/{name}")
    # When the admin makes it public
    with admin_client(berth_server) as admin:
        updated = admin.put(f"/projects/{name}", json={"metadata": {"public": "true"}})
        repo_count = admin.get(f"/projects/{name}").json()["repo_count"]
    # Then anonymous callers see it and may pull at once
    after = anonymous.get(f"{API}/projects/{name}")
    token = anonymous.get(
        "/service/token",
        params={"service": "berth-registry", "scope": f"repository:{name}/app:pull"},
    ).json()["token"]
    pulled = anonymous.get(
        f"/v2/{name}/app/manifests/v1",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.oci.image.manifest.v1+json",
        },
    )
    anonymous.close()
    assert before.status_code == 404 and updated.status_code == 200
    assert after.status_code == 200 and after.json()["metadata"] == {"public": "true"}
    assert pulled.status_code == 200 and repo_count == 1


def test_a_project_with_repositories_cannot_be_deleted(berth_server: RunningBerth) -> None:
    # Given a project with an image
    _, name = new_project(berth_server, public=False)
    push_image(berth_server, f"{name}/app", "v1")
    with admin_client(berth_server) as admin:
        # When the admin asks and tries
        deletable = admin.get(f"/projects/{name}/_deletable")
        deleted = admin.delete(f"/projects/{name}")
        still = admin.get(f"/projects/{name}")
    # Then
    assert deletable.json()["deletable"] is False and "repositor" in deletable.json()["message"]
    assert deleted.status_code == 412 and error_of(deleted) == "PRECONDITION"
    assert still.status_code == 200


def test_an_empty_project_is_deleted_with_its_members(berth_server: RunningBerth) -> None:
    # Given an empty project with a member
    project_id, name = new_project(berth_server, public=False)
    _, user = new_user(berth_server)
    add_member(berth_server, name, user, 2)
    with admin_client(berth_server) as admin:
        # When the admin deletes it
        deletable = admin.get(f"/projects/{project_id}/_deletable")
        deleted = admin.delete(f"/projects/{project_id}")
        gone = admin.get(f"/projects/{project_id}")
        # Then a project of the same name starts without members
        again = admin.post("/projects", json={"project_name": name})
        members = admin.get(f"/projects/{name}/members").json()
    assert deletable.json() == {"deletable": True, "message": ""}
    assert deleted.status_code == 200 and gone.status_code == 404
    assert again.status_code == 201 and [m["entity_name"] for m in members] == ["admin"]
