"""Berth on the S3 driver (SeaweedFS) when the store is wrong or gone, and with
storage.redirect: pulls go straight to the store, but only after the access check."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers import Docker, SeaweedS3, running_seaweedfs
from tests.support import ADMIN, BerthServers, RunningBerth, assert_log_clean, running_berth

pytestmark = pytest.mark.e2e


def push_blob(server: RunningBerth, repo: str, data: bytes) -> httpx.Response:
    """A monolithic blob upload (POST with the digest and the bytes)."""
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    return httpx.post(
        f"{server.url}/v2/{repo}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
        auth=ADMIN,
        timeout=60,
    )


def storage_health(server: RunningBerth) -> dict[str, str]:
    answer = httpx.get(f"{server.url}/api/v2.0/health", timeout=30)
    assert answer.status_code == 200
    return next(c for c in answer.json()["components"] if c["name"] == "storage")


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        pytest.param("S3_SECRET_KEY", "not-the-secret", "s3_secret_key", id="wrong-secret"),
        pytest.param("S3_BUCKET", "no-such-bucket", "does not exist", id="missing-bucket"),
    ],
)
def test_a_store_that_refuses_berth_gives_503_saying_why_and_health_says_so(
    seaweedfs: SeaweedS3, tmp_path: Path, setting: str, value: str, says: str
) -> None:
    env = seaweedfs.env(**{f"BERTH_STORAGE__{setting}": value})
    with running_berth(tmp_path / "berth", env) as server:
        answer = push_blob(server, "library/refused", b"some layer bytes")
        assert answer.status_code == 503
        error = answer.json()["errors"][0]
        assert error["code"] == "UNAVAILABLE" and says in error["message"]
        health = storage_health(server)
        assert health["status"] == "unhealthy" and says in health["error"]
        # Harbor's format on /api: a repository's artifacts still list (the database answers)
        assert httpx.get(f"{server.url}/api/v2.0/projects", auth=ADMIN).status_code == 200
    assert_log_clean(server.log, during="the refused pushes")


def test_a_store_that_stops_makes_health_unhealthy_and_pushes_503(tmp_path: Path) -> None:
    with (
        running_seaweedfs(tmp_path / "weed") as store,
        running_berth(tmp_path / "berth", store.env()) as server,
    ):
        assert push_blob(server, "library/stops", b"before").status_code == 201
        assert storage_health(server)["status"] == "healthy"
        store.stop()
        health = storage_health(server)
        assert health["status"] == "unhealthy" and "does not answer" in health["error"]
        answer = push_blob(server, "library/stops", b"after")
        assert answer.status_code == 503
        assert "does not answer" in answer.json()["errors"][0]["message"]
    assert_log_clean(server.log, during="the store's stop")


@pytest.fixture(scope="module")
def redirecting(
    seaweedfs: SeaweedS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    env = seaweedfs.env(BERTH_STORAGE__REDIRECT="true")
    with running_berth(tmp_path_factory.mktemp("berth-redirect"), env) as server:
        yield server
    assert_log_clean(server.log, during="the redirected pulls")


def test_a_redirected_blob_get_comes_only_after_the_access_check(
    redirecting: RunningBerth, seaweedfs: SeaweedS3
) -> None:
    # Given a blob in a private project
    project = f"private{uuid.uuid4().hex[:8]}"
    made = httpx.post(
        f"{redirecting.url}/api/v2.0/projects",
        json={"project_name": project, "metadata": {"public": "false"}},
        auth=ADMIN,
    )
    assert made.status_code == 201, made.text
    data = os.urandom(6 * 1024 * 1024)
    assert push_blob(redirecting, f"{project}/app", data).status_code == 201
    url = f"{redirecting.url}/v2/{project}/app/blobs/sha256:{hashlib.sha256(data).hexdigest()}"

    # When an anonymous caller asks for it, then the answer is 401, with no URL to the store
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and "Location" not in anonymous.headers

    # When the admin asks, then the answer is 307 to the store, which serves the bytes
    answer = httpx.get(url, auth=ADMIN)
    assert answer.status_code == 307
    location = answer.headers["Location"]
    assert location.startswith(seaweedfs.endpoint)
    assert httpx.get(location).content == data


def test_docker_pull_follows_the_redirect(
    redirecting: RunningBerth, dockerd: Docker, layered_context: Path
) -> None:
    dockerd.login(redirecting.host, *ADMIN)
    ref = f"{redirecting.host}/library/redirected:v1"
    built = dockerd.build(layered_context, ref)
    dockerd.push(ref)
    dockerd.remove(ref)
    dockerd("pull", ref)
    assert dockerd.image_id(ref) == built  # the config, hence every layer's digest, match
    # ... and its layers came from the store: Berth answered each layer GET with a redirect
    pulled = [r for r in requests_logged(redirecting) if "/library/redirected/blobs/" in r["path"]]
    assert len([r for r in pulled if r["method"] == "GET" and r["status"] == 307]) >= 4


def requests_logged(server: RunningBerth) -> list[dict[str, Any]]:
    lines = [line for line in server.log.read_text().splitlines() if line.startswith("{")]
    return [r for r in map(json.loads, lines) if r.get("msg") == "request"]


def test_a_chunked_upload_across_part_boundaries_reads_back_whole(
    berth_servers: BerthServers,
) -> None:
    server = berth_servers("s3")
    chunks = [os.urandom(n) for n in (4 * 1024 * 1024, 7 * 1024 * 1024 + 3, 1, 1024 * 1024)]
    data = b"".join(chunks)
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as client:
        started = client.post("/v2/library/chunked-s3/blobs/uploads/")
        assert started.status_code == 202, started.text
        location, offset = started.headers["Location"], 0
        for chunk in chunks:
            answer = client.patch(
                location,
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
            )
            assert answer.status_code == 202, answer.text
            location, offset = answer.headers["Location"], offset + len(chunk)
        done = client.put(location, params={"digest": digest})
        assert done.status_code == 201, done.text
        pulled = client.get(f"/v2/library/chunked-s3/blobs/{digest}")
        assert pulled.status_code == 200 and pulled.content == data
        ranged = client.get(
            f"/v2/library/chunked-s3/blobs/{digest}", headers={"Range": "bytes=5242870-5242900"}
        )
        assert ranged.status_code == 206 and ranged.content == data[5242870:5242901]
