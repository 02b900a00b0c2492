"""Docker Content Trust with the real Docker CLI (Debian's docker.io, ≤ 28, which still signs
on push) against Berth over HTTPS, its own CA installed where Docker looks for it: the
daemon's /etc/docker/certs.d/HOST:PORT/ca.crt and the CLI's $DOCKER_CONFIG/tls/HOST:PORT/.
`DOCKER_CONTENT_TRUST=1 docker push` signs (the root and repository keys made on the spot,
their passphrases from the environment), `docker pull` verifies and pulls the signed
digest, `docker trust inspect` shows the signer; with the project's `enable_content_trust`
on, Berth itself refuses what its trust data does not sign, whatever the client checks."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import unique
from tests.peers import Docker
from tests.support import ADMIN, RunningBerth, assert_log_clean, running_berth

pytestmark = pytest.mark.e2e

PASSPHRASES = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": "root-passphrase-1",
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": "repository-passphrase-1",
}


@pytest.fixture(scope="module")
def trust_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """A Berth serving HTTPS from its own CA, which the session's dockerd trusts."""
    with running_berth(tmp_path_factory.mktemp("content-trust"), tls="self-signed") as server:
        assert server.ca is not None
        certs = Path("/etc/docker/certs.d") / server.host
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.ca, certs / "ca.crt")
        try:
            yield server
        finally:
            shutil.rmtree(certs, ignore_errors=True)
    assert_log_clean(server.log, during="the content trust tests")


@pytest.fixture
def trusting(dockerd: Docker, trust_server: RunningBerth, tmp_path: Path) -> Docker:
    """The docker CLI with a config of its own (its trust keys, the CA for the trust server)
    and the trust server named, signed in as the admin. Content trust is switched on per
    command (DOCKER_CONTENT_TRUST=1) by the tests."""
    assert trust_server.ca is not None
    config = tmp_path / "docker-config"
    (config / "tls" / trust_server.host).mkdir(parents=True)
    shutil.copy(trust_server.ca, config / "tls" / trust_server.host / "ca.crt")
    env = {
        **dockerd.env,
        "DOCKER_CONFIG": str(config),
        "DOCKER_CONTENT_TRUST_SERVER": trust_server.url,
        **PASSPHRASES,
    }
    docker = Docker(env)
    docker.login(trust_server.host, *ADMIN)
    return docker


def with_trust(docker: Docker) -> Docker:
    return Docker({**docker.env, "DOCKER_CONTENT_TRUST": "1"})


def test_a_trusted_push_signs_and_a_trusted_pull_verifies(
    trusting: Docker, trust_server: RunningBerth, busybox_context: Path
) -> None:
    # Given an image built here
    ref = f"{trust_server.host}/library/{unique('dct')}:1"
    trusting.build(busybox_context, ref)
    # When it is pushed with content trust on
    pushed = with_trust(trusting)("push", ref)
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed.stdout)
    assert digest and "Successfully signed" in pushed.stdout, pushed.stdout + pushed.stderr
    # Then a pull with content trust on resolves the tag through the trust data and pulls
    # exactly the signed digest
    trusting.remove(ref)
    pulled = with_trust(trusting)("pull", ref)
    assert f"@{digest.group(1)}" in pulled.stdout, pulled.stdout
    assert trusting.repo_digests(ref) == [f"{ref.rsplit(':', 1)[0]}@{digest.group(1)}"]
    # And `docker trust inspect` shows the tag signed with that digest, by the repository key
    inspected = json.loads(trusting("trust", "inspect", ref.rsplit(":", 1)[0]).stdout)
    signed = inspected[0]["SignedTags"]
    assert [(s["SignedTag"], "sha256:" + s["Digest"]) for s in signed] == [("1", digest.group(1))]
    assert {k["Name"] for k in inspected[0]["AdministrativeKeys"]} == {"Root", "Repository"}


def test_a_trusting_client_refuses_an_unsigned_tag(
    trusting: Docker, trust_server: RunningBerth, busybox_context: Path
) -> None:
    # Given a repository with a signed tag and a tag pushed without signing
    repo = f"{trust_server.host}/library/{unique('dct')}"
    trusting.build(busybox_context, f"{repo}:signed")
    with_trust(trusting)("push", f"{repo}:signed")
    trusting("tag", f"{repo}:signed", f"{repo}:unsigned")
    trusting("push", f"{repo}:unsigned")
    # When a client with content trust on pulls the unsigned tag
    refused = with_trust(trusting)("pull", f"{repo}:unsigned", check=False)
    # Then the client refuses it for want of trust data
    assert refused.returncode != 0
    assert "No valid trust data for unsigned" in refused.stderr, refused.stderr


def test_a_project_enforcing_content_trust_serves_only_what_its_trust_data_signs(
    trusting: Docker, trust_server: RunningBerth, busybox_context: Path, tmp_path: Path
) -> None:
    # Given a project that enforces content trust, with a signed and an unsigned tag
    project = unique("enforced")
    with httpx.Client(
        base_url=f"{trust_server.url}/api/v2.0", auth=ADMIN, verify=trust_server.verify
    ) as admin:
        created = admin.post("/projects", json={"project_name": project, "public": True})
        enforced = admin.put(
            f"/projects/{project}", json={"metadata": {"enable_content_trust": "true"}}
        )
    assert (created.status_code, enforced.status_code) == (201, 200), enforced.text
    repo = f"{trust_server.host}/{project}/app"
    trusting.build(busybox_context, f"{repo}:signed")
    with_trust(trusting)("push", f"{repo}:signed")
    trusting("tag", f"{repo}:signed", f"{repo}:unsigned")
    trusting("push", f"{repo}:unsigned")
    trusting.remove(f"{repo}:signed", f"{repo}:unsigned")
    # When a client with content trust off pulls both
    signed = trusting("pull", f"{repo}:signed", check=False)
    unsigned = trusting("pull", f"{repo}:unsigned", check=False)
    # Then the signed tag pulls and the unsigned one is refused with Harbor's message
    assert signed.returncode == 0, signed.stderr
    assert unsigned.returncode != 0
    assert "The image is not signed in Notary." in unsigned.stderr, unsigned.stderr
    # And a signed tag pushed again to another digest without signing is refused too
    other = tmp_path / "other"
    shutil.copytree(busybox_context, other)
    (other / "Dockerfile").write_text((other / "Dockerfile").read_text() + "LABEL other=1\n")
    trusting.build(other, f"{repo}:signed")
    trusting("push", f"{repo}:signed")
    trusting.remove(f"{repo}:signed")
    moved = trusting("pull", f"{repo}:signed", check=False)
    assert moved.returncode != 0
    assert "The image is not signed in Notary." in moved.stderr, moved.stderr
