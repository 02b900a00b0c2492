"""Deleting what Docker Content Trust signs, in Berth's own process on SQLite and
PostgreSQL: as Harbor, a tag that trust data signs (with the digest it is on), and an
artifact such a tag names, are not deleted through any API until the signature is removed
— whether or not the project enforces content trust, since the signature exists either way."""

from __future__ import annotations

from models import AuditEvent
from tests.content_trust.support import SIGNED_DELETE, pull, sign, unsign
from tests.factories import Answer, AppApi, app_image, app_project, artifact_url, repository_url
from tests.support import InProcessBerth


async def signed_image(berth: InProcessBerth, prefix: str) -> tuple[str, str, str]:
    """A project (content trust off) whose image's tag v1 is signed; (project, repo, digest)."""
    _, project = await app_project(berth, prefix=prefix)
    repo = f"{project}/app"
    digest = await app_image(berth, repo, "v1")
    await sign(repo, "v1", digest)
    return project, repo, digest


def deletes(repo: str, digest: str) -> dict[str, str]:
    """Every way to delete the signed tag v1 or its artifact, by API: name -> path."""
    return {
        "v2 manifest by tag": f"/v2/{repo}/manifests/v1",
        "v2 manifest by digest": f"/v2/{repo}/manifests/{digest}",
        "api tag": f"{artifact_url(repo, digest)}/tags/v1",
        "api artifact by tag": artifact_url(repo, "v1"),
        "api artifact by digest": artifact_url(repo, digest),
        "api repository": repository_url(repo),
    }


def refusal(answer: Answer) -> tuple[int, str, str]:
    error = answer.json()["errors"][0] if answer.content else {}
    return answer.status_code, error.get("code", ""), error.get("message", "")


async def test_a_signed_tag_and_its_artifact_are_deleted_through_no_api(
    in_process: InProcessBerth,
) -> None:
    # Given an image whose tag is signed, in a project that does not enforce content trust
    _, repo, digest = await signed_image(in_process, "dct-del")
    api = AppApi(in_process)
    # When it is deleted through each API: the registry's, Harbor's tag, artifact and
    # repository deletes
    answers = {
        name: refusal(await api.delete(path)) for name, path in deletes(repo, digest).items()
    }
    # Then each is refused with 412 and why, in its protocol's envelope
    refused = (412, "PRECONDITION", SIGNED_DELETE)
    assert answers == dict.fromkeys(deletes(repo, digest), refused)
    # And the image is still there under its tag
    assert (await pull(in_process, repo, "v1")).status_code == 200


async def test_a_refused_delete_is_audited(in_process: InProcessBerth) -> None:
    # Given an image whose tag is signed
    project, repo, _ = await signed_image(in_process, "dct-del-audit")
    # When the tag is deleted through the registry API
    answer = await AppApi(in_process).delete(f"/v2/{repo}/manifests/v1")
    # Then a failed delete of the tag is on the audit log, saying why
    assert answer.status_code == 412
    events = await AuditEvent.filter(project=project, operation="delete").values(
        "resource_type", "resource", "success", "description"
    )
    assert events == [
        {
            "resource_type": "tag",
            "resource": f"{repo}:v1",
            "success": False,
            "description": SIGNED_DELETE,
        }
    ]


async def test_once_its_signature_is_removed_a_tag_is_deleted(in_process: InProcessBerth) -> None:
    # Given an image whose tag was signed, its signature since removed from the trust data
    _, repo, digest = await signed_image(in_process, "dct-del-unsigned")
    await unsign(repo, "v1")
    api = AppApi(in_process)
    # When the tag and then the artifact are deleted
    tag = await api.delete(f"{artifact_url(repo, digest)}/tags/v1")
    artifact = await api.delete(f"/v2/{repo}/manifests/{digest}")
    # Then both go
    assert (tag.status_code, artifact.status_code) == (200, 202), (tag.text, artifact.text)
    assert (await pull(in_process, repo, digest)).status_code == 404


async def test_a_tag_no_longer_on_its_signed_digest_or_expired_is_deleted(
    in_process: InProcessBerth,
) -> None:
    # Given a signed tag pushed again to another image, and a tag whose signature expired
    _, repo, signed = await signed_image(in_process, "dct-del-moved")
    api = AppApi(in_process)
    other = await api.get(f"/v2/{repo}/manifests/{await app_image(in_process, repo, 'v2')}")
    headers = {"Content-Type": other.headers["Content-Type"]}
    assert (
        await api.put(f"/v2/{repo}/manifests/v1", data=other.content, headers=headers)
    ).status_code == 201
    await sign(repo, "old", await app_image(in_process, repo, "old"), expires_in=-1)
    # When both tags are deleted, and the digest the signature still names
    moved = await api.delete(f"/v2/{repo}/manifests/v1")
    expired = await api.delete(f"/v2/{repo}/manifests/old")
    still_signed = await api.delete(f"/v2/{repo}/manifests/{signed}")
    # Then the tags go (what they are on is not what the trust data signs), but the signed
    # digest stays: a client with content trust on pulls tag v1 by it
    assert (moved.status_code, expired.status_code) == (202, 202), (moved.text, expired.text)
    assert refusal(still_signed) == (412, "PRECONDITION", SIGNED_DELETE)
