"""Signatures made the way other tools make them, written here from the formats' documented
fields (not with Berth's signer/): cosign-format private key files for skopeo, simple-signing
payloads, Sigstore bundles, notation JWS envelopes with a test CA — and an independent check
of a cosign signature, for the end-to-end tests."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import nacl.secret
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_ANNOTATION = "dev.cosignproject.cosign/signature"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
NOTATION_TYPE = "application/vnd.cncf.notary.signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def cosign_key_file(path: Path, passphrase: bytes, key: ec.EllipticCurvePrivateKey) -> Path:
    """key as cosign stores one (ENCRYPTED COSIGN PRIVATE KEY: PKCS#8 DER sealed with NaCl
    secretbox under an scrypt key), which skopeo --sign-by-sigstore-private-key reads."""
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, nonce = os.urandom(32), os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    secret = hashlib.scrypt(passphrase, salt=salt, n=32768, r=8, p=1, dklen=32, maxmem=64 << 20)
    sealed = nacl.secret.SecretBox(secret).encrypt(der, nonce).ciphertext
    body = {
        "kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    text = base64.encodebytes(json.dumps(body).encode()).decode()
    kind = "ENCRYPTED COSIGN PRIVATE KEY"
    path.write_text(f"-----BEGIN {kind}-----\n{text}-----END {kind}-----\n")
    return path


def simple_signing(reference: str, digest: str) -> bytes:
    critical = {
        "identity": {"docker-reference": reference},
        "image": {"docker-manifest-digest": digest},
        "type": "cosign container image signature",
    }
    return json.dumps({"critical": critical, "optional": {}}).encode()


def cosign_sign(key: ec.EllipticCurvePrivateKey, payload: bytes) -> str:
    return _b64(key.sign(payload, ec.ECDSA(hashes.SHA256())))


def sig_image(payload: bytes, signature: str) -> tuple[bytes, dict[str, bytes]]:
    """A one-layer .sig manifest and its blobs (config, payload)."""
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [digest_of(payload)]}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": SIMPLESIGNING,
                "digest": digest_of(payload),
                "size": len(payload),
                "annotations": {COSIGN_ANNOTATION: signature},
            }
        ],
    }
    return json.dumps(manifest).encode(), {digest_of(config): config, digest_of(payload): payload}


def independent_cosign_check(manifest: dict[str, Any], blob: Any, pem: str, digest: str) -> bool:
    """Whether some simple-signing layer of a .sig manifest is signed by pem's key and names
    digest; blob(digest) -> bytes fetches a layer."""
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    for layer in manifest.get("layers", []):
        if layer.get("mediaType") != SIMPLESIGNING:
            continue
        payload = blob(layer["digest"])
        signature = base64.b64decode(layer["annotations"][COSIGN_ANNOTATION])
        try:
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        except Exception:
            continue
        if json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == digest:
            return True
    return False


def sigstore_bundle(key: ec.EllipticCurvePrivateKey, digest: str, tamper: bool = False) -> bytes:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "image", "digest": {"sha256": digest.split(":", 1)[1]}}],
        "predicateType": "https://sigstore.dev/cosign/sign/v1",
        "predicate": {},
    }
    body = json.dumps(statement).encode()
    kind = b"application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)
    signature = key.sign(pae, ec.ECDSA(hashes.SHA256()))
    if tamper:
        body = body.replace(b"cosign/sign", b"cosign/sigx")
    envelope = {
        "payload": _b64(body),
        "payloadType": kind.decode(),
        "signatures": [{"sig": _b64(signature), "keyid": ""}],
    }
    return json.dumps(
        {
            "mediaType": BUNDLE_TYPE,
            "verificationMaterial": {"publicKey": {"hint": ""}},
            "dsseEnvelope": envelope,
        }
    ).encode()


def referrer(
    artifact_type: str, layer_type: str, body: bytes, subject: dict[str, Any]
) -> tuple[bytes, dict[str, bytes]]:
    """A referrer manifest carrying body as its one layer (a bundle, a notation envelope)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": digest_of(b"{}"), "size": 2},
        "layers": [{"mediaType": layer_type, "digest": digest_of(body), "size": len(body)}],
        "subject": subject,
    }
    return json.dumps(manifest).encode(), {digest_of(b"{}"): b"{}", digest_of(body): body}


# --- notation --------------------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def test_ca(common: str = "Berth test root") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = new_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def leaf_of(
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    days: int = 10,
    code_signing: bool = True,
    ca_flag: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A certificate issued by ca: a code-signing leaf valid for `days` more days (negative:
    expired that long ago), or with ca_flag an intermediate CA."""
    key = new_key()
    now = dt.datetime.now(dt.UTC)
    usage = ExtendedKeyUsageOID.CODE_SIGNING if code_signing else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("intermediate" if ca_flag else "signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=abs(days) + 1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def pem_of(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def notation_envelope(
    key: ec.EllipticCurvePrivateKey,
    chain: list[x509.Certificate],
    target: dict[str, Any],
    expiry: str | None = None,
) -> bytes:
    """A notation JWS envelope (JSON serialization) over target (a descriptor)."""
    protected: dict[str, Any] = {
        "alg": "ES256",
        "crit": ["io.cncf.notary.signingScheme"],
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if expiry:
        protected["io.cncf.notary.expiry"] = expiry
        protected["crit"].append("io.cncf.notary.expiry")
    head = _b64url(json.dumps(protected).encode())
    body = _b64url(json.dumps({"targetArtifact": target}).encode())
    der = key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    x5c = [_b64(c.public_bytes(serialization.Encoding.DER)) for c in chain]
    envelope = {
        "payload": body,
        "protected": head,
        "header": {"x5c": x5c, "io.cncf.notary.signingAgent": "berth-tests"},
        "signature": _b64url(raw),
    }
    return json.dumps(envelope).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
