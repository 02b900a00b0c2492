"""Signatures made elsewhere, pushed to a real server (SQLite and PostgreSQL) the way
cosign, skopeo and notation store them, under a project that serves only signed artifacts:
each is served when it verifies with a key the project trusts over the very digest, and
refused with the reason when not; trusting or removing a key changes the verdict at once."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.factories import (
    ADMIN,
    OCI_MANIFEST,
    admin_client,
    error_of,
    new_project,
    pull_manifest,
    push_blob,
    push_image,
    registry_client,
)
from tests.signing import makers
from tests.signing.test_enforcement import ENFORCE, accessories, set_metadata
from tests.support import RunningBerth


def trust(server: RunningBerth, project: str, kind: str, pem: str) -> int:
    with admin_client(server) as admin:
        made = admin.post(
            f"/projects/{project}/keys", json={"kind": kind, "name": "ci", "public_key": pem}
        )
    assert made.status_code == 201, made.text
    return int(made.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def untrust(server: RunningBerth, project: str, key_id: int) -> None:
    with admin_client(server) as admin:
        gone = admin.delete(f"/projects/{project}/keys/{key_id}")
    assert gone.status_code == 200, gone.text


def push_signature(
    server: RunningBerth, repo: str, reference: str, manifest: bytes, blobs: dict[str, bytes]
) -> None:
    with registry_client(server, ADMIN) as client:
        for data in blobs.values():
            push_blob(client, repo, data)
        put = client.put(
            f"/v2/{repo}/manifests/{reference}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
    assert put.status_code == 201, put.text


def cosign_signed(
    server: RunningBerth, key: Any, signs: str, over: str | None = None
) -> tuple[str, str]:
    """A project enforcing signatures with an image whose .sig (by key) names `over`
    (default: the image's digest); (repo, digest)."""
    _, project = new_project(server, prefix="client")
    repo = f"{project}/app"
    digest = push_image(server, repo, "v1")
    payload = makers.simple_signing(f"{server.host}/{repo}:v1", over or digest)
    manifest, blobs = makers.sig_image(payload, makers.cosign_sign(key, payload))
    push_signature(server, repo, digest.replace(":", "-") + ".sig", manifest, blobs)
    set_metadata(server, project, ENFORCE)
    return repo, digest


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 412, response.text
    assert error_of(response) == "PROJECTPOLICYVIOLATION"
    return str(response.json()["errors"][0]["message"])


def test_a_client_cosign_signature_counts_once_its_key_is_trusted(
    berth_server: RunningBerth,
) -> None:
    # Given an image signed in cosign's format by a key the project does not trust yet
    key = makers.new_key()
    repo, digest = cosign_signed(berth_server, key, "v1")
    project = repo.split("/")[0]
    # Then it is refused, naming an untrusted key
    assert "does not trust" in refusal(pull_manifest(berth_server, repo, "v1"))
    # When the project trusts the key
    key_row = trust(berth_server, project, "cosign", makers.public_pem(key))
    # Then it is served at once, by tag and by digest, and the accessory says verified
    assert pull_manifest(berth_server, repo, "v1").status_code == 200
    assert pull_manifest(berth_server, repo, digest).status_code == 200
    [sig] = accessories(berth_server, repo, "v1").json()
    assert sig["type"] == "signature.cosign" and sig["verification"][0]["verified"] is True
    # And when the key is removed again, it is refused again
    untrust(berth_server, project, key_row)
    assert "does not trust" in refusal(pull_manifest(berth_server, repo, "v1"))


def test_a_signature_over_another_digest_is_refused(berth_server: RunningBerth) -> None:
    # Given a trusted key's signature whose payload names another digest
    key = makers.new_key()
    repo, _digest = cosign_signed(berth_server, key, "v1", over="sha256:" + "0" * 64)
    trust(berth_server, repo.split("/")[0], "cosign", makers.public_pem(key))
    # When the image is pulled, then it is refused naming the other digest
    message = refusal(pull_manifest(berth_server, repo, "v1"))
    assert "another digest" in message and "0" * 64 in message


def test_a_tampered_signature_is_refused(berth_server: RunningBerth) -> None:
    # Given a .sig whose annotation was altered after signing
    key = makers.new_key()
    _, project = new_project(berth_server, prefix="tamper")
    repo = f"{project}/app"
    digest = push_image(berth_server, repo, "v1")
    payload = makers.simple_signing(f"{berth_server.host}/{repo}:v1", digest)
    good = makers.cosign_sign(key, makers.simple_signing("elsewhere", digest))  # another payload's
    manifest, blobs = makers.sig_image(payload, good)
    push_signature(berth_server, repo, digest.replace(":", "-") + ".sig", manifest, blobs)
    trust(berth_server, project, "cosign", makers.public_pem(key))
    set_metadata(berth_server, project, ENFORCE)
    # Then it is refused
    assert "does not trust" in refusal(pull_manifest(berth_server, repo, "v1"))


def test_notation_and_bundle_referrers_verify_against_what_the_project_trusts(
    berth_server: RunningBerth,
) -> None:
    # Given an image with a notation signature (test CA) and one with a Sigstore bundle
    _, project = new_project(berth_server, prefix="refs")
    ca_key, ca = makers.test_ca()
    leaf_key, leaf = makers.leaf_of(ca_key, ca)
    key = makers.new_key()
    signed = {}
    for name, kind in (("notary", "notation"), ("bundled", "bundle")):
        repo = f"{project}/{name}"
        digest = push_image(berth_server, repo, "v1")
        subject = {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": len(pull_manifest(berth_server, repo, digest).content),
        }
        if kind == "notation":
            body = makers.notation_envelope(leaf_key, [leaf, ca], subject)
            manifest, blobs = makers.referrer(
                makers.NOTATION_TYPE, "application/jose+json", body, subject
            )
        else:
            body = makers.sigstore_bundle(key, digest)
            manifest, blobs = makers.referrer(makers.BUNDLE_TYPE, makers.BUNDLE_TYPE, body, subject)
        push_signature(berth_server, repo, makers.digest_of(manifest), manifest, blobs)
        signed[kind] = repo
    set_metadata(berth_server, project, ENFORCE)
    # Then neither is served while nothing is trusted
    for repo in signed.values():
        refusal(pull_manifest(berth_server, repo, "v1"))
    # When the CA root and the key are trusted, then both are served
    trust(berth_server, project, "notation-root", makers.pem_of(ca))
    trust(berth_server, project, "cosign", makers.public_pem(key))
    for repo in signed.values():
        assert pull_manifest(berth_server, repo, "v1").status_code == 200
    [notary] = accessories(berth_server, signed["notation"], "v1").json()
    assert notary["type"] == "signature.notation" and notary["verification"][0]["verified"]
    # And the signatures themselves stay pullable, for clients to verify
    pulled = pull_manifest(berth_server, signed["notation"], notary["digest"])
    assert pulled.status_code == 200, pulled.text


def test_the_children_of_a_signed_index_are_served_through_it(berth_server: RunningBerth) -> None:
    # Given an index of two images, signed by a trusted key (the index only)
    key = makers.new_key()
    _, project = new_project(berth_server, prefix="index")
    repo = f"{project}/multi"
    children = [push_image(berth_server, repo, tag) for tag in ("amd64", "arm64")]
    entries = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": d,
            "size": len(pull_manifest(berth_server, repo, d).content),
        }
        for d in children
    ]
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }
    ).encode()
    with registry_client(berth_server, ADMIN) as client:
        put = client.put(
            f"/v2/{repo}/manifests/v1",
            content=index,
            headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
        )
    assert put.status_code == 201, put.text
    index_digest = put.headers["Docker-Content-Digest"]
    payload = makers.simple_signing(f"{berth_server.host}/{repo}:v1", index_digest)
    manifest, blobs = makers.sig_image(payload, makers.cosign_sign(key, payload))
    push_signature(berth_server, repo, index_digest.replace(":", "-") + ".sig", manifest, blobs)
    trust(berth_server, project, "cosign", makers.public_pem(key))
    set_metadata(berth_server, project, ENFORCE)
    # When a client pulls the index and then a child by digest, as docker does
    with registry_client(berth_server, ADMIN) as client:
        accept = {"Accept": "application/vnd.oci.image.index.v1+json"}
        got_index = client.get(f"/v2/{repo}/manifests/v1", headers=accept)
    child = pull_manifest(berth_server, repo, children[0])
    # Then both are served; the child's own tag, pulled alone, is served through the index too
    assert got_index.status_code == 200, got_index.text
    assert child.status_code == 200, child.text
    assert pull_manifest(berth_server, repo, "arm64").status_code == 200
    # And an image outside the index is refused
    other = push_image(berth_server, f"{project}/single", "v1")
    assert "not signed" in refusal(pull_manifest(berth_server, f"{project}/single", other))
