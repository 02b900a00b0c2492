"""Sigstore bundles (cosign 3's referrers, application/vnd.dev.sigstore.bundle.v0.3+json):
a DSSE envelope around an in-toto Statement whose subject is the signed artifact, signed
with a key. The transparency-log entries a bundle may carry are not checked: there is no
Rekor here, and a key the project trusts is what Berth's verdict rests on."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from signer.keys import TrustedKey, verify_with
from signer.verdicts import (
    INVALID,
    MISMATCH,
    NOTATION_ROOT,
    SIGSTORE_BUNDLE,
    UNTRUSTED,
    VERIFIED,
    Verdict,
)

IN_TOTO = "application/vnd.in-toto+json"
STATEMENTS = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the envelope's signatures sign."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def verify(bundle: bytes, subject: str, keys: Sequence[TrustedKey]) -> Verdict:
    """The verdict on a bundle over subject: some signature of its envelope verifies with
    one of keys, and its statement names subject's digest."""
    try:
        document = json.loads(bundle)
    except ValueError:
        return _invalid("the bundle is not JSON")
    if not isinstance(document, dict):
        return _invalid("the bundle is not a JSON object")
    if "messageSignature" in document and "dsseEnvelope" not in document:
        return _invalid("message signatures are not supported for images")
    envelope = document.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        return _invalid("the bundle holds no DSSE envelope")
    read = _read_envelope(envelope)
    if isinstance(read, Verdict):
        return read
    payload_type, body, signatures = read
    named = _subject_digests(body)
    if isinstance(named, Verdict):
        return named
    message = pae(payload_type, body)
    key = next(
        (
            k
            for k in keys
            if k.kind != NOTATION_ROOT
            and any(verify_with(k.public_key, s, message) for s in signatures)
        ),
        None,
    )
    first = named[0] if named else None
    if key is None:
        return Verdict(
            SIGSTORE_BUNDLE, UNTRUSTED, signed_digest=first, reason="no trusted key verifies it"
        )
    if subject not in named:
        return Verdict(SIGSTORE_BUNDLE, MISMATCH, key.key_id, first, f"its statement names {first}")
    return Verdict(SIGSTORE_BUNDLE, VERIFIED, key.key_id, subject)


def _read_envelope(envelope: dict[str, Any]) -> tuple[str, bytes, list[bytes]] | Verdict:
    payload_type = envelope.get("payloadType")
    if payload_type != IN_TOTO:
        return _invalid(
            f"its envelope carries {str(payload_type)[:80]!r}, not an in-toto statement"
        )
    listed = envelope.get("signatures")
    if not isinstance(listed, list):
        return _invalid("its envelope carries no signature")
    try:
        body = _b64(envelope.get("payload"))
        signatures = [_b64(s.get("sig")) for s in listed if isinstance(s, dict)]
    except (binascii.Error, ValueError):
        return _invalid("its envelope is not base64")
    if not signatures:
        return _invalid("its envelope carries no signature")
    return payload_type, body, signatures


def _b64(text: object) -> bytes:
    """Standard or URL-safe base64 (protobuf's JSON allows both)."""
    value = str(text or "")
    if "-" in value or "_" in value:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return base64.b64decode(value, validate=True)


def _subject_digests(body: bytes) -> list[str] | Verdict:
    try:
        statement = json.loads(body)
        kind = statement["_type"]
        subjects = statement["subject"]
    except (ValueError, KeyError, TypeError):
        return _invalid("its payload is not an in-toto statement")
    if kind not in STATEMENTS or not isinstance(subjects, list):
        return _invalid(f"its payload is of type {str(kind)[:80]!r}")
    named = []
    for entry in subjects:
        digests = entry.get("digest") if isinstance(entry, dict) else None
        if isinstance(digests, dict) and isinstance(digests.get("sha256"), str):
            named.append("sha256:" + digests["sha256"])
    if not named:
        return _invalid("its statement names no sha256 subject")
    return named


def _invalid(reason: str) -> Verdict:
    return Verdict(SIGSTORE_BUNDLE, INVALID, reason=reason)
