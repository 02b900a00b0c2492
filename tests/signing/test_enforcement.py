"""Signed-only pulls on a real server (SQLite and PostgreSQL): a project with
enable_content_trust_cosign serves an artifact only with a signature that verifies, with a
key it trusts, over the very digest pulled; Berth signs on push when the project says so."""

from __future__ import annotations

import httpx

from tests.factories import (
    admin_client,
    error_of,
    new_project,
    pull_manifest,
    push_image,
)
from tests.signing.support import ENFORCE, SIGN, set_metadata, signed_accessories
from tests.support import RunningBerth


def test_an_unsigned_artifact_is_refused_with_the_reason(berth_server: RunningBerth) -> None:
    # Given a project that serves only signed artifacts, holding an unsigned one
    _, project = new_project(berth_server, prefix="enforce")
    repo = f"{project}/app"
    digest = push_image(berth_server, repo, "v1")
    set_metadata(berth_server, project, ENFORCE)
    # When it is pulled by tag and by digest
    by_tag, by_digest = (
        pull_manifest(berth_server, repo, "v1"),
        pull_manifest(berth_server, repo, digest),
    )
    # Then both are refused with Harbor's 412 and a message naming why
    for refused in (by_tag, by_digest):
        assert refused.status_code == 412, refused.text
        assert error_of(refused) == "PROJECTPOLICYVIOLATION"
        assert "not signed" in refused.json()["errors"][0]["message"]
    # And with the policy off again, it is served
    set_metadata(berth_server, project, {"enable_content_trust_cosign": "false"})
    assert pull_manifest(berth_server, repo, "v1").status_code == 200


def test_sign_on_push_makes_a_verified_cosign_signature(berth_server: RunningBerth) -> None:
    # Given a project that signs on push and serves only signed artifacts
    _, project = new_project(berth_server, prefix="signs")
    set_metadata(berth_server, project, {**SIGN, **ENFORCE})
    repo = f"{project}/app"
    # When an image is pushed
    digest = push_image(berth_server, repo, "v1")
    # Then a cosign signature appears, verified with the project's key, as the .sig tag and
    # as a referrer of the image
    items = signed_accessories(berth_server, repo, "v1")
    assert [a["type"] for a in items] == ["signature.cosign"]
    verdict = items[0]["verification"][0]
    assert verdict["verified"] is True and verdict["key_id"].startswith("sha256:")
    sig_tag = digest.replace(":", "-") + ".sig"
    sig = pull_manifest(berth_server, repo, sig_tag)
    assert sig.status_code == 200, sig.text
    assert sig.json()["subject"]["digest"] == digest
    with admin_client(berth_server) as admin:
        referrers = httpx.get(f"{berth_server.url}/v2/{repo}/referrers/{digest}", auth=admin.auth)
    assert [m["digest"] for m in referrers.json()["manifests"]] == [items[0]["digest"]]
    # And the image is served by tag and by digest
    assert pull_manifest(berth_server, repo, "v1").status_code == 200
    assert pull_manifest(berth_server, repo, digest).status_code == 200


def test_project_settings_are_shown_and_checked(berth_server: RunningBerth) -> None:
    # Given a project
    _, project = new_project(berth_server, prefix="meta")
    with admin_client(berth_server) as admin:
        # When settings are changed, and a bad one sent
        changed = admin.put(f"/projects/{project}", json={"metadata": SIGN})
        bad = admin.put(f"/projects/{project}", json={"metadata": {"sign_on_push": "maybe"}})
        unknown = admin.put(f"/projects/{project}", json={"metadata": {"nonsense": "true"}})
        shown = admin.get(f"/projects/{project}").json()["metadata"]
    # Then the good one is kept and shown, the bad ones refused naming the setting
    assert changed.status_code == 200, changed.text
    assert shown["sign_on_push"] == "true" and shown["public"] == "false"
    assert bad.status_code == 400 and "sign_on_push" in bad.text
    assert unknown.status_code == 400 and "nonsense" in unknown.text
