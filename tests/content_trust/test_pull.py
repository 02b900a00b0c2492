"""Docker Content Trust on pull, in Berth's own process on SQLite and PostgreSQL: a project
with enable_content_trust serves a tag only while its trust data signs that tag with the
very digest served, unexpired, and a digest only while some signed tag maps to it. A
refused pull is Harbor's 412, audited and counted."""

from __future__ import annotations

import json

from models import AuditEvent
from tests.content_trust.support import NOT_SIGNED, OCI_INDEX, pull, refused_pulls, sign, switch
from tests.factories import OCI_MANIFEST, AppApi, app_image, app_project, error_of, message, sha256
from tests.support import InProcessBerth


async def test_a_tag_is_served_only_while_signed_with_the_digest_served(
    in_process: InProcessBerth,
) -> None:
    # Given a project's images: one signed, one not, one whose tag is signed with another
    # digest, one whose signature expired, one signed only in another repository
    _, project = await app_project(in_process, prefix="dct")
    repo = f"{project}/app"
    await sign(repo, "signed", await app_image(in_process, repo, "signed"))
    unsigned = await app_image(in_process, repo, "unsigned")
    await app_image(in_process, repo, "other-digest")
    await sign(repo, "other-digest", unsigned)
    await sign(repo, "expired", await app_image(in_process, repo, "expired"), expires_in=-1)
    await sign(f"{project}/elsewhere", "unsigned", unsigned)
    # When content trust is switched on and each tag is pulled (GET and HEAD)
    await switch(in_process, project, True)
    tags = ("signed", "unsigned", "other-digest", "expired")
    got = {tag: (await pull(in_process, repo, tag)).status_code for tag in tags}
    heads = {tag: (await pull(in_process, repo, tag, "HEAD")).status_code for tag in tags}
    # Then only the tag signed with the digest served, unexpired, is served
    expected = {"signed": 200, "unsigned": 412, "other-digest": 412, "expired": 412}
    assert got == expected
    assert heads == expected
    # And the refusal is Harbor's, in the OCI error envelope
    refused = await pull(in_process, repo, "unsigned")
    assert error_of(refused) == "PROJECTPOLICYVIOLATION"
    assert message(refused) == NOT_SIGNED


async def test_a_digest_is_served_only_while_a_signed_tag_maps_to_it(
    in_process: InProcessBerth,
) -> None:
    # Given a project with content trust on: an image whose tag is signed, one never
    # signed, one signed only with an expired chain, one whose signed tag is now untagged
    _, project = await app_project(in_process, prefix="dct-digest")
    repo = f"{project}/app"
    signed = await app_image(in_process, repo, "signed")
    await sign(repo, "signed", signed)
    unsigned = await app_image(in_process, repo, "unsigned")
    expired = await app_image(in_process, repo, "expired")
    await sign(repo, "expired", expired, expires_in=-60)
    moved = await app_image(in_process, repo, "moved")
    await sign(repo, "moved", moved)
    await app_image(in_process, repo, "moved-elsewhere")
    await sign(repo, "gone", moved)  # a second signed tag on it, unknown to the registry
    await switch(in_process, project, True)
    # When each is pulled by digest
    digests = {"signed": signed, "unsigned": unsigned, "expired": expired, "moved": moved}
    got = {name: (await pull(in_process, repo, d)).status_code for name, d in digests.items()}
    # Then a digest that some unexpired signed tag names is served: a client with content
    # trust on resolves the tag in Notary and pulls by that digest
    assert got == {"signed": 200, "unsigned": 412, "expired": 412, "moved": 200}
    head = await pull(in_process, repo, unsigned, "HEAD")
    assert head.status_code == 412


