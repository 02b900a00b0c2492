"""/search and /statistics on a real server: what the caller may see, nothing more."""

from __future__ import annotations

import uuid

from tests.factories import (
    API,
    admin_client,
    caller,
    new_member,
    new_project,
    new_user,
    push_image,
)
from tests.support import RunningBerth


def test_search_finds_visible_projects_and_repositories(berth_server: RunningBerth) -> None:
    # Given a word in the names of a public and a private project and their repositories
    word = f"srch{uuid.uuid4().hex[:6]}"
    _, public = new_project(berth_server, public=True, prefix=f"{word}-pub")
    _, private = new_project(berth_server, prefix=f"{word}-priv")
    push_image(berth_server, f"{public}/{word}-app", "v1")
    push_image(berth_server, f"{private}/{word}-secret", "v1")
    member = new_member(berth_server, private, 3)
    _, stranger = new_user(berth_server)
    # When each of them searches for it
    found = {}
    for who in (None, stranger, member, "admin"):
        with caller(berth_server, who) as client:
            answer = client.get(f"{API}/search", params={"q": word})
            assert answer.status_code == 200, answer.text
            found[who] = answer.json()

    # Then each sees what they may see
    def names(result: dict[str, list[dict[str, object]]]) -> tuple[set[object], set[object]]:
        projects = {p["name"] for p in result["project"]}
        return projects, {r["repository_name"] for r in result["repository"]}

    public_only = ({public}, {f"{public}/{word}-app"})
    both = ({public, private}, {f"{public}/{word}-app", f"{private}/{word}-secret"})
    assert names(found[None]) == public_only
    assert names(found[stranger]) == public_only
    assert names(found[member]) == both
    assert names(found["admin"]) == both
    repo = next(r for r in found["admin"]["repository"] if r["project_name"] == public)
    assert repo["project_public"] is True and repo["artifact_count"] == 1
    assert set(repo) == {
        "project_id", "project_name", "project_public", "repository_name", "pull_count",
        "artifact_count",
    }  # fmt: skip


def test_search_needs_a_query(berth_server: RunningBerth) -> None:
    with admin_client(berth_server) as admin:
        assert admin.get("/search").status_code == 400
        assert admin.get("/search", params={"q": "x" * 300}).status_code == 400


def test_statistics_count_what_the_caller_sees(berth_server: RunningBerth) -> None:
    _, private = new_project(berth_server)
    push_image(berth_server, f"{private}/a", "v1")
    push_image(berth_server, f"{private}/b", "v1")
    member = new_member(berth_server, private, 3)
    _, stranger = new_user(berth_server)
    with caller(berth_server, member) as client:
        mine = client.get(f"{API}/statistics").json()
    with caller(berth_server, stranger) as client:
        theirs = client.get(f"{API}/statistics").json()
    with admin_client(berth_server) as admin:
        everything = admin.get("/statistics").json()
    with caller(berth_server, None) as nobody:
        refused = nobody.get(f"{API}/statistics")
    # the member sees the private project's two repositories, the stranger none of them
    assert mine["private_project_count"] == theirs["private_project_count"] + 1
    assert mine["private_repo_count"] == theirs["private_repo_count"] + 2
    assert mine["public_repo_count"] == theirs["public_repo_count"]
    for counts in (mine, theirs, everything):
        assert counts["total_project_count"] == (
            counts["public_project_count"] + counts["private_project_count"]
        )
        assert counts["total_repo_count"] == (
            counts["public_repo_count"] + counts["private_repo_count"]
        )
    assert mine["total_storage_consumption"] == 0
    assert everything["total_storage_consumption"] > 0
    assert everything["total_repo_count"] >= mine["total_repo_count"]
    assert refused.status_code == 401
