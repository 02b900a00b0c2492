"""The icons of artifact types (Harbor's getIcon): one small SVG per type Berth tells apart,
named by the sha256 of its bytes, as an artifact's `icon` field names it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from models.errors import NotFound

SVG = "image/svg+xml"


def _badge(colour: str, label: str) -> bytes:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<rect x="2" y="2" width="60" height="60" rx="12" fill="{colour}"/>'
        '<text x="32" y="40" font-family="sans-serif" font-size="18" font-weight="bold"'
        f' fill="#ffffff" text-anchor="middle">{label}</text></svg>'
    ).encode()


_BY_TYPE = {
    "IMAGE": _badge("#2f6db5", "IMG"),
    "CHART": _badge("#0f1689", "HELM"),
    "CNAB": _badge("#7a3e9d", "CNAB"),
    "WASM": _badge("#654ff0", "WASM"),
    "UNKNOWN": _badge("#6b7280", "OCI"),
}


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


_BY_DIGEST = {_digest(body): body for body in _BY_TYPE.values()}


@dataclass(frozen=True, slots=True)
class Icon:
    content_type: str
    content: bytes


def icon_digest(artifact_type: str) -> str:
    """The digest of the icon of an artifact type (UNKNOWN's for a type without one)."""
    return _digest(_BY_TYPE.get(artifact_type, _BY_TYPE["UNKNOWN"]))


def icon(digest: str) -> Icon:
    """The icon by its digest; NotFound for any other digest."""
    body = _BY_DIGEST.get(digest)
    if body is None:
        raise NotFound(f"icon {digest[:80]} not found")
    return Icon(SVG, body)
