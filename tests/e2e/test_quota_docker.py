"""Quotas and read-only mode with the real Docker engine: a push over the project's storage
limit fails showing Harbor's quota message and leaves nothing of its layer behind; while
the registry is read-only a push fails and a pull is served."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers import Docker
from tests.support import ADMIN, RunningBerth

pytestmark = pytest.mark.e2e


def api(server: RunningBerth, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method,
        f"{server.url}/api/v2.0{path}",
        auth=ADMIN,
        timeout=30,
        verify=server.verify,
        **kwargs,
    )


def image_of(docker: Docker, folder: Path, ref: str, payload: int) -> None:
    """An image of one layer holding payload random bytes (so it compresses to no less)."""
    folder.mkdir()
    (folder / "payload.bin").write_bytes(os.urandom(payload))
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY payload.bin /payload.bin\n")
    docker.build(folder, ref)


def new_project(server: RunningBerth, **fields: Any) -> tuple[str, int]:
    name = f"quota{uuid.uuid4().hex[:8]}"
    made = api(server, "POST", "/projects", json={"project_name": name, **fields})
    assert made.status_code == 201, made.text
    return name, int(made.headers["Location"].rsplit("/", 1)[1])


def used_by(server: RunningBerth, project_id: int) -> int:
    listed = api(server, "GET", "/quotas", params={"reference_id": str(project_id)})
    assert listed.status_code == 200, listed.text
    return int(listed.json()[0]["used"]["storage"])


def test_a_push_over_the_quota_fails_with_harbors_message_and_stores_nothing_of_it(
    berth_server: RunningBerth, dockerd: Docker, tmp_path: Path
) -> None:
    # Given a project limited to 100 KiB and an image whose layer is 512 KiB
    project, project_id = new_project(berth_server, storage_limit=100 * 1024)
    ref = f"{berth_server.host}/{project}/app:v1"
    image_of(dockerd, tmp_path / "big", ref, 512 * 1024)
    dockerd.login(berth_server.host, *ADMIN)
    # When docker pushes it
    push = dockerd("push", ref, check=False)
    # Then the push fails showing the quota's message, and the repository holds no manifest
    # and the project no byte of the layer
    text = f"{push.stdout}\n{push.stderr}"
    assert push.returncode != 0, text
    assert re.search(r"denied: adding 51\d\.\d KiB of storage resource", text), text
    assert "will exceed the configured upper limit of 100.0 KiB" in text, text
    assert "Retrying" not in text, text  # a 403 with its reason: docker gives up at once
    tags = httpx.get(
        f"{berth_server.url}/v2/{project}/app/tags/list", auth=ADMIN, verify=berth_server.verify
    )
    assert tags.status_code == 404 or tags.json().get("tags") in (None, []), tags.text
    assert used_by(berth_server, project_id) < 100 * 1024  # at most the small config blob
    dockerd.remove(ref)


@pytest.fixture
def read_only(berth_server: RunningBerth) -> Iterator[None]:
    """The session's server in read-only mode for one test, and out of it afterwards."""
    assert api(berth_server, "PUT", "/configurations", json={"read_only": True}).status_code == 200
    try:
        yield
    finally:
        off = api(berth_server, "PUT", "/configurations", json={"read_only": False})
        assert off.status_code == 200, off.text


def test_read_only_mode_refuses_a_push_and_serves_a_pull(
    berth_server: RunningBerth, dockerd: Docker, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Given an image pushed before the registry turns read-only, and one not pushed
    project, _ = new_project(berth_server)
    kept = f"{berth_server.host}/{project}/app:v1"
    refused = f"{berth_server.host}/{project}/app:v2"
    image_of(dockerd, tmp_path / "kept", kept, 64 * 1024)
    image_of(dockerd, tmp_path / "refused", refused, 64 * 1024)
    dockerd.login(berth_server.host, *ADMIN)
    dockerd("push", kept)
    dockerd.remove(kept)
    request.getfixturevalue("read_only")
    # When docker pushes the other and pulls the first
    push = dockerd("push", refused, check=False)
    pull = dockerd("pull", kept, check=False)
    # Then the push fails (dockerd reads a 503 as passing and retries for about 50 s before it
    # gives up) and the pull is served
    assert push.returncode != 0, f"{push.stdout}\n{push.stderr}"
    assert pull.returncode == 0, f"{pull.stdout}\n{pull.stderr}"
    tags = httpx.get(
        f"{berth_server.url}/v2/{project}/app/tags/list", auth=ADMIN, verify=berth_server.verify
    )
    assert tags.json()["tags"] == ["v1"]
    dockerd.remove(kept)
    dockerd.remove(refused)
