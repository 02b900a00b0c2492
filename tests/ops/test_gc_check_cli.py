"""`berth gc --check [--repair]` against a serving Berth, as an operator runs it: exit status
1 while something is wrong, 0 once consistent or repaired, and clients then re-push."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import GZIP_LAYER, a_tar, push_layers, registry_client, settled, sha256
from tests.support import (
    RunningBerth,
    berth_cli,
    postgres_database,
    require,
    running_berth,
)

REPO = "library/checked"


@pytest.fixture(params=["sqlite", "postgres"])
def serving(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RunningBerth, dict[str, str]]]:
    """A serving Berth on a fresh database, and the environment its CLI needs."""
    if request.param == "sqlite":
        with running_berth(tmp_path) as server:
            yield server, {}
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        env = {"BERTH_DATABASE_URL": str(url)}
        with running_berth(tmp_path, env) as server:
            yield server, env


def blob_path(server: RunningBerth, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":")
    return server.data_dir / "storage" / "blobs" / algorithm / hex_digest[:2] / hex_digest


def gc_check(server: RunningBerth, env: dict[str, str], *args: str) -> tuple[int, str]:
    done = berth_cli(server.data_dir, env, "gc", "--check", *args)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def test_a_lost_layer_is_found_repaired_and_pushed_again(
    serving: tuple[RunningBerth, dict[str, str]],
) -> None:
    server, env = serving
    with registry_client(server) as client:
        manifest, (layer,) = push_layers(client, REPO, "v1", [GZIP_LAYER])
        assert settled(client, REPO, manifest)["verification"]["status"] == "verified"
        # Given a registry after real pushes: consistent
        code, report = gc_check(server, env)
        assert (code, report.splitlines()[-1]) == (0, "consistent"), report
        # When a layer's file is lost
        layer_bytes = blob_path(server, layer).read_bytes()
        blob_path(server, layer).unlink()
        # Then the check exits 1 naming the blob and the manifest that needs it
        code, report = gc_check(server, env)
        assert code == 1
        assert f"missing file of blob {layer}" in report
        assert f"named by {REPO}@{manifest}" in report
        # And repair exits 0; the client's HEAD now says 404, so it uploads the layer again
        code, report = gc_check(server, env, "--repair")
        assert code == 0, report
        assert client.head(f"/v2/{REPO}/blobs/{layer}").status_code == 404
        sent = client.post(
            f"/v2/{REPO}/blobs/uploads/", params={"digest": layer}, content=layer_bytes
        )
        assert sent.status_code == 201, sent.text
        assert client.head(f"/v2/{REPO}/blobs/{layer}").status_code == 200
        verification = settled(client, REPO, manifest)["verification"]
        assert (verification["status"], verification["reason"]) == (
            "failed",
            "blob missing from storage",
        )
    assert gc_check(server, env)[0] == 0


def test_an_old_orphan_file_fails_the_check_until_adopted(
    serving: tuple[RunningBerth, dict[str, str]],
) -> None:
    server, env = serving
    data = gzip.compress(a_tar(1000))
    path = blob_path(server, sha256(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    # A file without a row, younger than the grace period, is not a finding
    assert gc_check(server, env)[0] == 0
    old = time.time() - 3600
    os.utime(path, (old, old))
    code, report = gc_check(server, env)
    assert code == 1
    assert f"orphan file {sha256(data)} ({len(data)} bytes): found" in report
    code, report = gc_check(server, env, "--repair")
    assert (code, f"{sha256(data)} ({len(data)} bytes): adopted" in report) == (0, True)
    assert path.read_bytes() == data
    assert gc_check(server, env, "--grace-seconds", "0")[0] == 0


def test_a_refused_grace_is_a_usage_error(tmp_path: Path) -> None:
    done = berth_cli(tmp_path, {}, "gc", "--check", "--grace-seconds", "-1")
    assert done.returncode == 2


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--repair"], id="repair-without-check"),
        pytest.param(["--check", "--dry-run"], id="check-with-dry-run"),
        pytest.param(["--check", "--workers", "2"], id="check-with-workers"),
    ],
)
def test_options_that_do_not_go_together_are_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    done = berth_cli(tmp_path, {}, "gc", *args)
    assert done.returncode == 2
    assert "--" in done.stderr
