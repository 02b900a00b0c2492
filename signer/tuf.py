"""The Update Framework as Notary v1 speaks it: canonical JSON, key ids, and signatures.

Notary signs the canonical form of a role's `signed` object: keys sorted, no white space,
strings escaped only where JSON demands it (backslash and quote; every other byte as is),
integers only. A key id is the SHA-256 (hex) of the canonical form of the public key with
its private half null. Key types: ecdsa, rsa, ed25519 (the public key's DER, or its raw 32
bytes for ed25519) and ecdsa-x509, rsa-x509 (a PEM certificate); signature methods ecdsa
(r || s over SHA-256), rsapss (PSS, salt the hash's length), rsapkcs1v15, eddsa.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

KEY_TYPES = ("ecdsa", "ecdsa-x509", "rsa", "rsa-x509", "ed25519")
TYPES = {"root": "Root", "targets": "Targets", "snapshot": "Snapshot", "timestamp": "Timestamp"}
MIN_RSA_BITS = 2048


class TufInvalid(ValueError):
    """Metadata that is not what TUF allows; the message says what."""


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes of a decoded JSON value, as Notary signs them."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode()


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or not value.is_integer():
            raise TufInvalid(f"canonical JSON holds integers only, not {value!r}")
        out.append(str(int(value)))
    elif isinstance(value, str):
        out.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for index, key in enumerate(sorted(value, key=lambda k: k.encode())):
            if index:
                out.append(",")
            _write(key, out)
            out.append(":")
            _write(value[key], out)
        out.append("}")
    else:
        raise TufInvalid(f"not a JSON value: {type(value).__name__}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise TufInvalid(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TufInvalid(f"{what} is not valid base64") from None


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A TUF public key: its type and the bytes of keyval.public."""

    keytype: str
    public: bytes

    @property
    def id(self) -> str:
        return key_id(self.keytype, self.public)

    def as_json(self) -> dict[str, Any]:
        return {"keytype": self.keytype, "keyval": {"private": None, "public": b64(self.public)}}

    def certificate(self) -> x509.Certificate | None:
        """The certificate of an x509 key type; None for a bare key."""
        if not self.keytype.endswith("-x509"):
            return None
        try:
            return x509.load_pem_x509_certificate(self.public)
        except ValueError:
            raise TufInvalid(f"key {self.id} is not a PEM certificate") from None

    def crypto_key(self) -> Any:
        """The `cryptography` public key."""
        cert = self.certificate()
        if cert is not None:
            return cert.public_key()
        try:
            if self.keytype == "ed25519":
                return ed25519.Ed25519PublicKey.from_public_bytes(self.public)
            return serialization.load_der_public_key(self.public)
        except ValueError:
            raise TufInvalid(f"key {self.id} is not a valid {self.keytype} public key") from None


def key_id(keytype: str, public: bytes) -> str:
    """The TUF key id: sha256 hex of the canonical public key with a null private half."""
    body = {"keytype": keytype, "keyval": {"private": None, "public": b64(public)}}
    return hashlib.sha256(canonical(body)).hexdigest()


def parse_key(value: Any) -> PublicKey:
    """A key object of a root's `keys` or a delegation's; TufInvalid when malformed."""
    if not isinstance(value, dict) or not isinstance(value.get("keyval"), dict):
        raise TufInvalid("a key must be an object with keytype and keyval")
    keytype = value.get("keytype")
    if keytype not in KEY_TYPES:
        raise TufInvalid(f"unknown key type {keytype!r}")
    return PublicKey(str(keytype), unb64(value["keyval"].get("public"), "keyval.public"))


