"""Docker Content Trust enforcement seen by the docker CLI (content trust off on the
client): from a project with enable_content_trust, docker pulls an image whose tag the
trust data signs and is refused one it does not sign, with Harbor's message in its output.
The trust data is recorded as the Notary server records it (a trust_target row)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.signing_support import oci_layout, project_with
from tests.peers import Docker, Skopeo
from tests.support import RunningBerth, run_sql

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("berth_only")]

NOT_SIGNED = "The image is not signed in Notary."


def signed_in_notary(server: RunningBerth, repo: str, tag: str, digest: str) -> None:
    run_sql(
        server,
        "INSERT INTO trust_target (repository, gun, tag, digest, length, role, expires)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        repo, f"{server.host}/{repo}", tag, digest, 1000, "targets", int(time.time()) + 3600,
    )  # fmt: skip


def test_docker_pulls_a_signed_image_and_is_refused_an_unsigned_one(
    registry: RunningBerth, skopeo: Skopeo, docker: Docker, tmp_path: Path
) -> None:
    # Given a project with content trust on, an image whose tag is signed and one unsigned
    project = project_with(registry, {"enable_content_trust": "true"}, prefix="dct-docker")
    repo = f"{project}/app"
    ref = f"{registry.host}/{repo}"
    digests = {}
    for tag in ("signed", "unsigned"):
        digests[tag] = oci_layout(tmp_path / tag, tag)
        copy = ["copy", "--dest-tls-verify=false", f"oci:{tmp_path / tag}:{tag}"]
        skopeo(*copy, f"docker://{ref}:{tag}")
    signed_in_notary(registry, repo, "signed", digests["signed"])
    # When docker pulls each, without content trust of its own
    docker.env.pop("DOCKER_CONTENT_TRUST", None)
    good = docker("pull", f"{ref}:signed", check=False)
    bad = docker("pull", f"{ref}:unsigned", check=False)
    # Then the signed one is pulled under its digest, and the unsigned one refused with
    # Harbor's message in docker's output
    try:
        assert good.returncode == 0, good.stderr
        assert f"{ref}@{digests['signed']}" in docker.repo_digests(f"{ref}:signed")
        assert bad.returncode != 0, bad.stdout
        assert NOT_SIGNED in bad.stderr, bad.stderr
    finally:
        if good.returncode == 0:
            docker.remove(f"{ref}:signed")
