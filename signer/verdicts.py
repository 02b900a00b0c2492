"""What checking one signature concludes, whatever its format.

status, and the words a refused pull shows:
- verified: the signature verifies with a key the project trusts, over the digest asked;
- untrusted: made by a key the project does not trust ("signed by an untrusted key");
- mismatch: it verifies, but its payload names another digest;
- invalid: it does not verify, or cannot be read (the detail says which).
"""

from __future__ import annotations

from dataclasses import dataclass

VERIFIED = "verified"
UNTRUSTED = "untrusted"
MISMATCH = "mismatch"
INVALID = "invalid"
STATUSES = (VERIFIED, UNTRUSTED, MISMATCH, INVALID)

# formats of signatures Berth reads
COSIGN = "cosign"  # a layer of a sha256-<hex>.sig image (simple signing)
SIGSTORE_BUNDLE = "sigstore-bundle"  # a Sigstore bundle v0.3 referrer, DSSE in-toto
NOTATION = "notation"  # a notation referrer, JWS envelope with an X.509 chain
FORMATS = (COSIGN, SIGSTORE_BUNDLE, NOTATION)

# key kinds a project holds
SIGNING = "signing"  # Berth's own ECDSA P-256 key; its private half sealed
COSIGN_KEY = "cosign"  # an uploaded public key for cosign-format signatures
NOTATION_ROOT = "notation-root"  # an uploaded X.509 root for notation signatures
KEY_KINDS = (SIGNING, COSIGN_KEY, NOTATION_ROOT)


@dataclass(frozen=True, slots=True)
class Verdict:
    """format: one of FORMATS; key_id: the trusted key it verified with, or the key or
    certificate it names when it did not ("" when it names none); signed_digest: the
    digest its payload names (None when unreadable); reason: "" when verified, else one
    sentence for a user."""

    format: str
    status: str
    key_id: str = ""
    signed_digest: str | None = None
    reason: str = ""

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED
