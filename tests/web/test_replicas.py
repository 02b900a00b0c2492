"""Two Berth processes on one data folder: any replica takes the next chunk of any upload."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from tests.support import running_berth


def test_upload_started_on_one_replica_finishes_on_another(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with running_berth(tmp_path) as first, running_berth(tmp_path) as second:
        # Given an upload started and given a first chunk on replica one
        start = httpx.post(f"{first.url}/v2/library/spread/blobs/uploads/")
        assert start.status_code == 202
        location = start.headers["Location"]
        one = httpx.patch(
            first.url + location, content=data[:1_000_000], headers={"Content-Range": "0-999999"}
        )
        assert one.status_code == 202
        # When replica two reports its status, takes the next chunk and the commit
        status = httpx.get(second.url + location)
        assert status.status_code == 204
        assert status.headers["Range"] == "0-999999"
        two = httpx.patch(
            second.url + location,
            content=data[1_000_000:2_000_000],
            headers={"Content-Range": "1000000-1999999"},
        )
        assert two.status_code == 202
        done = httpx.put(first.url + location, params={"digest": digest}, content=data[2_000_000:])
        assert done.status_code == 201, done.text
        # Then both replicas serve the whole blob
        for server in (first, second):
            got = httpx.get(f"{server.url}/v2/library/spread/blobs/{digest}")
            assert got.status_code == 200
            assert got.content == data
