"""Tag immutability with the real clients: docker cannot re-push an immutable tag with other
content, skopeo cannot delete it, each shows Harbor's message, and the first image stays."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from tests.peers import Docker, Skopeo
from tests.support import ADMIN, RunningBerth

pytestmark = pytest.mark.e2e


def immutable_rule(server: RunningBerth, project: str, tags: str) -> None:
    """A project with a rule protecting the tags matching tags in every repository."""
    api = f"{server.url}/api/v2.0"
    body = {"project_name": project, "metadata": {"public": "false"}}
    assert httpx.post(f"{api}/projects", json=body, auth=ADMIN).status_code == 201
    rule = {
        "action": "immutable",
        "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": tags}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }
    made = httpx.post(f"{api}/projects/{project}/immutabletagrules", json=rule, auth=ADMIN)
    assert made.status_code == 201, made.text


def context_with(folder: Path, payload: bytes) -> Path:
    folder.mkdir()
    (folder / "payload.bin").write_bytes(payload)
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY payload.bin /payload.bin\n")
    return folder


def test_an_immutable_tag_is_neither_re_pushed_nor_deleted(
    registry: RunningBerth, berth_only: None, docker: Docker, skopeo: Skopeo, tmp_path: Path
) -> None:
    # Given a project whose rule makes release-* immutable, and release-1 pushed
    project = f"immutable{uuid.uuid4().hex[:8]}"
    immutable_rule(registry, project, "release-*")
    ref = f"{registry.host}/{project}/app:release-1"
    docker.build(context_with(tmp_path / "one", os.urandom(32 * 1024)), ref)
    digest = docker.push(ref)

    # When other content is built under the same tag and pushed
    docker.build(context_with(tmp_path / "two", os.urandom(32 * 1024)), ref)
    again = docker("push", ref, check=False)
    # Then docker fails, showing why
    shown = f"{again.stdout}\n{again.stderr}"
    assert again.returncode != 0, shown
    assert "configured as immutable" in shown, shown

    # When skopeo deletes the tag (which deletes the image it names)
    deleted = skopeo("delete", "--tls-verify=false", f"docker://{ref}", check=False)
    # Then it fails, showing why
    assert deleted.returncode != 0, deleted.stdout
    assert "immutable" in deleted.stderr, deleted.stderr

    # And a pull of the tag still gets the first image
    docker.remove(ref)
    docker("pull", ref)
    assert f"{registry.host}/{project}/app@{digest}" in docker.repo_digests(ref)
    docker.remove(ref)
