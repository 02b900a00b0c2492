"""Docker Content Trust over a manifest first pushed by a sha512 digest, then by tag, in
Berth's own process on SQLite and PostgreSQL. Trust data signs a tag with the sha256 of the
manifest's bytes; the registry knows that manifest by its sha512 first, so the pull by tag
and the deletes must match the signature against every digest the manifest is known by."""

from __future__ import annotations

import hashlib

from tests.content_trust.support import SIGNED_DELETE, pull, sign, switch
from tests.factories import (
    OCI_MANIFEST,
    AppApi,
    app_project,
    artifact_url,
    config_blob,
    image_manifest,
    sha256,
)
from tests.support import InProcessBerth


async def sha512_then_tagged(berth: InProcessBerth, repo: str, tag: str) -> tuple[str, str]:
    """An image PUT by its sha512 digest, then by tag; (its sha256, its sha512)."""
    api = AppApi(berth)
    config = config_blob(tag)
    blob = await api.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(config)}", data=config)
    assert blob.status_code == 201, blob.text
    body = image_manifest(config)
    sha512 = "sha512:" + hashlib.sha512(body).hexdigest()
    headers = {"Content-Type": OCI_MANIFEST}
    for reference in (sha512, tag):
        put = await api.put(f"/v2/{repo}/manifests/{reference}", data=body, headers=headers)
        assert put.status_code == 201, put.text
        assert put.headers["Docker-Content-Digest"] == sha512
    return sha256(body), sha512


async def test_a_tag_on_a_manifest_first_pushed_by_sha512_is_served_when_signed(
    in_process: InProcessBerth,
) -> None:
    # Given a project enforcing content trust, an image first pushed by sha512 then tagged
    # v1, whose trust data signs v1 with the image's sha256; and one tagged but unsigned
    _, project = await app_project(in_process, prefix="dct-sha512")
    repo = f"{project}/app"
    signed, sha512 = await sha512_then_tagged(in_process, repo, "v1")
    await sign(repo, "v1", signed)
    await sha512_then_tagged(in_process, repo, "unsigned")
    await switch(in_process, project, True)
    # When the tags, and the signed one by the digest trust data names, are pulled
    got = {ref: (await pull(in_process, repo, ref)).status_code for ref in ("v1", signed)}
    unsigned = (await pull(in_process, repo, "unsigned")).status_code
    # Then the signed tag and digest are served, the unsigned tag is not
    assert got == {"v1": 200, signed: 200}
    assert unsigned == 412
    # And the artifacts API, which names the artifact by its sha512, shows v1 as signed
    artifact = await AppApi(in_process).get(artifact_url(repo, "v1"))
    assert artifact.status_code == 200, artifact.text
    assert artifact.json()["digest"] == sha512
    assert [(t["name"], t["signed"]) for t in artifact.json()["tags"]] == [("v1", True)]


async def test_a_signed_manifest_is_not_deleted_by_its_other_digest(
    in_process: InProcessBerth,
) -> None:
    # Given an image first pushed by sha512, its tag v1 signed with its sha256
    _, project = await app_project(in_process, prefix="dct-sha512-del")
    repo = f"{project}/app"
    signed, sha512 = await sha512_then_tagged(in_process, repo, "v1")
    await sign(repo, "v1", signed)
    api = AppApi(in_process)
    # When it is deleted by its sha512, through the registry's API and Harbor's
    answers = [
        await api.delete(f"/v2/{repo}/manifests/{sha512}"),
        await api.delete(artifact_url(repo, sha512)),
    ]
    # Then both are refused: deleting by any digest would delete what the tag signs
    assert [(a.status_code, a.json()["errors"][0]["message"]) for a in answers] == [
        (412, SIGNED_DELETE)
    ] * 2
    assert (await pull(in_process, repo, "v1")).status_code == 200
