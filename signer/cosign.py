"""cosign's classic signature format: a simple-signing payload, signed with a key, kept as
a layer of the image tagged sha256-<hex>.sig beside the artifact it signs.

The payload names the artifact's digest (critical.image.docker-manifest-digest) and the
reference it was signed as; the signature is base64 of a DER ECDSA (or RSA, Ed25519)
signature over the payload's exact bytes, in the layer's dev.cosignproject.cosign/signature
annotation. skopeo and podman write the same (--sign-by-sigstore-private-key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from signer.keys import TrustedKey, verify_with
from signer.verdicts import COSIGN, INVALID, MISMATCH, NOTATION_ROOT, UNTRUSTED, VERIFIED, Verdict

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"
ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class SignedLayer:
    index: int
    payload_digest: str
    size: int
    signature_b64: str


@dataclass(frozen=True, slots=True)
class SignatureImage:
    manifest: bytes
    config: bytes
    blobs: dict[str, bytes]  # digest -> bytes: the config and every payload


def payload(docker_reference: str, digest: str) -> bytes:
    """The simple-signing payload that signs digest as docker_reference."""
    body = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def signature_image(
    signed: bytes,
    signature_b64: str,
    subject: dict[str, Any] | None = None,
    existing: bytes | None = None,
) -> SignatureImage:
    """The .sig image holding the signature of `signed` (a payload), after the layers of
    `existing` (the .sig manifest there already, whose payloads are in the registry); with
    subject (a descriptor of the signed manifest) it is also an OCI 1.1 referrer of it.
    A signature `existing` holds already is not added twice."""
    layers = _layers_of(existing)
    digest = _digest(signed)
    layer = {
        "mediaType": SIMPLESIGNING,
        "size": len(signed),
        "digest": digest,
        "annotations": {SIGNATURE_ANNOTATION: signature_b64},
    }
    if not any(
        x.get("digest") == digest
        and (x.get("annotations") or {}).get(SIGNATURE_ANNOTATION) == signature_b64
        for x in layers
    ):
        layers.append(layer)
    config = _config(layers)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": _digest(config)},
        "layers": layers,
    }
    if subject is not None:
        manifest["artifactType"] = ARTIFACT_TYPE
        manifest["subject"] = subject
    blobs = {_digest(config): config, digest: signed}
    return SignatureImage(json.dumps(manifest, separators=(",", ":")).encode(), config, blobs)


def layers(manifest: bytes) -> list[SignedLayer]:
    """The signatures a .sig manifest holds, one per simple-signing layer (others skipped;
    a layer without the annotation has an empty signature)."""
    found = []
    for index, layer in enumerate(_layers_of(manifest)):
        if layer.get("mediaType") != SIMPLESIGNING:
            continue
        annotations = layer.get("annotations") or {}
        signature = (
            annotations.get(SIGNATURE_ANNOTATION, "") if isinstance(annotations, dict) else ""
        )
        size = layer.get("size")
        found.append(
            SignedLayer(
                index,
                str(layer.get("digest", "")),
                size if isinstance(size, int) else 0,
                signature if isinstance(signature, str) else "",
            )
        )
    return found


def verify(signed: bytes, signature_b64: str, subject: str, keys: Sequence[TrustedKey]) -> Verdict:
    """The verdict on one cosign signature over subject: the signature must verify with one
    of keys (roots excluded) and the payload must name subject."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return Verdict(COSIGN, INVALID, reason="its signature is not base64")
    if not signature:
        return Verdict(COSIGN, INVALID, reason="the layer carries no signature")
    named = _signed_digest(signed)
    if isinstance(named, Verdict):
        return named
    key = next(
        (
            k
            for k in keys
            if k.kind != NOTATION_ROOT and verify_with(k.public_key, signature, signed)
        ),
        None,
    )
    if key is None:
        return Verdict(COSIGN, UNTRUSTED, signed_digest=named, reason="no trusted key verifies it")
    if named != subject:
        reason = f"its payload names {named}"
        return Verdict(COSIGN, MISMATCH, key.key_id, named, reason)
    return Verdict(COSIGN, VERIFIED, key.key_id, named)


def _signed_digest(signed: bytes) -> str | Verdict:
    try:
        body = json.loads(signed)
        critical = body["critical"]
        kind = critical["type"]
        digest = critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError):
        return Verdict(COSIGN, INVALID, reason="its payload is not a simple-signing payload")
    if kind != SIGNATURE_TYPE or not isinstance(digest, str):
        return Verdict(COSIGN, INVALID, reason=f"its payload is of type {str(kind)[:80]!r}")
    return digest


def _layers_of(manifest: bytes | None) -> list[dict[str, Any]]:
    if not manifest:
        return []
    try:
        found = json.loads(manifest).get("layers")
    except (ValueError, AttributeError):
        return []
    return [x for x in found if isinstance(x, dict)] if isinstance(found, list) else []


def _config(layers: list[dict[str, Any]]) -> bytes:
    config = {
        "architecture": "",
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [str(x.get("digest", "")) for x in layers]},
        "config": {},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
