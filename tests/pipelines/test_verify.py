"""Deep verification after a push, and the scrub job, on a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import (
    DOCKER_GZIP_LAYER,
    GZIP_LAYER,
    OCI_CONFIG,
    OCI_MANIFEST,
    TAR_LAYER,
    ZSTD_LAYER,
    a_tar,
    push_blob,
    push_layers,
    registry_client,
    settled,
    sha256,
)
from tests.support import REPO_ROOT, RunningBerth, postgres_database, require, running_berth

# --- helpers ---------------------------------------------------------------------------------


def new_repo(prefix: str = "verify") -> str:
    return f"library/{prefix}-{uuid.uuid4().hex[:8]}"


# --- verification after a push --------------------------------------------------------------


@pytest.mark.parametrize(
    "layer_types",
    [
        pytest.param([GZIP_LAYER, GZIP_LAYER], id="oci-gzip"),
        pytest.param([DOCKER_GZIP_LAYER], id="docker-gzip"),
        pytest.param([ZSTD_LAYER], id="zstd"),
        pytest.param([TAR_LAYER, ZSTD_LAYER, GZIP_LAYER], id="mixed"),
    ],
)
def test_a_sound_image_becomes_verified(berth_server: RunningBerth, layer_types: list[str]) -> None:
    # Given an image whose layers decompress to the config's diff_ids
    repo = new_repo()
    with registry_client(berth_server) as client:
        digest, _ = push_layers(client, repo, "v1", layer_types)
        # When the push pipeline has run
        artifact = settled(client, repo, digest)
    # Then the artifact is verified
    assert artifact["verification"]["status"] == "verified", artifact["verification"]
    assert artifact["verification"]["reason"] is None
    assert artifact["verification"]["verified_at"]


def test_diff_ids_that_do_not_match_the_layers_fail_verification(
    berth_server: RunningBerth,
) -> None:
    # Given an image whose config names a wrong diff_id for its second layer
    repo = new_repo()
    wrong = sha256(b"not this layer")
    with registry_client(berth_server) as client:
        tar = a_tar()
        tars, diff_ids = [tar, a_tar()], [sha256(tar), wrong]
        digest, layers = push_layers(client, repo, "bad", [GZIP_LAYER] * 2, tars, diff_ids)
        # When the push pipeline has run
        artifact = settled(client, repo, digest)
    # Then verification failed, naming the layer
    assert artifact["verification"]["status"] == "failed"
    assert layers[1] in artifact["verification"]["reason"]
    assert "diff_id" in artifact["verification"]["reason"]


def test_a_layer_that_is_not_gzip_fails_verification(berth_server: RunningBerth) -> None:
    # Given a layer that claims gzip but is a plain tar
    repo = new_repo()
    tar = a_tar()
    with registry_client(berth_server) as client:
        layer = {"mediaType": GZIP_LAYER, **push_blob(client, repo, tar)}
        config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha256(tar)]}}).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **push_blob(client, repo, config)},
            "layers": [layer],
        }
        body = json.dumps(manifest).encode()
        assert client.put(f"/v2/{repo}/manifests/v1", content=body).status_code == 201
        # When it has been verified
        artifact = settled(client, repo, sha256(body))
    # Then it failed because the layer does not decompress
    assert artifact["verification"]["status"] == "failed"
    assert "does not decompress" in artifact["verification"]["reason"]


# --- scrub ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def own_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningBerth]:
    """A server of this test's own: the test edits its storage behind its back."""
    if request.param == "sqlite":
        with running_berth(tmp_path / "data") as server:
            yield server
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        env = {"BERTH_DATABASE_URL": str(url)}
        with running_berth(tmp_path / "data", env) as server:
            server.env = env  # type: ignore[attr-defined]
            yield server


def test_scrub_catches_a_layer_altered_on_disk(own_server: RunningBerth) -> None:
    # Given a verified image
    repo = new_repo("scrub")
    with registry_client(own_server) as client:
        digest, layers = push_layers(client, repo, "v1", [GZIP_LAYER])
        assert settled(client, repo, digest)["verification"]["status"] == "verified"
        # ... whose layer's stored bytes then change on disk
        hex_digest = layers[0].split(":", 1)[1]
        path = own_server.data_dir / "storage/blobs/sha256" / hex_digest[:2] / hex_digest
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        # When an operator runs a scrub
        env = {**os.environ, **getattr(own_server, "env", {})}
        ran = subprocess.run(
            [sys.executable, "-m", "ops.cli", "scrub", "--data-dir", str(own_server.data_dir)]
            + ["--rate", "0"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.returncode == 0, ran.stderr
        # Then the artifacts API shows the image failed, naming the blob
        artifact = settled(client, repo, digest, until="failed")
    assert artifact["verification"]["status"] == "failed"
    assert artifact["verification"]["reason"] == (
        f"blob {layers[0]} content no longer matches its digest"
    )
