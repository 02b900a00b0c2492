"""Signing, checked by verifiers that are not Berth's own code: podman and skopeo verify what
Berth signs with the project's downloaded key (and refuse it with another key); a check
written here from cosign's documented fields agrees; skopeo-made signatures count only
while the project trusts their key and only over the very digest, untampered; docker pulls
a signed image from an enforcing project and shows why an unsigned one is refused.

Debian 12's skopeo and podman are built with sigstore cut out: there the two policy tests
skip (saying so), and the client signatures are the .sig images skopeo would write, made
from cosign's documented fields and pushed by skopeo."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.e2e.signing_support import (
    ENFORCE,
    SIGN_ON_PUSH,
    ClientTrust,
    client_trust,
    flip_signature,
    layout,
    oci_layout,
    project_with,
    put_manifest,
    refusal,
    registry_get,
    set_metadata,
    sig_tag,
    signature_of,
    signing_pem,
    sigstore_missing,
    trust_key,
    untrust_key,
)
from tests.peers import Docker, Podman, Skopeo, run_tool
from tests.signing import makers
from tests.support import RunningBerth

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("berth_only")]

PASSPHRASE = b"e2e-signing-passphrase"
UNTRUSTED = "does not trust"


def push(skopeo: Skopeo, layout: Path, ref: str, *flags: str, config: tuple[str, ...] = ()) -> None:
    """skopeo copies the layout's image to Berth; config: global flags (before `copy`)."""
    copy = ["copy", "--dest-tls-verify=false", *flags]
    skopeo(*config, *copy, f"oci:{layout}:v1", f"docker://{ref}")


def berth_signed(registry: RunningBerth, skopeo: Skopeo, tmp_path: Path) -> tuple[str, str, str]:
    """An image pushed to a project that signs on push, once Berth's signature exists;
    (project, repository, digest)."""
    project = project_with(registry, SIGN_ON_PUSH, prefix="signs")
    repo = f"{project}/app"
    digest = oci_layout(tmp_path / "image")
    push(skopeo, tmp_path / "image", f"{registry.host}/{repo}:v1")
    signature_of(registry, repo, digest)
    return project, repo, digest


def verifying(root: Path, registry: RunningBerth, project: str, pem: str) -> ClientTrust:
    """A containers policy trusting pem for the project, sigstore attachments at Berth."""
    return client_trust(root, registry.host, f"{registry.host}/{project}", pem)


@pytest.fixture
def sigstore_clients() -> None:
    """Skip where skopeo or podman cannot check sigstore signatures at all: their refusal
    would prove nothing. (Not a missing install: Debian 12's builds lack it, CI's too.)"""
    for tool in ("skopeo", "podman"):
        if sigstore_missing(tool):
            pytest.skip(sigstore_missing(tool))


def verified_copy(skopeo: Skopeo, trust: ClientTrust, ref: str, out: Path) -> tuple[int, str]:
    """skopeo copy under the policy (not --insecure-policy); (exit code, stderr)."""
    args = ["skopeo", *trust.skopeo_flags(), "copy", "--src-tls-verify=false"]
    proc = run_tool([*args, f"docker://{ref}", f"oci:{out}:v1"], skopeo.env, check=False)
    return proc.returncode, proc.stderr


def verified_pull(podman: Podman, trust: ClientTrust, ref: str) -> tuple[int, str]:
    """podman pull under the policy; (exit code, stderr)."""
    checking = replace(podman, env=trust.podman_env(podman.env))
    proc = checking("pull", "--tls-verify=false", *trust.podman_flags(), ref, check=False)
    return proc.returncode, proc.stderr


# --- Berth's signatures, checked by others ---------------------------------------------


