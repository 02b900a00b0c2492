"""The signature formats Berth reads, checked against signatures the tests make from each
format's documented fields (tests/signing/makers.py): every verdict, and its reason."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from signer import bundle, cosign, keys, notation
from signer.keys import TrustedKey
from signer.verdicts import INVALID, MISMATCH, UNTRUSTED, VERIFIED
from tests.signing import makers

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def trusted_key(key: object) -> TrustedKey:
    return keys.trusted("cosign", makers.public_pem(key))  # type: ignore[arg-type]


def root(cert: object) -> TrustedKey:
    return keys.trusted("notation-root", makers.pem_of(cert))  # type: ignore[arg-type]


# --- cosign -----------------------------------------------------------------------------


def test_a_cosign_signature_by_a_trusted_key_over_the_digest_verifies() -> None:
    # Given a payload signed by a key the project trusts, beside one it does not
    key, stranger = makers.new_key(), makers.new_key()
    payload = makers.simple_signing("reg/app:v1", DIGEST)
    signature = makers.cosign_sign(key, payload)
    # When it is checked with both keys trusted, in either order
    verdict = cosign.verify(payload, signature, DIGEST, [trusted_key(stranger), trusted_key(key)])
    # Then it verifies, naming the key that verified it
    assert verdict.status == VERIFIED
    assert verdict.key_id == keys.key_id(key.public_key())


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        pytest.param("untrusted", UNTRUSTED, "no trusted key", id="untrusted-key"),
        pytest.param("other-digest", MISMATCH, OTHER, id="over-another-digest"),
        pytest.param("tampered", UNTRUSTED, "no trusted key", id="tampered-payload"),
        pytest.param("not-base64", INVALID, "base64", id="signature-not-base64"),
        pytest.param("not-json", INVALID, "simple-signing", id="payload-not-json"),
    ],
)
def test_a_cosign_signature_that_proves_nothing_says_why(
    case: str, status: str, words: str
) -> None:
    # Given a signature spoiled in one way
    key = makers.new_key()
    payload = makers.simple_signing("reg/app:v1", OTHER if case == "other-digest" else DIGEST)
    signature = makers.cosign_sign(key, payload)
    trusted = [trusted_key(makers.new_key() if case == "untrusted" else key)]
    if case == "tampered":
        payload = payload.replace(b"reg/app", b"reg/evil")
    if case == "not-base64":
        signature = "%%%"
    if case == "not-json":
        payload = b"not json"
        signature = makers.cosign_sign(key, payload)
    # When it is checked
    verdict = cosign.verify(payload, signature, DIGEST, trusted)
    # Then the verdict and its reason say what is wrong
    assert verdict.status == status
    assert words in verdict.reason


def test_berth_signature_images_are_read_by_the_tests_own_verifier() -> None:
    # Given a signature image Berth builds, appended to one a client made
    key, client = makers.new_key(), makers.new_key()
    theirs = makers.simple_signing("reg/app:v1", DIGEST)
    existing, blobs = makers.sig_image(theirs, makers.cosign_sign(client, theirs))
    ours = cosign.payload("reg/app:v1", DIGEST)
    signature = base64.b64encode(keys.sign(key, ours)).decode()
    subject = {"mediaType": makers.OCI_MANIFEST, "digest": DIGEST, "size": 10}
    image = cosign.signature_image(ours, signature, subject, existing)
    blobs.update(image.blobs)
    # When the tests' own verifier reads it
    manifest = json.loads(image.manifest)
    # Then both signatures are there, each verifying with its own key only, over DIGEST
    assert len(manifest["layers"]) == 2 and manifest["subject"]["digest"] == DIGEST
    check = makers.independent_cosign_check
    assert check(manifest, blobs.__getitem__, makers.public_pem(key), DIGEST)
    assert check(manifest, blobs.__getitem__, makers.public_pem(client), DIGEST)
    assert not check(manifest, blobs.__getitem__, makers.public_pem(makers.new_key()), DIGEST)
    assert [x.index for x in cosign.layers(image.manifest)] == [0, 1]
    # And adding the same signature again changes nothing
    again = cosign.signature_image(ours, signature, subject, image.manifest)
    assert len(json.loads(again.manifest)["layers"]) == 2


# --- Sigstore bundles -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status"),
    [
        pytest.param("good", VERIFIED, id="verified"),
        pytest.param("untrusted", UNTRUSTED, id="untrusted-key"),
        pytest.param("other-digest", MISMATCH, id="over-another-digest"),
        pytest.param("tampered", UNTRUSTED, id="tampered-statement"),
    ],
)
def test_sigstore_bundles_are_verified_with_a_key(case: str, status: str) -> None:
    # Given a bundle made with a key, spoiled or not
    key = makers.new_key()
    made = makers.sigstore_bundle(
        key, OTHER if case == "other-digest" else DIGEST, tamper=case == "tampered"
    )
    trusted = [trusted_key(makers.new_key() if case == "untrusted" else key)]
    # When it is checked against DIGEST
    verdict = bundle.verify(made, DIGEST, trusted)
    # Then the verdict is as expected
    assert verdict.status == status, verdict.reason


def test_a_bundle_that_is_not_one_is_invalid() -> None:
    assert bundle.verify(b"{", DIGEST, []).status == INVALID
    message = bundle.verify(b'{"messageSignature": {}}', DIGEST, [])
    assert message.status == INVALID and "message signatures" in message.reason


# --- notation ---------------------------------------------------------------------------


def test_a_notation_signature_verifies_against_its_root_and_not_another() -> None:
    # Given a signature by a leaf of a test CA over DIGEST
    ca_key, ca = makers.test_ca()
    leaf_key, leaf = makers.leaf_of(ca_key, ca)
    target = {"mediaType": makers.OCI_MANIFEST, "digest": DIGEST, "size": 10}
    envelope = makers.notation_envelope(leaf_key, [leaf, ca], target)
    _other_key, other = makers.test_ca("another root")
    # When it is checked against its root, and against another
    good = notation.verify(envelope, notation.JWS, DIGEST, [root(ca)])
    bad = notation.verify(envelope, notation.JWS, DIGEST, [root(other)])
    # Then it verifies with the first, naming the root, and is untrusted with the second
    assert good.status == VERIFIED and good.key_id == keys.certificate_id(ca)
    assert bad.status == UNTRUSTED and "no root" in bad.reason


def test_a_notation_chain_without_its_root_verifies_through_the_uploaded_root() -> None:
    ca_key, ca = makers.test_ca()
    leaf_key, leaf = makers.leaf_of(ca_key, ca)
    target = {"mediaType": makers.OCI_MANIFEST, "digest": DIGEST, "size": 10}
    envelope = makers.notation_envelope(leaf_key, [leaf], target)
    assert notation.verify(envelope, notation.JWS, DIGEST, [root(ca)]).status == VERIFIED


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        pytest.param("other-digest", MISMATCH, OTHER, id="over-another-digest"),
        pytest.param("tampered", INVALID, "does not verify", id="tampered-payload"),
        pytest.param("expired", INVALID, "expired", id="expired"),
        pytest.param("cose", INVALID, "COSE", id="cose-envelope"),
        pytest.param("garbage", INVALID, "not a notation JWS", id="not-a-jws"),
    ],
)
def test_a_notation_signature_that_proves_nothing_says_why(
    case: str, status: str, words: str
) -> None:
    ca_key, ca = makers.test_ca()
    leaf_key, leaf = makers.leaf_of(ca_key, ca)
    digest = OTHER if case == "other-digest" else DIGEST
    target = {"mediaType": makers.OCI_MANIFEST, "digest": digest, "size": 10}
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    envelope = makers.notation_envelope(
        leaf_key, [leaf, ca], target, past if case == "expired" else None
    )
    if case == "tampered":  # the same target with another size, under the old signature
        jws = json.loads(envelope)
        forged = json.dumps({"targetArtifact": {**target, "size": 11}}).encode()
        jws["payload"] = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
        envelope = json.dumps(jws).encode()
    if case == "garbage":
        envelope = b"[]"
    media_type = notation.COSE if case == "cose" else notation.JWS
    verdict = notation.verify(envelope, media_type, DIGEST, [root(ca)])
    assert verdict.status == status
    assert words in verdict.reason


def test_a_chain_through_an_intermediate_verifies_and_a_non_ca_issuer_breaks_it() -> None:
    # Given root -> intermediate CA -> leaf, and root -> leaf -> "leaf" (a non-CA issuer)
    root_key, ca = makers.test_ca()
    mid_key, mid = makers.leaf_of(root_key, ca, ca_flag=True)
    leaf_key, leaf = makers.leaf_of(mid_key, mid)
    target = {"mediaType": makers.OCI_MANIFEST, "digest": DIGEST, "size": 10}
    good = makers.notation_envelope(leaf_key, [leaf, mid], target)
    fake_key, fake_issuer = makers.leaf_of(root_key, ca)
    _, under_leaf = makers.leaf_of(fake_key, fake_issuer)
    bad = makers.notation_envelope(fake_key, [under_leaf, fake_issuer], target)
    # Then the first verifies against the root; the second's chain is broken
    assert notation.verify(good, notation.JWS, DIGEST, [root(ca)]).status == VERIFIED
    broken = notation.verify(bad, notation.JWS, DIGEST, [root(ca)])
    assert broken.status == INVALID


@pytest.mark.parametrize(
    ("days", "code_signing", "words"),
    [
        pytest.param(-1, True, "not valid now", id="expired-leaf"),
        pytest.param(10, False, "code signing", id="not-for-code-signing"),
    ],
)
def test_a_leaf_unfit_to_sign_is_refused(days: int, code_signing: bool, words: str) -> None:
    ca_key, ca = makers.test_ca()
    leaf_key, leaf = makers.leaf_of(ca_key, ca, days=days, code_signing=code_signing)
    target = {"mediaType": makers.OCI_MANIFEST, "digest": DIGEST, "size": 10}
    envelope = makers.notation_envelope(leaf_key, [leaf, ca], target)
    verdict = notation.verify(envelope, notation.JWS, DIGEST, [root(ca)])
    assert verdict.status == INVALID and words in verdict.reason


def test_a_notation_expiry_without_a_zone_is_read_as_utc() -> None:
    ca_key, ca = makers.test_ca()
    leaf_key, leaf = makers.leaf_of(ca_key, ca)
    target = {"mediaType": makers.OCI_MANIFEST, "digest": DIGEST, "size": 10}
    envelope = makers.notation_envelope(leaf_key, [leaf, ca], target, "2000-01-01T00:00:00")
    verdict = notation.verify(envelope, notation.JWS, DIGEST, [root(ca)])
    assert verdict.status == INVALID and "expired" in verdict.reason


@pytest.mark.parametrize(
    "envelope",
    [
        pytest.param(
            {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": 5},
            id="signatures-a-number",
        ),
        pytest.param(
            {
                "payloadType": "application/vnd.in-toto+json",
                "payload": 5,
                "signatures": [{"sig": "AA=="}],
            },
            id="payload-a-number",
        ),
        pytest.param(
            {
                "payloadType": "application/vnd.in-toto+json",
                "payload": "e30=",
                "signatures": [{"sig": 5}],
            },
            id="sig-a-number",
        ),
    ],
)
def test_malformed_bundles_are_invalid_not_errors(envelope: dict[str, object]) -> None:
    verdict = bundle.verify(json.dumps({"dsseEnvelope": envelope}).encode(), DIGEST, [])
    assert verdict.status == INVALID


def test_a_bundle_whose_statement_names_no_subject_is_invalid() -> None:
    key = makers.new_key()
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": []}).encode()
    kind = b"application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(statement), statement)
    signature = base64.b64encode(key.sign(pae, ec.ECDSA(hashes.SHA256()))).decode()
    envelope = {
        "payloadType": kind.decode(),
        "payload": base64.b64encode(statement).decode(),
        "signatures": [{"sig": signature}],
    }
    verdict = bundle.verify(
        json.dumps({"dsseEnvelope": envelope}).encode(), DIGEST, [trusted_key(key)]
    )
    assert verdict.status == INVALID and "no sha256 subject" in verdict.reason
