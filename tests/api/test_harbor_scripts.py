"""A Harbor user's script, unchanged: the flows people automate against Harbor's API v2.0, with
nothing but the requests Harbor documents (its swagger's paths, bodies and parameters).

Create a project with a storage quota, add a member, create a robot and push with it, list
repositories and artifacts, add a label, make release tags immutable, set a retention policy and
dry-run it, copy an artifact, and read the quota and the project's summary back.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.factories import (
    admin_client,
    id_from_location,
    new_user,
    push_image,
    unique,
)
from tests.support import RunningBerth

MIB = 1024 * 1024
EVERY_REPOSITORY = {
    "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
}


def tag_selector(pattern: str) -> list[dict[str, str]]:
    return [{"kind": "doublestar", "decoration": "matches", "pattern": pattern}]


def until_done(admin: httpx.Client, path: str, timeout: float = 60) -> dict[str, Any]:
    """The first item of a Harbor execution list once it has finished (polled, bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        execution: dict[str, Any] = admin.get(path).json()[0]
        if execution["status"] not in ("Pending", "Running", "Scheduled"):
            return execution
        assert time.monotonic() < deadline, f"still {execution['status']}: {execution}"
        time.sleep(0.2)


def test_a_harbor_script_runs_unchanged(berth_server: RunningBerth) -> None:
    project = unique("team-")
    _, developer = new_user(berth_server, "dev")
    with admin_client(berth_server) as admin:
        # A project with a 10 MiB storage quota, and a developer in it
        created = admin.post(
            "/projects",
            json={
                "project_name": project,
                "metadata": {"public": "false"},
                "storage_limit": 10 * MIB,
            },
        )
        assert created.status_code == 201, created.text
        project_id = id_from_location(created.headers["Location"])
        member = admin.post(
            f"/projects/{project}/members",
            json={"role_id": 2, "member_user": {"username": developer}},
        )
        assert member.status_code == 201, member.text

        # A robot that pushes, and two repositories pushed with it
        robot = admin.post(
            "/robots",
            json={
                "name": "ci",
                "duration": -1,
                "level": "project",
                "permissions": [
                    {
                        "kind": "project",
                        "namespace": project,
                        "access": [
                            {"resource": "repository", "action": "push"},
                            {"resource": "repository", "action": "pull"},
                        ],
                    }
                ],
            },
        )
        assert robot.status_code == 201, robot.text
        robot_auth = (robot.json()["name"], robot.json()["secret"])
        release = push_image(berth_server, f"{project}/app", "release-1.0", robot_auth)
        push_image(berth_server, f"{project}/app", "latest", robot_auth)
        push_image(berth_server, f"{project}/tools", "1", robot_auth)

        repositories = admin.get(f"/projects/{project}/repositories", params={"sort": "name"})
        assert repositories.status_code == 200, repositories.text
        counts = {r["name"]: r["artifact_count"] for r in repositories.json()}
        assert counts == {f"{project}/app": 2, f"{project}/tools": 1}
        artifacts = admin.get(
            f"/projects/{project}/repositories/app/artifacts", params={"with_tag": "true"}
        )
        tags = {t["name"] for a in artifacts.json() for t in a["tags"]}
        assert tags == {"release-1.0", "latest"}

        # A project label on the release artifact
        label = admin.post(
            "/labels",
            json={"name": "qa-passed", "color": "#00AA00", "scope": "p", "project_id": project_id},
        )
        assert label.status_code == 201, label.text
        label_id = id_from_location(label.headers["Location"])
        added = admin.post(
            f"/projects/{project}/repositories/app/artifacts/{release}/labels",
            json={"id": label_id},
        )
        assert added.status_code == 200, added.text
        labelled = admin.get(
            f"/projects/{project}/repositories/app/artifacts/{release}",
            params={"with_label": "true"},
        )
        assert [item["name"] for item in labelled.json()["labels"]] == ["qa-passed"]

        # Release tags immutable: their deletion is refused, and the tag says so
        rule = admin.post(
            f"/projects/{project}/immutabletagrules",
            json={
                "disabled": False,
                "action": "immutable",
                "template": "immutable_template",
                "tag_selectors": tag_selector("release-*"),
                "scope_selectors": EVERY_REPOSITORY,
            },
        )
        assert rule.status_code == 201, rule.text
        refused = admin.delete(
            f"/projects/{project}/repositories/app/artifacts/{release}/tags/release-1.0"
        )
        assert refused.status_code == 412 and "immutable" in refused.text
        listed = admin.get(
            f"/projects/{project}/repositories/app/artifacts/{release}/tags",
            params={"with_immutable_status": "true"},
        )
        assert [(t["name"], t["immutable"]) for t in listed.json()] == [("release-1.0", True)]

        # Retention keeping the latest pushed tag, dry-run by hand
        policy = admin.post(
            "/retentions",
            json={
                "algorithm": "or",
                "rules": [
                    {
                        "disabled": False,
                        "action": "retain",
                        "template": "latestPushedK",
                        "params": {"latestPushedK": 1},
                        "tag_selectors": tag_selector("**"),
                        "scope_selectors": EVERY_REPOSITORY,
                    }
                ],
                "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
                "scope": {"level": "project", "ref": project_id},
            },
        )
        assert policy.status_code == 201, policy.text
        policy_id = id_from_location(policy.headers["Location"])
        metadata = admin.get(f"/projects/{project}/metadatas/retention_id")
        assert metadata.json() == {"retention_id": str(policy_id)}
        run = admin.post(f"/retentions/{policy_id}/executions", json={"dry_run": True})
        assert run.status_code == 201, run.text
        execution = until_done(admin, f"/retentions/{policy_id}/executions")
        assert execution["dry_run"] is True and execution["status"] == "Success"

        # A copy of the release into another repository of the project, by digest
        copied = admin.post(
            f"/projects/{project}/repositories/copies%252Fapp/artifacts",
            params={"from": f"{project}/app@{release}"},
        )
        assert copied.status_code == 201, copied.text
        copy = admin.get(f"/projects/{project}/repositories/copies%252Fapp/artifacts/{release}")
        assert copy.status_code == 200 and copy.json()["digest"] == release

        # The quota and the summary
        quotas = admin.get("/quotas", params={"reference": "project", "reference_id": project_id})
        (quota,) = quotas.json()
        assert quota["hard"] == {"storage": 10 * MIB} and 0 < quota["used"]["storage"] < MIB
        summary = admin.get(f"/projects/{project}/summary").json()
        assert summary["repo_count"] == 3 and summary["developer_count"] == 1
        assert summary["quota"]["hard"] == {"storage": 10 * MIB}