@pytest.mark.usefixtures("sigstore_clients")
def test_podman_and_skopeo_verify_a_berth_signed_image_with_the_projects_key(
    registry: RunningBerth,
    skopeo: Skopeo,
    podman_at: Callable[[str], Podman],
    tmp_path: Path,
) -> None:
    # Given an image Berth signed on push, and a policy trusting the project's public key
    project, repo, digest = berth_signed(registry, skopeo, tmp_path)
    trust = verifying(tmp_path / "trust", registry, project, signing_pem(registry, project))
    ref = f"{registry.host}/{repo}:v1"

    # When skopeo copies it and podman pulls it, each requiring that signature
    copied, copy_err = verified_copy(skopeo, trust, ref, tmp_path / "copied")
    podman = podman_at("verifier")
    pulled, pull_err = verified_pull(podman, trust, ref)

    # Then both accept it, and have the very image
    assert copied == 0, copy_err
    index = json.loads((tmp_path / "copied" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest]
    assert pulled == 0, pull_err
    seen = podman("image", "inspect", "--format", "{{.Digest}}", ref).stdout.strip()
    assert seen == digest


@pytest.mark.usefixtures("sigstore_clients")
def test_the_same_policy_with_another_key_refuses_a_berth_signed_image(
    registry: RunningBerth,
    skopeo: Skopeo,
    podman_at: Callable[[str], Podman],
    tmp_path: Path,
) -> None:
    # Given an image Berth signed on push, and a policy trusting some other key
    project, repo, _ = berth_signed(registry, skopeo, tmp_path)
    other = makers.public_pem(makers.new_key())
    trust = verifying(tmp_path / "trust", registry, project, other)
    ref = f"{registry.host}/{repo}:v1"

    # When skopeo and podman fetch it under that policy
    copied, copy_err = verified_copy(skopeo, trust, ref, tmp_path / "copied")
    pulled, pull_err = verified_pull(podman_at("verifier"), trust, ref)

    # Then both refuse it for its signature
    assert copied != 0 and "Source image rejected" in copy_err, copy_err
    assert pulled != 0 and "Source image rejected" in pull_err, pull_err


def test_the_tests_own_cosign_check_agrees(
    registry: RunningBerth, skopeo: Skopeo, tmp_path: Path
) -> None:
    # Given an image Berth signed on push
    project, repo, digest = berth_signed(registry, skopeo, tmp_path)
    pem = signing_pem(registry, project)

    # When its .sig is read as cosign documents it: simple-signing layers whose annotation
    # holds a base64 ECDSA signature over the payload blob
    sig = json.loads(registry_get(registry, f"{repo}/manifests/{sig_tag(digest)}").content)

    def blob(layer_digest: str) -> bytes:
        got = registry_get(registry, f"{repo}/blobs/{layer_digest}", "*/*")
        assert got.status_code == 200, got.text
        assert makers.digest_of(got.content) == layer_digest
        return got.content

    # Then the project's key verifies a payload naming this digest and this repository,
    # and no other key does
    assert makers.independent_cosign_check(sig, blob, pem, digest)
    other = makers.public_pem(makers.new_key())
    assert not makers.independent_cosign_check(sig, blob, other, digest)
    payloads = [json.loads(blob(layer["digest"])) for layer in sig["layers"]]
    identities = {p["critical"]["identity"]["docker-reference"] for p in payloads}
    assert {repository_of(i) for i in identities} == {f"{registry.host}/{repo}"}
    assert {p["critical"]["type"] for p in payloads} == {"cosign container image signature"}


def repository_of(reference: str) -> str:
    """host[:port]/path of a docker reference, without its tag or digest."""
    name = reference.split("@", 1)[0]
    head, _, tail = name.rpartition("/")
    return f"{head}/{tail.split(':', 1)[0]}"


# --- signatures made by skopeo ---------------------------------------------------------


class Signer:
    """A client signing what it pushes with a cosign-format key made here: skopeo itself
    (--sign-by-sigstore-private-key, sigstore attachments) when its build can sign; else
    the .sig image skopeo would write, made from cosign's documented fields
    (tests/signing/makers.py) and copied by skopeo to the tag sha256-<hex>.sig."""

    def __init__(self, root: Path, registry: RunningBerth, skopeo: Skopeo) -> None:
        self.root, self.skopeo = root, skopeo
        self.key = makers.new_key()
        root.mkdir(parents=True)
        self.key_file = makers.cosign_key_file(root / "cosign.key", PASSPHRASE, self.key)
        self.passphrase = root / "passphrase"
        self.passphrase.write_bytes(PASSPHRASE)
        self.attachments = client_trust(root / "trust", registry.host, registry.host, None)

    @property
    def public_pem(self) -> str:
        return makers.public_pem(self.key)

    def push(self, image: Path, ref: str, digest: str) -> None:
        """Push the layout's image to ref (host/repo:tag), signed."""
        if sigstore_missing("skopeo"):
            push(self.skopeo, image, ref)
            self._push_signature(ref, digest)
            return
        push(
            self.skopeo, image, ref,
            "--sign-by-sigstore-private-key", str(self.key_file),
            "--sign-passphrase-file", str(self.passphrase),
            config=("--registries.d", str(self.attachments.registries_d)),
        )  # fmt: skip

    def _push_signature(self, ref: str, digest: str) -> None:
        payload = makers.simple_signing(ref, digest)
        manifest, blobs = makers.sig_image(payload, makers.cosign_sign(self.key, payload))
        where = self.root / f"sig-{digest[7:19]}"
        layout(where, "sig", manifest, list(blobs.values()))
        repo = ref.rsplit(":", 1)[0]
        self.skopeo(
            "copy", "--dest-tls-verify=false", "--preserve-digests",
            f"oci:{where}:sig", f"docker://{repo}:{sig_tag(digest)}",
        )  # fmt: skip


def enforcing_with(registry: RunningBerth, signer: Signer) -> tuple[str, int]:
    """A project that serves only signed artifacts and trusts signer's key; (name, key id)."""
    project = project_with(registry, ENFORCE, prefix="client")
    return project, trust_key(registry, project, signer.public_pem)


def unverified_copy(skopeo: Skopeo, ref: str, out: Path) -> tuple[int, str]:
    """A plain pull by skopeo (no signature policy of its own); (exit code, stderr)."""
    proc = skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{out}:v1", check=False)
    return proc.returncode, proc.stderr


def test_a_skopeo_signed_image_pulls_only_while_its_key_is_trusted(
    registry: RunningBerth, skopeo: Skopeo, tmp_path: Path
) -> None:
    # Given an enforcing project that trusts a key, and an image skopeo signed with it
    signer = Signer(tmp_path / "signer", registry, skopeo)
    project, key_id = enforcing_with(registry, signer)
    repo = f"{project}/app"
    digest = oci_layout(tmp_path / "image")
    signer.push(tmp_path / "image", f"{registry.host}/{repo}:v1", digest)

    # When it is pulled by a client that checks nothing itself
    pulled, pull_err = unverified_copy(skopeo, f"{registry.host}/{repo}:v1", tmp_path / "a")

    # Then Berth serves it, by tag and by digest
    assert pulled == 0, pull_err
    assert registry_get(registry, f"{repo}/manifests/{digest}").status_code == 200

    # When the project stops trusting the key
    untrust_key(registry, project, key_id)

    # Then the pull is refused with 412 and the reason, which skopeo shows
    assert UNTRUSTED in refusal(registry_get(registry, f"{repo}/manifests/v1"))
    assert UNTRUSTED in refusal(registry_get(registry, f"{repo}/manifests/{digest}"))
    pulled, pull_err = unverified_copy(skopeo, f"{registry.host}/{repo}:v1", tmp_path / "b")
    assert pulled != 0 and UNTRUSTED in pull_err, pull_err


def test_a_skopeo_signature_over_another_digest_is_refused(
    registry: RunningBerth, skopeo: Skopeo, tmp_path: Path
) -> None:
    # Given an enforcing project with an image skopeo signed by a trusted key, and another
    # image whose .sig tag holds that same signature (its payload names the first digest)
    signer = Signer(tmp_path / "signer", registry, skopeo)
    project, _ = enforcing_with(registry, signer)
    repo = f"{project}/app"
    signed = oci_layout(tmp_path / "signed")
    signer.push(tmp_path / "signed", f"{registry.host}/{repo}:signed", signed)
    other = oci_layout(tmp_path / "other")
    push(skopeo, tmp_path / "other", f"{registry.host}/{repo}:other")
    sig = registry_get(registry, f"{repo}/manifests/{sig_tag(signed)}")
    assert sig.status_code == 200, sig.text
    put_manifest(registry, repo, sig_tag(other), sig.content)

    # When both are pulled
    kept = registry_get(registry, f"{repo}/manifests/signed")
    moved = registry_get(registry, f"{repo}/manifests/other")
    pulled, pull_err = unverified_copy(skopeo, f"{registry.host}/{repo}:other", tmp_path / "o")

    # Then the signed one is served and the other refused: its signature is over another
    # digest, named in the reason
    assert kept.status_code == 200, kept.text
    reason = refusal(moved)
    assert "another digest" in reason and signed in reason, reason
    assert pulled != 0 and "another digest" in pull_err, pull_err


def test_a_tampered_skopeo_signature_is_refused(
    registry: RunningBerth, skopeo: Skopeo, tmp_path: Path
) -> None:
    # Given an enforcing project with an image skopeo signed by a trusted key
    signer = Signer(tmp_path / "signer", registry, skopeo)
    project, _ = enforcing_with(registry, signer)
    repo = f"{project}/app"
    digest = oci_layout(tmp_path / "image")
    signer.push(tmp_path / "image", f"{registry.host}/{repo}:v1", digest)
    assert registry_get(registry, f"{repo}/manifests/v1").status_code == 200

    # When its .sig is replaced by one whose signature bytes were altered
    sig = registry_get(registry, f"{repo}/manifests/{sig_tag(digest)}")
    put_manifest(registry, repo, sig_tag(digest), flip_signature(sig.content))

    # Then the image is refused: no trusted key verifies what it now carries
    assert UNTRUSTED in refusal(registry_get(registry, f"{repo}/manifests/v1"))
    pulled, pull_err = unverified_copy(skopeo, f"{registry.host}/{repo}:v1", tmp_path / "t")
    assert pulled != 0 and UNTRUSTED in pull_err, pull_err


# --- docker ----------------------------------------------------------------------------


def test_docker_pulls_a_signed_image_and_shows_why_an_unsigned_one_is_refused(
    registry: RunningBerth, skopeo: Skopeo, docker: Docker, tmp_path: Path
) -> None:
    # Given a project that signs on push and serves only signed artifacts, with an image
    # Berth signed, and an image pushed after signing on push was switched off
    project = project_with(registry, {**SIGN_ON_PUSH, **ENFORCE}, prefix="docker")
    repo = f"{registry.host}/{project}/app"
    signed = oci_layout(tmp_path / "signed")
    push(skopeo, tmp_path / "signed", f"{repo}:signed")
    signature_of(registry, f"{project}/app", signed)
    set_metadata(registry, project, {"sign_on_push": "false"})
    oci_layout(tmp_path / "unsigned")
    push(skopeo, tmp_path / "unsigned", f"{repo}:unsigned")

    # When docker pulls each
    good = docker("pull", f"{repo}:signed", check=False)
    bad = docker("pull", f"{repo}:unsigned", check=False)

    # Then the signed one is pulled, under its digest, and the unsigned one is refused
    # with Berth's reason in docker's error output
    try:
        assert good.returncode == 0, good.stderr
        assert f"{repo}@{signed}" in docker.repo_digests(f"{repo}:signed")
        assert bad.returncode != 0, bad.stdout
        assert "not signed" in bad.stderr, bad.stderr
    finally:
        if good.returncode == 0:
            docker.remove(f"{repo}:signed")
