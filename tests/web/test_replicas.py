"""Two Berth processes on one data folder: any replica takes the next chunk of any upload."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import httpx
import pytest

from tests.support import ADMIN, postgres_database, require, running_berth

admin = httpx.Client(auth=ADMIN, timeout=120)  # Basic credentials of the test admin


def test_upload_started_on_one_replica_finishes_on_another(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with running_berth(tmp_path) as first, running_berth(tmp_path) as second:
        # Given an upload started and given a first chunk on replica one
        start = admin.post(f"{first.url}/v2/library/spread/blobs/uploads/")
        assert start.status_code == 202
        location = start.headers["Location"]
        one = admin.patch(
            first.url + location, content=data[:1_000_000], headers={"Content-Range": "0-999999"}
        )
        assert one.status_code == 202
        # When replica two reports its status, takes the next chunk and the commit
        status = admin.get(second.url + location)
        assert status.status_code == 204
        assert status.headers["Range"] == "0-999999"
        two = admin.patch(
            second.url + location,
            content=data[1_000_000:2_000_000],
            headers={"Content-Range": "1000000-1999999"},
        )
        assert two.status_code == 202
        done = admin.put(first.url + location, params={"digest": digest}, content=data[2_000_000:])
        assert done.status_code == 201, done.text
        # Then both replicas serve the whole blob
        for server in (first, second):
            got = admin.get(f"{server.url}/v2/library/spread/blobs/{digest}")
            assert got.status_code == 200
            assert got.content == data


def push_image(base: str, repo: str, tag: str, layer: bytes) -> list[int]:
    """Push config + layer + manifest the way a client does; the statuses it got."""
    statuses = []
    config = b'{"architecture":"amd64","os":"linux"}'
    for blob in (config, layer):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        r = admin.post(f"{base}/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=blob)
        statuses.append(r.status_code)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = admin.put(
        f"{base}/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    statuses.append(r.status_code)
    return statuses


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_replicas_racing_on_the_same_repositories_and_tags_all_succeed(
    tmp_path: Path, backend: str
) -> None:
    with postgres_database() if backend == "postgres" else nullcontext("") as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        env = {"BERTH_DATABASE_URL": url} if url else {}
        with running_berth(tmp_path, env) as first, running_berth(tmp_path, env) as second:
            # Given 8 clients on two replicas pushing into the same new repositories and tags
            jobs = [
                (
                    (first, second)[i % 2].url,
                    f"library/race{i % 3}",
                    f"t{i % 4}",
                    bytes([i % 5]) * 999,
                )
                for i in range(48)
            ]
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda job: push_image(*job), jobs))
            # Then every request succeeded and each repository lists its tags
            assert all(status in (201, 202) for statuses in results for status in statuses), results
            tags = admin.get(f"{second.url}/v2/library/race0/tags/list").json()["tags"]
            assert sorted(tags) == ["t0", "t1", "t2", "t3"]
