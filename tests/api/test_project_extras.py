"""A project's summary, metadatas, artifacts and audit log on a real server."""

from __future__ import annotations

import pytest

from tests.factories import (
    API,
    admin_client,
    caller,
    new_member,
    new_project,
    push_image,
)
from tests.support import RunningBerth


def test_the_summary_counts_repositories_and_members_by_role(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    push_image(berth_server, f"{project}/a", "v1")
    push_image(berth_server, f"{project}/b", "v1")
    for role in (1, 2, 2, 3, 4, 5):
        new_member(berth_server, project, role)
    guest = new_member(berth_server, project, 3)
    with caller(berth_server, guest) as client:
        got = client.get(f"{API}/projects/{project}/summary")
    assert got.status_code == 200, got.text
    summary = got.json()
    # the quota: no limit by default, and the two images' bytes used (config and manifest each)
    quota = summary.pop("quota")
    assert quota["hard"] == {"storage": -1} and quota["used"]["storage"] > 0
    assert summary == {
        "repo_count": 2,
        # the admin who made the project is its first Project Admin
        "project_admin_count": 2,
        "maintainer_count": 1,
        "developer_count": 2,
        "guest_count": 2,
        "limited_guest_count": 1,
    }
    with caller(berth_server, None) as nobody:
        assert nobody.get(f"{API}/projects/{project}/summary").status_code in (401, 404)


def test_the_summary_shows_the_quota_a_push_used(berth_server: RunningBerth) -> None:
    project_id, project = new_project(berth_server)
    with admin_client(berth_server) as admin:
        (quota,) = admin.get("/quotas", params={"reference_id": project_id}).json()
        assert admin.put(f"/quotas/{quota['id']}", json={"hard": {"storage": 1 << 20}}).is_success
        before = admin.get(f"/projects/{project}/summary").json()["quota"]
        push_image(berth_server, f"{project}/a", "v1")
        after = admin.get(f"/projects/{project}/summary").json()["quota"]
        (listed,) = admin.get("/quotas", params={"reference_id": project_id}).json()
    assert before == {"hard": {"storage": 1 << 20}, "used": {"storage": 0}}
    assert after["hard"] == {"storage": 1 << 20} and after["used"] == listed["used"]
    assert after["used"]["storage"] > 0


def test_metadatas_are_read_added_changed_and_deleted(berth_server: RunningBerth) -> None:
    project_id, project = new_project(berth_server)
    with admin_client(berth_server) as admin:
        base = f"/projects/{project}/metadatas"
        added = admin.post(f"{base}/", json={"auto_scan": "true", "severity": "high"})
        listed = admin.get(f"{base}/")
        one = admin.get(f"{base}/severity")
        changed = admin.put(f"{base}/severity", json={"severity": "low"})
        after = admin.get(f"{base}/severity")
        public = admin.put(f"{base}/public", json={"public": "true"})
        shown = admin.get(f"/projects/{project_id}")
        deleted = admin.delete(f"{base}/auto_scan")
        gone = admin.get(f"{base}/auto_scan")
        again = admin.delete(f"{base}/auto_scan")
    assert added.status_code == 200, added.text
    assert listed.json() == {"auto_scan": "true", "severity": "high", "public": "false"}
    assert one.json() == {"severity": "high"}
    assert changed.status_code == 200 and after.json() == {"severity": "low"}
    assert public.status_code == 200 and shown.json()["metadata"]["public"] == "true"
    assert deleted.status_code == 200 and gone.status_code == 404 and again.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "named"),
    [
        pytest.param("post", "/", {"severity": "awful"}, "severity", id="bad-severity"),
        pytest.param("post", "/", {"auto_scan": "perhaps"}, "auto_scan", id="bad-switch"),
        pytest.param("post", "/", {"proxy_speed_kb": "x1"}, "proxy_speed_kb", id="bad-number"),
        pytest.param("post", "/", {"retention_id": "1"}, "retention_id", id="retention-kept"),
        pytest.param("delete", "/retention_id", None, "retention_id", id="retention-stays"),
        pytest.param("post", "/", {"colour": "blue"}, "colour", id="unknown-name"),
        pytest.param("post", "/", {}, "body", id="empty"),
        pytest.param("put", "/severity", {"auto_scan": "true"}, "severity", id="other-name"),
        pytest.param("delete", "/public", None, "public", id="public-stays"),
    ],
)
def test_bad_metadata_is_refused_naming_it(
    berth_server: RunningBerth, method: str, path: str, body: object, named: str
) -> None:
    _, project = new_project(berth_server)
    with admin_client(berth_server) as admin:
        url = f"/projects/{project}/metadatas{path}"
        answer = admin.request(method.upper(), url, json=body)
    assert answer.status_code == 400, answer.text
    assert named in answer.text


