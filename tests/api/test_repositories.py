"""The repositories API on a real server: listings, one repository, its description and
its counts, and who may see or change them."""

from __future__ import annotations

import pytest

from tests.factories import (
    API,
    admin_client,
    caller,
    new_member,
    new_project,
    pull_manifest,
    push_image,
    repository_url,
)
from tests.support import RunningBerth, wait_until


def test_a_project_lists_its_repositories_with_their_counts(berth_server: RunningBerth) -> None:
    # Given a project with two repositories, one holding two artifacts
    _, project = new_project(berth_server)
    push_image(berth_server, f"{project}/web", "v1")
    push_image(berth_server, f"{project}/web", "v2")
    push_image(berth_server, f"{project}/team/db", "v1")
    with admin_client(berth_server) as admin:
        # When its repositories are listed
        listed = admin.get(f"/projects/{project}/repositories")
        one = admin.get(f"/projects/{project}/repositories/team%252Fdb")
    # Then both are there, newest first, with Harbor's fields
    assert listed.status_code == 200, listed.text
    assert listed.headers["X-Total-Count"] == "2"
    by_name = {r["name"]: r for r in listed.json()}
    assert [r["name"] for r in listed.json()] == [f"{project}/team/db", f"{project}/web"]
    assert by_name[f"{project}/web"]["artifact_count"] == 2
    assert by_name[f"{project}/team/db"]["artifact_count"] == 1
    web = by_name[f"{project}/web"]
    assert web["pull_count"] == 0 and web["description"] == ""
    assert web["creation_time"].endswith("Z") and web["update_time"] >= web["creation_time"]
    # And one of them, named double-encoded, reads the same
    assert one.status_code == 200, one.text
    assert one.json() == by_name[f"{project}/team/db"]


def test_paging_sorting_and_filtering_happen_in_the_listing(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    for name in ("alpha", "beta", "gamma"):
        push_image(berth_server, f"{project}/{name}", "v1")
    with admin_client(berth_server) as admin:
        first = admin.get(f"/projects/{project}/repositories?sort=name&page=1&page_size=2")
        second = admin.get(f"/projects/{project}/repositories?sort=name&page=2&page_size=2")
        found = admin.get(f"/projects/{project}/repositories", params={"q": "name=~et"})
        bad = admin.get(f"/projects/{project}/repositories?sort=pull_count")
    assert [r["name"] for r in first.json()] == [f"{project}/alpha", f"{project}/beta"]
    assert 'rel="next"' in first.headers["Link"]
    assert [r["name"] for r in second.json()] == [f"{project}/gamma"]
    assert first.headers["X-Total-Count"] == second.headers["X-Total-Count"] == "3"
    assert [r["name"] for r in found.json()] == [f"{project}/beta"]
    assert bad.status_code == 400 and "sort" in bad.text


def test_pulls_are_counted(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    push_image(berth_server, f"{project}/app", "v1")
    for _ in range(3):
        assert pull_manifest(berth_server, f"{project}/app", "v1").status_code == 200
    with admin_client(berth_server) as admin:

        def pulls() -> int | None:
            count = admin.get(f"/projects/{project}/repositories/app").json()["pull_count"]
            return count if count == 3 else None

        assert wait_until("three pulls are counted", pulls, within=15) == 3


def test_the_description_is_set_by_a_developer(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    push_image(berth_server, f"{project}/app", "v1")
    developer = new_member(berth_server, project, 2)
    guest = new_member(berth_server, project, 3)
    url = f"{API}/projects/{project}/repositories/app"
    with caller(berth_server, developer) as client:
        changed = client.put(url, json={"description": "the shop's front end"})
        read = client.get(url)
    with caller(berth_server, guest) as client:
        refused = client.put(url, json={"description": "mine"})
        seen = client.get(url)
    assert changed.status_code == 200, changed.text
    assert read.json()["description"] == "the shop's front end"
    assert refused.status_code == 403
    assert seen.status_code == 200 and seen.json()["description"] == "the shop's front end"
    with admin_client(berth_server) as admin:
        logged = admin.get(f"/projects/{project}/logs", params={"q": "resource_type=repository"})
    assert [e["operation"] for e in logged.json()][:1] == ["update"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"description": 5}, id="not-a-string"),
        pytest.param({"description": "x" * 10_001}, id="too-long"),
    ],
)
def test_a_bad_description_is_refused(berth_server: RunningBerth, body: dict[str, object]) -> None:
    _, project = new_project(berth_server)
    push_image(berth_server, f"{project}/app", "v1")
    with admin_client(berth_server) as admin:
        answer = admin.put(f"/projects/{project}/repositories/app", json=body)
    assert answer.status_code == 400 and "description" in answer.text


def test_all_repositories_are_those_the_caller_may_see(berth_server: RunningBerth) -> None:
    _, private = new_project(berth_server)
    _, public = new_project(berth_server, public=True)
    push_image(berth_server, f"{private}/hidden", "v1")
    push_image(berth_server, f"{public}/shown", "v1")
    with caller(berth_server, None) as anonymous:
        listed = anonymous.get(f"{API}/repositories", params={"page_size": 100, "q": "name=~-"})
        hidden = anonymous.get(f"{API}/projects/{private}/repositories")
        one = anonymous.get(f"{repository_url(f'{private}/hidden')}")
    names = {r["name"] for r in listed.json()}
    assert f"{public}/shown" in names and f"{private}/hidden" not in names
    assert hidden.status_code in (401, 404)
    assert one.status_code in (401, 404)
    with admin_client(berth_server) as admin:
        everything = admin.get("/repositories", params={"q": f"project_id={_id(admin, private)}"})
    assert [r["name"] for r in everything.json()] == [f"{private}/hidden"]


def test_an_unknown_repository_is_404(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    with admin_client(berth_server) as admin:
        assert admin.get(f"/projects/{project}/repositories/nothing").status_code == 404
        assert (
            admin.put(
                f"/projects/{project}/repositories/nothing", json={"description": "x"}
            ).status_code
            == 404
        )


def _id(admin: object, project: str) -> int:
    got = admin.get(f"/projects/{project}")  # type: ignore[attr-defined]
    return int(got.json()["project_id"])
