"""The Docker engine: two images sharing a base, one deleted through the REST API, a
collection - the other still pulls and runs, and storage shrank by exactly the deleted
image's own bytes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gc.registry_client import client, collect_now
from tests.gc.support import blob_files
from tests.peers import Docker
from tests.support import ADMIN, RunningBerth, assert_log_clean, require, running_berth_with

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningBerth]:
    with running_berth_with("sqlite", tmp_path / "data", {"BERTH_GC__WINDOW_SECONDS": "0"}) as s:
        yield s
    assert_log_clean(s.log, during="the docker test")


def contexts(root: Path) -> tuple[Path, Path, Path]:
    """Build contexts: a busybox base (FROM scratch), and two images FROM it, each adding a
    file of its own."""
    busybox = Path("/bin/busybox")
    require(busybox.is_file(), "a static /bin/busybox is needed (package busybox-static)")
    base = root / "base"
    (base / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy2(busybox, base / "rootfs" / "bin" / "busybox")
    for applet in ("sh", "cat"):
        (base / "rootfs" / "bin" / applet).symlink_to("busybox")
    (base / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nCMD ["sh"]\n')
    made = []
    for name in ("one", "two"):
        context = root / name
        context.mkdir()
        (context / "own.bin").write_bytes(os.urandom(512 * 1024))
        (context / "name.txt").write_text(f"image {name}\n")
        (context / "Dockerfile").write_text(
            "FROM berth-gc-base:1\nCOPY own.bin /own.bin\nCOPY name.txt /name.txt\n"
        )
        made.append(context)
    return base, made[0], made[1]


def blobs_of(http: httpx.Client, repo: str, tag: str) -> tuple[str, dict[str, int]]:
    """The manifest digest, and digest -> size of the config and layers it names."""
    accept = {"Accept": f"{DOCKER_MANIFEST}, {OCI_MANIFEST}"}
    got = http.get(f"/v2/{repo}/manifests/{tag}", headers=accept)
    assert got.status_code == 200, got.text
    doc = got.json()
    named = {doc["config"]["digest"]: doc["config"]["size"]}
    named.update({layer["digest"]: layer["size"] for layer in doc["layers"]})
    return got.headers["Docker-Content-Digest"], named


def test_deleting_one_of_two_images_frees_its_own_layers_only(
    dockerd: Docker, server: RunningBerth, tmp_path: Path
) -> None:
    docker = dockerd
    docker.login(server.host, *ADMIN)
    base, one, two = contexts(tmp_path / "contexts")
    refs = {name: f"{server.host}/library/gc-{name}:1" for name in ("one", "two")}
    # Given two images pushed that share their busybox base layer
    docker.build(base, "berth-gc-base:1")
    docker.build(one, refs["one"])
    built_two = docker.build(two, refs["two"])
    docker.push(refs["one"])
    docker.push(refs["two"])
    storage = server.data_dir / "storage"
    with client(server.url) as http:
        digest_one, blobs_one = blobs_of(http, "library/gc-one", "1")
        _digest_two, blobs_two = blobs_of(http, "library/gc-two", "1")
        assert set(blobs_one) & set(blobs_two), "the images share no layer"
        own_bytes = sum(size for d, size in blobs_one.items() if d not in blobs_two)
        assert collect_now(http)["job_status"] == "Success"  # nothing unreferenced is left
        before = sum(blob_files(storage).values())
        # When one is deleted through the REST API and a collection runs
        gone = http.delete(f"/api/v2.0/projects/library/repositories/gc-one/artifacts/{digest_one}")
        assert gone.status_code == 200, gone.text
        assert collect_now(http)["job_status"] == "Success"
    # Then storage shrank by exactly the bytes only the deleted image had
    after = blob_files(storage)
    assert before - sum(after.values()) == own_bytes
    assert set(blobs_two) <= set(after)
    # And the other image, gone from the engine, pulls and runs
    docker.remove(refs["one"], refs["two"], "berth-gc-base:1")
    docker("pull", refs["two"])
    assert docker.image_id(refs["two"]) == built_two
    run = docker("run", "--rm", "--network", "none", refs["two"], "cat", "/name.txt")
    assert run.stdout == "image two\n"
