"""The one place that builds storage keys. Everything else asks here."""

from __future__ import annotations

BLOBS = "blobs"
UPLOADS = "uploads"


def blob_key(algorithm: str, hex_digest: str) -> str:
    """Content address of a blob: blobs/<alg>/<first two hex>/<hex>."""
    return f"{BLOBS}/{algorithm}/{hex_digest[:2]}/{hex_digest}"


def upload_key(session_id: str) -> str:
    """Where an upload session's bytes accumulate until commit."""
    return f"{UPLOADS}/{session_id}"
