"""Raw Notary v1 HTTP for the refused-update tests: a token from Berth's token service, the
trust data a server holds, a multipart update as the notary client posts it, and the few
TUF document edits a test needs (canonical JSON, an ECDSA signature with a key from a
notary trust dir).

Facts from the protocol (notary-server 0.7): an update is `POST /v2/{gun}/_trust/tuf/`,
multipart/form-data whose parts carry the role as their file name; a role is read at
`GET /v2/{gun}/_trust/tuf/{role}.json`; errors are `{"errors": [{"code", "message",
"detail"}]}`. A signature is ECDSA P-256 over the SHA-256 of the canonical JSON of
`signed` (sorted keys, no whitespace), r || s in base64, method "ecdsa".
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.notary.cli import PASSPHRASES
from tests.notary.reference import NOTARY_SERVICE
from tests.support import RunningBerth


def trust_token(berth: RunningBerth, gun: str, actions: str, auth: tuple[str, str] | None) -> str:
    """A token from Berth's token service for the notary service and one GUN."""
    answer = httpx.get(
        f"{berth.url}/service/token",
        params={"service": NOTARY_SERVICE, "scope": f"repository:{gun}:{actions}"},
        auth=auth,
        timeout=30,
        verify=berth.verify,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


@dataclass
class TrustApi:
    """One GUN's trust data on one server, over plain HTTP calls."""

    base: str  # the server's URL
    gun: str
    verify: ssl.SSLContext | bool = True

    def _url(self, tail: str) -> str:
        return f"{self.base}/v2/{self.gun}/_trust/tuf/{tail}"

    @staticmethod
    def auth(token: str | None) -> dict[str, str]:
        """The headers that carry token (none without one)."""
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, role: str, token: str | None) -> httpx.Response:
        url = self._url(f"{role}.json")
        return httpx.get(url, headers=self.auth(token), verify=self.verify, timeout=30)

    def key(self, role: str, token: str | None) -> httpx.Response:
        """GET of the server's public key of role (timestamp or snapshot)."""
        url = self._url(f"{role}.key")
        return httpx.get(url, headers=self.auth(token), verify=self.verify, timeout=30)

    def changes(self, token: str) -> list[tuple[int, str]]:
        """The GUN's change feed from its start: (version, category) of each record."""
        url = f"{self.base}/v2/{self.gun}/_trust/changefeed"
        params = {"change_id": "0", "records": "100"}
        answer = httpx.get(
            url, params=params, headers=self.auth(token), verify=self.verify, timeout=30
        )
        assert answer.status_code == 200, f"GET changefeed: {answer.status_code} {answer.text}"
        return [(r["Version"], r["Category"]) for r in answer.json()["records"]]

    def document(self, role: str, token: str) -> dict[str, Any]:
        answer = self.get(role, token)
        assert answer.status_code == 200, f"GET {role}.json: {answer.status_code} {answer.text}"
        found: dict[str, Any] = answer.json()
        return found

    def post(self, parts: dict[str, bytes], token: str | None) -> httpx.Response:
        """One update: each part named `role` with file name `role.json`, as notary does."""
        headers = self.auth(token)
        files = {
            role: (f"{role}.json", body, "application/octet-stream") for role, body in parts.items()
        }
        return httpx.post(
            self._url(""), files=files, headers=headers, verify=self.verify, timeout=30
        )


@dataclass(frozen=True)
class Refusal:
    """What a refused request showed a client: status, error code, and the name of the
    validation error in its detail (notary clients turn that into their own error)."""

    status: int
    code: str
    detail_name: str