def test_metadata_rights_follow_harbor(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    maintainer = new_member(berth_server, project, 4)
    admin_member = new_member(berth_server, project, 1)
    developer = new_member(berth_server, project, 2)
    base = f"{API}/projects/{project}/metadatas"
    with caller(berth_server, maintainer) as client:
        read = client.get(f"{base}/public")
        refused = client.put(f"{base}/public", json={"public": "true"})
    with caller(berth_server, developer) as client:
        unread = client.get(f"{base}/public")
    with caller(berth_server, admin_member) as client:
        written = client.post(f"{base}/", json={"prevent_vul": "true"})
    assert read.status_code == 200 and read.json() == {"public": "false"}
    assert refused.status_code == 403 and unread.status_code == 403
    assert written.status_code == 200


def test_the_project_lists_the_artifacts_of_all_its_repositories(
    berth_server: RunningBerth,
) -> None:
    _, project = new_project(berth_server)
    first = push_image(berth_server, f"{project}/a", "v1")
    second = push_image(berth_server, f"{project}/b/c", "v2")
    _, other = new_project(berth_server)
    push_image(berth_server, f"{other}/x", "v1")
    with admin_client(berth_server) as admin:
        listed = admin.get(f"/projects/{project}/artifacts", params={"with_label": "true"})
        page = admin.get(f"/projects/{project}/artifacts", params={"page_size": 1})
        found = admin.get(f"/projects/{project}/artifacts", params={"q": f"digest={first}"})
    assert listed.status_code == 200, listed.text
    assert [a["digest"] for a in listed.json()] == [second, first]
    assert listed.headers["X-Total-Count"] == "2"
    assert {a["repository_id"] for a in listed.json()} != {listed.json()[0]["repository_id"]}
    assert [t["name"] for t in listed.json()[0]["tags"]] == ["v2"]
    assert len(page.json()) == 1 and 'rel="next"' in page.headers["Link"]
    assert [a["digest"] for a in found.json()] == [first]


def test_the_project_log_shows_its_own_events_to_its_admins(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    _, other = new_project(berth_server)
    push_image(berth_server, f"{project}/app", "v1")
    push_image(berth_server, f"{other}/app", "v1")
    developer = new_member(berth_server, project, 2)
    with admin_client(berth_server) as admin:
        logs = admin.get(f"/projects/{project}/logs", params={"page_size": 100})
        pushes = admin.get(
            f"/projects/{project}/logs", params={"q": "operation=create,resource_type=artifact"}
        )
    with caller(berth_server, developer) as client:
        refused = client.get(f"{API}/projects/{project}/logs")
    assert logs.status_code == 200, logs.text
    entries = logs.json()
    assert entries and all(other not in e["resource"] for e in entries)
    assert set(entries[0]) == {
        "id",
        "username",
        "resource",
        "resource_type",
        "operation",
        "op_time",
    }
    assert [e["resource"] for e in pushes.json()] == [f"{project}/app:v1@{_digest(entries)}"]
    assert refused.status_code == 403


def _digest(entries: list[dict[str, str]]) -> str:
    push = next(e for e in entries if e["resource_type"] == "artifact")
    return push["resource"].rsplit("@", 1)[1]


def test_an_unknown_metadata_is_404_however_long_its_name(berth_server: RunningBerth) -> None:
    _, project = new_project(berth_server)
    with admin_client(berth_server) as admin:
        for name in ("colour", "x" * 255):
            assert admin.get(f"/projects/{project}/metadatas/{name}").status_code == 404
            assert admin.delete(f"/projects/{project}/metadatas/{name}").status_code == 404


def test_a_project_ref_of_non_ascii_digits_names_no_project(berth_server: RunningBerth) -> None:
    # "³".isdigit() holds, but it is no number a project id could be
    with admin_client(berth_server) as admin:
        assert admin.get("/projects/%C2%B3/summary").status_code == 404
        assert admin.get("/projects/%C2%B3").status_code == 404