def ecdsa_public_key(key: ec.EllipticCurvePrivateKey) -> PublicKey:
    """The TUF form of the public half of an ECDSA key Berth holds."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PublicKey("ecdsa", der)


def sign(key: ec.EllipticCurvePrivateKey, signed: dict[str, Any]) -> dict[str, Any]:
    """The signed envelope of `signed`, signed by key (method ecdsa: r || s)."""
    der = key.sign(canonical(signed), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    size = (key.curve.key_size + 7) // 8
    raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    keyid = ecdsa_public_key(key).id
    return {"signed": signed, "signatures": [{"keyid": keyid, "method": "ecdsa", "sig": b64(raw)}]}


def verify(message: bytes, method: str, signature: bytes, key: PublicKey) -> bool:
    """Whether signature by key over message holds, for a method TUF names."""
    try:
        public = key.crypto_key()
    except TufInvalid:
        return False
    try:
        if method == "ecdsa" and isinstance(public, ec.EllipticCurvePublicKey):
            size = (public.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            public.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        elif method in ("rsapss", "pycrypto-pkcs#1 pss") and isinstance(public, rsa.RSAPublicKey):
            if public.key_size < MIN_RSA_BITS:
                return False
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), hashes.SHA256.digest_size)
            public.verify(signature, message, pss, hashes.SHA256())
        elif method == "rsapkcs1v15" and isinstance(public, rsa.RSAPublicKey):
            if public.key_size < MIN_RSA_BITS:
                return False
            public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif method == "eddsa" and isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Role:
    """Who may sign a role: the keys by id and how many of them must."""

    name: str
    keys: dict[str, PublicKey]
    threshold: int


@dataclass(slots=True)
class Metadata:
    """One role's metadata as uploaded or stored: its bytes, the envelope and `signed`."""

    role: str
    data: bytes
    signed: dict[str, Any]
    signatures: list[dict[str, Any]]

    @property
    def version(self) -> int:
        return int(self.signed["version"])

    @property
    def expires(self) -> datetime:
        return parse_time(self.signed["expires"])

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def load(role: str, data: bytes) -> Metadata:
    """Parse a role's signed metadata and check its shape; TufInvalid saying what is wrong."""
    try:
        envelope = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TufInvalid(f"{role} is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("signed"), dict):
        raise TufInvalid(f"{role} has no signed object")
    signed, signatures = envelope["signed"], envelope.get("signatures")
    if not isinstance(signatures, list) or not all(isinstance(s, dict) for s in signatures):
        raise TufInvalid(f"{role} has no list of signatures")
    base = "targets" if role.startswith("targets/") else role
    if signed.get("_type") != TYPES.get(base):
        raise TufInvalid(f"{role} has _type {signed.get('_type')!r}, not {TYPES.get(base)!r}")
    version = signed.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TufInvalid(f"{role} has no valid version")
    if not isinstance(signed.get("expires"), str):
        raise TufInvalid(f"{role} has no expiry")
    parse_time(signed["expires"])
    return Metadata(role, data, signed, signatures)


def parse_time(text: Any) -> datetime:
    """An RFC 3339 time as Go writes it (fractions of any length, Z or an offset)."""
    if not isinstance(text, str):
        raise TufInvalid("a time must be a string")
    value = text.strip()
    head, _, rest = value.partition(".")
    if rest:  # Go writes nanoseconds; Python takes microseconds
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TufInvalid(f"{text!r} is not an RFC 3339 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def go_time(moment: datetime) -> str:
    """A time as Go's JSON writes a UTC time.Time (seconds are enough)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def valid_signers(meta: Metadata, role: Role) -> set[str]:
    """The key ids of role whose signatures over meta hold."""
    message = canonical(meta.signed)
    good: set[str] = set()
    for entry in meta.signatures:
        keyid, method = entry.get("keyid"), entry.get("method")
        key = role.keys.get(keyid) if isinstance(keyid, str) else None
        if key is None or not isinstance(method, str) or key.id != keyid:
            continue
        try:
            raw = unb64(entry.get("sig"), "sig")
        except TufInvalid:
            continue
        if verify(message, method, raw, key):
            good.add(keyid)
    return good


def check_signed(meta: Metadata, role: Role) -> None:
    """TufInvalid unless role's threshold of valid signatures signs meta."""
    if not meta.signatures:
        raise TufInvalid(f"{meta.role} has no signatures")
    if role.threshold < 1:
        raise TufInvalid(f"{role.name} has a threshold below 1")
    if len(valid_signers(meta, role)) < role.threshold:
        raise TufInvalid(f"valid signatures did not meet threshold for {role.name}")


def root_roles(root: Metadata) -> dict[str, Role]:
    """The four top roles a root names, with their keys; TufInvalid when one is missing."""
    keys_json, roles_json = root.signed.get("keys"), root.signed.get("roles")
    if not isinstance(keys_json, dict) or not isinstance(roles_json, dict):
        raise TufInvalid("root has no keys or roles")
    keys = {keyid: parse_key(value) for keyid, value in keys_json.items()}
    roles: dict[str, Role] = {}
    for name in TYPES:
        roles[name] = _role(name, roles_json.get(name), keys)
    return roles


def delegations(targets: Metadata) -> dict[str, tuple[Role, list[str]]]:
    """The roles a targets (or delegation) metadata delegates to, with their paths."""
    value = targets.signed.get("delegations") or {}
    if not isinstance(value, dict):
        raise TufInvalid(f"{targets.role} has invalid delegations")
    keys_json, roles_json = value.get("keys") or {}, value.get("roles") or []
    if not isinstance(keys_json, dict) or not isinstance(roles_json, list):
        raise TufInvalid(f"{targets.role} has invalid delegations")
    keys = {keyid: parse_key(key) for keyid, key in keys_json.items()}
    found: dict[str, tuple[Role, list[str]]] = {}
    for entry in roles_json:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise TufInvalid(f"{targets.role} has a delegation without a name")
        name = entry["name"]
        if name.rpartition("/")[0] != targets.role:
            raise TufInvalid(f"{targets.role} cannot delegate to {name}")
        paths = entry.get("paths") or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise TufInvalid(f"delegation {name} has invalid paths")
        found[name] = (_role(name, entry, keys), paths)
    return found


def _role(name: str, value: Any, keys: dict[str, PublicKey]) -> Role:
    if not isinstance(value, dict):
        raise TufInvalid(f"no {name} role")
    keyids, threshold = value.get("keyids"), value.get("threshold")
    if not isinstance(keyids, list) or not all(isinstance(k, str) for k in keyids):
        raise TufInvalid(f"{name} role has no key ids")
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise TufInvalid(f"{name} role has a threshold below 1")
    missing = [k for k in keyids if k not in keys]
    if missing:
        raise TufInvalid(f"{name} role names key {missing[0]}, which is not given")
    if len(set(keyids)) < threshold:
        raise TufInvalid(f"{name} role has fewer keys than its threshold")
    return Role(name, {k: keys[k] for k in keyids}, threshold)


def file_meta(data: bytes) -> dict[str, Any]:
    """A snapshot's or timestamp's entry for a file: its length and hashes."""
    return {
        "hashes": {
            "sha256": b64(hashlib.sha256(data).digest()),
            "sha512": b64(hashlib.sha512(data).digest()),
        },
        "length": len(data),
    }


def matches_meta(data: bytes, entry: Any) -> bool:
    """Whether data is what a snapshot or timestamp entry describes (each hash it gives)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("hashes"), dict):
        return False
    length = entry.get("length")
    if isinstance(length, int) and length != len(data):
        return False
    known = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
    checked = 0
    for name, value in entry["hashes"].items():
        if name in known:
            try:
                if unb64(value, name) != known[name](data).digest():
                    return False
            except TufInvalid:
                return False
            checked += 1
    return checked > 0
