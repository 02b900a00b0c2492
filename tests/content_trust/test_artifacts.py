"""The artifacts API tells which tags Docker Content Trust signs (Harbor's Tag.signed), in
Berth's own process on SQLite and PostgreSQL: signed only with the very digest the tag is
on, unexpired."""

from __future__ import annotations

from tests.content_trust.support import sign
from tests.factories import AppApi, app_image, app_project, artifact_url
from tests.support import InProcessBerth


async def test_each_tag_says_whether_content_trust_signs_it(in_process: InProcessBerth) -> None:
    # Given an image tagged signed, unsigned, expired (its signature has), and a tag
    # signed with another image's digest
    _, project = await app_project(in_process, prefix="dct-api")
    repo = f"{project}/app"
    api = AppApi(in_process)
    digest = await app_image(in_process, repo, "signed")
    manifest = await api.get(f"/v2/{repo}/manifests/signed")
    headers = {"Content-Type": manifest.headers["Content-Type"]}
    for tag in ("unsigned", "expired", "elsewhere"):
        put = await api.put(f"/v2/{repo}/manifests/{tag}", data=manifest.content, headers=headers)
        assert put.status_code == 201, put.text
    await sign(repo, "signed", digest)
    await sign(repo, "expired", digest, expires_in=-1)
    await sign(repo, "elsewhere", await app_image(in_process, repo, "another"))
    # When its artifact is read and listed, with and without Harbor's with_signature
    one = await api.get(artifact_url(repo, digest))
    listed = await api.get(artifact_url(repo, "").rstrip("/"), params={"with_signature": "true"})
    bad = await api.get(artifact_url(repo, digest), params={"with_signature": "maybe"})
    # Then only the tag signed with its digest, unexpired, is signed
    expected = {"elsewhere": False, "expired": False, "signed": True, "unsigned": False}
    assert one.status_code == 200, one.text
    assert {t["name"]: t["signed"] for t in one.json()["tags"]} == expected
    [listed_item] = [a for a in listed.json() if a["digest"] == digest]
    assert {t["name"]: t["signed"] for t in listed_item["tags"]} == expected
    # And a with_signature that is no boolean is refused, naming it
    assert bad.status_code == 400 and "with_signature" in bad.text