async def test_a_tag_pushed_again_without_signing_is_refused(in_process: InProcessBerth) -> None:
    # Given a signed tag served under content trust, and another image in the repository
    _, project = await app_project(in_process, prefix="dct-repush")
    repo = f"{project}/app"
    first = await app_image(in_process, repo, "v1")
    await sign(repo, "v1", first)
    api = AppApi(in_process)
    other = await api.get(f"/v2/{repo}/manifests/{await app_image(in_process, repo, 'v2')}")
    await switch(in_process, project, True)
    assert (await pull(in_process, repo, "v1")).status_code == 200
    # When the other image is pushed to the same tag, without signing it
    put = await api.put(
        f"/v2/{repo}/manifests/v1",
        data=other.content,
        headers={"Content-Type": other.headers["Content-Type"]},
    )
    assert put.status_code == 201, put.text
    # Then the tag is refused (its signature names the old digest), and the old digest,
    # which the signature still names, is served
    assert (await pull(in_process, repo, "v1")).status_code == 412
    assert (await pull(in_process, repo, first)).status_code == 200


async def test_with_content_trust_off_everything_is_served(in_process: InProcessBerth) -> None:
    # Given a project without content trust, holding an unsigned image and one whose
    # signature expired
    _, project = await app_project(in_process, prefix="dct-off")
    repo = f"{project}/app"
    unsigned = await app_image(in_process, repo, "unsigned")
    await sign(repo, "expired", await app_image(in_process, repo, "expired"), expires_in=-1)
    # When they are pulled, with the setting never set and then set to false
    served = [(await pull(in_process, repo, r)).status_code for r in ("unsigned", unsigned)]
    await switch(in_process, project, True)
    await switch(in_process, project, False)
    served += [(await pull(in_process, repo, r)).status_code for r in ("unsigned", "expired")]
    # Then every pull is served
    assert served == [200, 200, 200, 200]


async def test_a_refused_pull_is_audited_and_counted(in_process: InProcessBerth) -> None:
    # Given a project with content trust on and an unsigned image
    _, project = await app_project(in_process, prefix="dct-audit")
    repo = f"{project}/app"
    digest = await app_image(in_process, repo, "v1")
    await switch(in_process, project, True)
    before = (await refused_pulls(in_process, "notary"), await refused_pulls(in_process, "cosign"))
    # When it is pulled
    refused = await pull(in_process, repo, "v1")
    # Then the pull is refused, a failed pull event names the artifact and why, and the
    # refused-pull counter of the notary policy went up by one (and only that one)
    assert refused.status_code == 412
    events = await AuditEvent.filter(project=project, operation="pull", success=False).values(
        "resource_type", "resource", "description"
    )
    assert events == [
        {"resource_type": "signature", "resource": f"{repo}:v1@{digest}", "description": NOT_SIGNED}
    ]
    after = (await refused_pulls(in_process, "notary"), await refused_pulls(in_process, "cosign"))
    assert after == (before[0] + 1, before[1])


async def test_a_platform_manifest_is_served_through_its_signed_index(
    in_process: InProcessBerth,
) -> None:
    # Given a multi-platform tag whose index is signed, and an index that is not
    _, project = await app_project(in_process, prefix="dct-index")
    repo = f"{project}/app"
    api = AppApi(in_process)
    children = [await app_image(in_process, repo, arch) for arch in ("amd64", "arm64", "s390x")]
    sizes = [len((await api.get(f"/v2/{repo}/manifests/{d}")).content) for d in children]
    signed = await push_index(api, repo, "multi", list(zip(children[:2], sizes[:2], strict=True)))
    await push_index(api, repo, "other", [(children[2], sizes[2])])
    await sign(repo, "multi", signed)
    await switch(in_process, project, True)
    # When the tag and each platform's manifest are pulled, as a client pulls them
    got = {ref: (await pull(in_process, repo, ref)).status_code for ref in ("multi", *children)}
    # Then the signed index and its children are served; the other index's child is not
    assert got == {"multi": 200, children[0]: 200, children[1]: 200, children[2]: 412}
    assert (await pull(in_process, repo, "other")).status_code == 412


async def push_index(api: AppApi, repo: str, tag: str, children: list[tuple[str, int]]) -> str:
    """An OCI index of children (digest, size) under tag; its digest."""
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d, "size": n, "platform": {"os": "linux"}}
                for d, n in children
            ],
        }
    ).encode()
    put = await api.put(
        f"/v2/{repo}/manifests/{tag}", data=body, headers={"Content-Type": OCI_INDEX}
    )
    assert put.status_code == 201, put.text
    return sha256(body)