def refusal(answer: httpx.Response) -> Refusal:
    """The Refusal of an answer; fails when the answer is not in the notary errors format."""
    try:
        error = answer.json()["errors"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise AssertionError(f"not a notary error: {answer.status_code} {answer.text!r}") from None
    detail = error.get("detail")
    name = detail.get("Name", "") if isinstance(detail, dict) else ""
    return Refusal(answer.status_code, str(error["code"]), str(name))


def canonical(value: Any) -> bytes:
    """Canonical JSON as TUF signs it: sorted keys, no insignificant whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(signed: dict[str, Any], key: ec.EllipticCurvePrivateKey, key_id: str) -> dict[str, Any]:
    """A whole TUF document: `signed`, with one ECDSA signature by key under key_id."""
    der = key.sign(canonical(signed), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    signature = {"keyid": key_id, "method": "ecdsa", "sig": base64.b64encode(raw).decode()}
    return {"signed": signed, "signatures": [signature]}


def private_key(trust_dir: Path, role: str) -> ec.EllipticCurvePrivateKey:
    """The private key of a role in a notary trust dir, opened with the passphrase the CLI
    driver gives that role. Notary writes an encrypted PKCS#8 PEM whose headers name the
    role; its plain PKCS#8 says version 1 without the public key that version needs,
    which `cryptography` refuses: so the PBES2 envelope (PBKDF2-HMAC-SHA1, AES-256-CBC) is
    opened here and the SEC1 key inside it is loaded."""
    for path in sorted((trust_dir / "private").glob("*.key")):
        text = path.read_text()
        if re.search(rf"^role: {re.escape(role)}$", text, re.MULTILINE):
            body = "".join(
                line for line in text.splitlines() if re.fullmatch(r"[A-Za-z0-9+/=]+", line)
            )
            passphrase = PASSPHRASES[f"NOTARY_{role.upper()}_PASSPHRASE"].encode()
            key = serialization.load_der_private_key(
                _pbes2_open(base64.b64decode(body), passphrase), None
            )
            assert isinstance(key, ec.EllipticCurvePrivateKey), f"{path}: not an EC key"
            return key
    raise AssertionError(f"no {role} key in {trust_dir / 'private'}")


def _tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at offset at."""
    tag, first = der[at], der[at + 1]
    if first < 0x80:
        return tag, at + 2, at + 2 + first
    width = first & 0x7F
    length = int.from_bytes(der[at + 2 : at + 2 + width], "big")
    return tag, at + 2 + width, at + 2 + width + length


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    found = []
    while start < end:
        element = _tlv(der, start)
        found.append(element)
        start = element[2]
    return found


def _pbes2_open(der: bytes, passphrase: bytes) -> bytes:
    """The SEC1 EC private key (DER) inside an EncryptedPrivateKeyInfo of PBES2 with PBKDF2
    (its default HMAC-SHA1) and AES-256-CBC, holding a PKCS#8 PrivateKeyInfo."""
    _, start, end = _tlv(der, 0)
    algorithm, ciphertext = _children(der, start, end)
    _, params = _children(der, algorithm[1], algorithm[2])
    kdf, cipher = _children(der, params[1], params[2])
    kdf_params = _children(der, *_children(der, kdf[1], kdf[2])[1][1:])
    salt = der[kdf_params[0][1] : kdf_params[0][2]]
    iterations = int.from_bytes(der[kdf_params[1][1] : kdf_params[1][2]], "big")
    assert len(kdf_params) == 2, "only PBKDF2's default PRF (HMAC-SHA1) is read here"
    iv_element = _children(der, cipher[1], cipher[2])[1]
    iv = der[iv_element[1] : iv_element[2]]
    key = hashlib.pbkdf2_hmac("sha1", passphrase, salt, iterations, 32)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(der[ciphertext[1] : ciphertext[2]]) + decryptor.finalize()
    _, start, end = _tlv(plain, 0)
    private = _children(plain, start, end)[2]  # version, algorithm, privateKey
    return plain[private[1] : private[2]]


def tampered(document: bytes) -> bytes:
    """The document with one byte of its `signed` part changed and its signatures kept:
    a digit of its expiry date, so it still parses."""
    match = re.search(rb'"expires":\s*"(\d)', document)
    assert match is not None, "no expiry date to tamper with"
    at = match.start(1)
    digit = document[at : at + 1]
    return document[:at] + (b"3" if digit != b"3" else b"4") + document[at + 1 :]
