"""Notation signatures (application/vnd.cncf.notary.signature referrers): a JWS envelope
in JSON serialization whose payload names the signed artifact (targetArtifact), signed by
the leaf of an X.509 chain (the unprotected header's x5c, leaf first) that must lead to a
root the project trusts. COSE envelopes are not read."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID

from signer.keys import TrustedKey, certificate_id
from signer.verdicts import INVALID, MISMATCH, NOTATION, NOTATION_ROOT, UNTRUSTED, VERIFIED, Verdict

JWS = "application/jose+json"
COSE = "application/cose"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}


_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


class _Refused(Exception):
    def __init__(self, status: str, reason: str, key_id: str = "") -> None:
        super().__init__(reason)
        self.status, self.reason, self.key_id = status, reason, key_id


def verify(envelope: bytes, media_type: str, subject: str, roots: Sequence[TrustedKey]) -> Verdict:
    """The verdict on a notation envelope over subject, against the trusted roots."""
    if media_type == COSE:
        return Verdict(NOTATION, INVALID, reason="COSE envelopes are not supported")
    try:
        header, payload, signature, chain = _parse(envelope)
        named = _target(payload)
        _check_signature(header, envelope, signature, chain[0])
        _signing_time(header)  # checked for form and expiry; not trusted for validity
        root_id = _check_chain(
            chain, [r for r in roots if r.kind == NOTATION_ROOT], datetime.now(UTC)
        )
    except _Refused as refused:
        return Verdict(NOTATION, refused.status, refused.key_id, reason=refused.reason)
    if named != subject:
        return Verdict(NOTATION, MISMATCH, root_id, named, f"its payload names {named}")
    return Verdict(NOTATION, VERIFIED, root_id, named)


def _b64url(text: object) -> bytes:
    if not isinstance(text, str):
        raise _Refused(INVALID, "the envelope is not a JWS")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _Refused(INVALID, "the envelope is not base64url") from None


def _parse(envelope: bytes) -> tuple[dict[str, Any], bytes, bytes, list[x509.Certificate]]:
    try:
        jws = json.loads(envelope)
        header = json.loads(_b64url(jws["protected"]))
        x5c = jws["header"]["x5c"]
    except (ValueError, KeyError, TypeError):
        raise _Refused(INVALID, "the envelope is not a notation JWS") from None
    if not isinstance(header, dict) or not isinstance(x5c, list) or not x5c:
        raise _Refused(INVALID, "the envelope names no certificate chain")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in x5c]
    except (ValueError, TypeError, binascii.Error):
        raise _Refused(INVALID, "its certificate chain does not parse") from None
    return header, _b64url(jws.get("payload")), _b64url(jws.get("signature")), chain


def _target(payload: bytes) -> str:
    try:
        digest = json.loads(payload)["targetArtifact"]["digest"]
    except (ValueError, KeyError, TypeError):
        raise _Refused(INVALID, "its payload names no target artifact") from None
    if not isinstance(digest, str):
        raise _Refused(INVALID, "its payload names no target artifact")
    return digest


def _check_signature(
    header: dict[str, Any], envelope: bytes, signature: bytes, leaf: x509.Certificate
) -> None:
    scheme = header.get("io.cncf.notary.signingScheme")
    if scheme not in ("notary.x509", "notary.x509.signingAuthority"):
        raise _Refused(INVALID, f"its signing scheme is {str(scheme)[:60]!r}")
    if header.get("cty") != PAYLOAD_TYPE:
        raise _Refused(INVALID, f"its content type is {str(header.get('cty'))[:80]!r}")
    jws = json.loads(envelope)
    signing_input = f"{jws['protected']}.{jws['payload']}".encode()
    alg = str(header.get("alg", ""))
    algorithm = _HASHES.get(alg[2:])
    key = leaf.public_key()
    try:
        if (
            alg.startswith("ES")
            and algorithm
            and isinstance(key, ec.EllipticCurvePublicKey)
            and _CURVES.get(alg) == key.curve.name
        ):
            half = len(signature) // 2
            der = encode_dss_signature(
                int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            )
            key.verify(der, signing_input, ec.ECDSA(algorithm))
        elif alg.startswith("PS") and algorithm and isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(padding.MGF1(algorithm), algorithm.digest_size)
            key.verify(signature, signing_input, pss, algorithm)
        else:
            raise _Refused(INVALID, f"algorithm {alg[:16]!r} does not fit its certificate")
    except InvalidSignature:
        raise _Refused(INVALID, "the signature does not verify with its certificate") from None


def _signing_time(header: dict[str, Any]) -> datetime:
    raw = header.get("io.cncf.notary.signingTime")
    expiry = header.get("io.cncf.notary.expiry")
    try:
        signed_at = _aware(datetime.fromisoformat(str(raw))) if raw else datetime.now(UTC)
        ends = _aware(datetime.fromisoformat(str(expiry))) if expiry else None
    except ValueError:
        raise _Refused(INVALID, "its signing time or expiry is not a time") from None
    if ends is not None and ends < datetime.now(UTC):
        raise _Refused(INVALID, f"the signature expired at {str(expiry)[:40]}")
    return signed_at


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_chain(chain: list[x509.Certificate], roots: Sequence[TrustedKey], now: datetime) -> str:
    """The id of the trusted root the chain leads to: each certificate valid now (the
    signing time is the signer's own word: without a timestamp countersignature it proves
    nothing), each issued by the next, every issuer a CA, the leaf fit for code signing."""
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            name = cert.subject.rfc4514_string()[:80]
            raise _Refused(INVALID, f"certificate {name} is not valid now")
    _check_leaf(chain[0])
    for child, parent in zip(chain, chain[1:], strict=False):
        if not _is_ca(parent) or not _issued_by(child, parent):
            raise _Refused(INVALID, "its certificate chain is broken")
    last = chain[-1]
    for root in roots:
        if root.certificate is not None and (
            root.certificate == last
            or (_is_ca(root.certificate) and _issued_by(last, root.certificate))
        ):
            return root.key_id
    raise _Refused(UNTRUSTED, "its chain leads to no root the project trusts", certificate_id(last))


def _check_leaf(leaf: x509.Certificate) -> None:
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if ExtendedKeyUsageOID.CODE_SIGNING not in usages:
        raise _Refused(INVALID, "its signing certificate is not for code signing")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
