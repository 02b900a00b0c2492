"""Enforcement fed by Berth's own Notary server, on a real server (SQLite and PostgreSQL):
trust data published through the trust API signs a tag, and from then on that tag is
served under enable_content_trust, shown signed, and kept from deletion; once the trust
data is deleted through the same API, the tag is neither served nor kept."""

from __future__ import annotations

import httpx

from signer import tuf
from tests.content_trust.support import NOT_SIGNED, SIGNED_DELETE
from tests.factories import (
    ADMIN,
    OCI_MANIFEST,
    admin_client,
    artifact_url,
    message,
    new_project,
    pull_manifest,
    push_image,
    registry_client,
)
from tests.support import RunningBerth
from tests.trust import tufmaker
from tests.trust.tufmaker import Repo


class TrustApi:
    """The trust API of one GUN as the admin, the way a Notary client reaches it: a token
    for the notary service with every right on the GUN."""

    def __init__(self, server: RunningBerth, gun: str) -> None:
        answer = httpx.get(
            f"{server.url}/service/token",
            params={"service": "berth-notary", "scope": f"repository:{gun}:pull,push,*"},
            auth=ADMIN,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        headers = {"Authorization": f"Bearer {answer.json()['token']}"}
        self.http = httpx.Client(base_url=f"{server.url}/v2/{gun}/_trust", headers=headers)

    def owner(self, gun: str) -> Repo:
        """The GUN's owner, knowing the keys the server signs its timestamp and snapshot with."""
        repo = Repo(gun)
        repo.timestamp, repo.snapshot = self.key("timestamp"), self.key("snapshot")
        return repo

    def key(self, role: str) -> tuf.PublicKey:
        answer = self.http.get(f"/tuf/{role}.key")
        assert answer.status_code == 200, answer.text
        return tuf.parse_key(answer.json())

    def publish(self, parts: dict[str, bytes]) -> None:
        body, content_type = tufmaker.multipart(parts)
        answer = self.http.post("/tuf/", content=body, headers={"Content-Type": content_type})
        assert answer.status_code == 200, answer.text

    def delete(self) -> None:
        answer = self.http.delete("/tuf/")
        assert answer.status_code == 200, answer.text


def statuses(server: RunningBerth, repo: str, *references: str) -> dict[str, int]:
    return {ref: pull_manifest(server, repo, ref).status_code for ref in references}


def test_trust_data_published_through_notary_decides_pulls_and_deletes(
    berth_server: RunningBerth,
) -> None:
    # Given a project enforcing content trust, with two tags of one image
    _, project = new_project(berth_server, prefix="dct-notary")
    repo = f"{project}/app"
    digest = push_image(berth_server, repo, "v1")
    manifest = pull_manifest(berth_server, repo, "v1").content
    with registry_client(berth_server) as registry:
        again = registry.put(
            f"/v2/{repo}/manifests/v2", content=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
        assert again.status_code == 201, again.text
    with admin_client(berth_server) as admin:
        on = admin.put(f"/projects/{project}", json={"metadata": {"enable_content_trust": "true"}})
    assert on.status_code == 200, on.text
    assert statuses(berth_server, repo, "v1", "v2", digest) == {"v1": 412, "v2": 412, digest: 412}
    # When the owner publishes trust data signing v1 through Berth's Notary API
    gun = f"{berth_server.host}/{repo}"
    trust = TrustApi(berth_server, gun)
    owner = trust.owner(gun)
    owner.tags["v1"] = manifest
    trust.publish({"root": owner.root(), "targets": owner.targets()})
    # Then v1 and its digest are served, v2 is still refused with Harbor's message
    assert statuses(berth_server, repo, "v1", "v2", digest) == {"v1": 200, "v2": 412, digest: 200}
    assert message(pull_manifest(berth_server, repo, "v2")) == NOT_SIGNED
    # And the artifacts API shows v1 signed, v2 not
    with registry_client(berth_server) as client:
        tags = client.get(artifact_url(repo, digest)).json()["tags"]
        assert {t["name"]: t["signed"] for t in tags} == {"v1": True, "v2": False}
        # And v1 is not deleted, while v2 may go
        kept = client.delete(f"/v2/{repo}/manifests/v1")
        assert (kept.status_code, message(kept)) == (412, SIGNED_DELETE)
        assert client.delete(f"/v2/{repo}/manifests/v2").status_code == 202
        # When the trust data is deleted through the Notary API
        trust.delete()
        # Then v1 is refused, and may be deleted
        assert statuses(berth_server, repo, "v1") == {"v1": 412}
        assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 202
