"""Manifest parsing and structural validation (no storage, no database)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core import mediatypes as mt
from core.digests import parse_digest
from core.errors import ManifestInvalid


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None


@dataclass(slots=True)
class ParsedManifest:
    media_type: str
    blobs: list[Descriptor] = field(default_factory=list)  # must be present in the repository
    children: list[Descriptor] = field(default_factory=list)  # index entries
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Parse and validate a manifest; raises ManifestInvalid with the reason."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestInvalid(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("a manifest is a JSON object")
    if doc.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    media_type = _media_type(doc, content_type)
    if media_type in mt.INDEXES:
        return _parse_index(doc, media_type)
    return _parse_image(doc, media_type)


def _media_type(doc: dict[str, Any], content_type: str | None) -> str:
    header = (content_type or "").split(";", 1)[0].strip().lower() or None
    body = doc.get("mediaType")
    if body is not None and not isinstance(body, str):
        raise ManifestInvalid("mediaType must be a string")
    if header and body and header != body:
        raise ManifestInvalid(f"Content-Type {header} does not match mediaType {body}")
    media_type = header or body or _guess(doc)
    if media_type not in mt.MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {media_type!r}")
    if media_type in (mt.DOCKER_MANIFEST, mt.DOCKER_LIST) and body != media_type:
        raise ManifestInvalid("Docker schema 2 manifests must carry their mediaType")
    return media_type


def _guess(doc: dict[str, Any]) -> str:
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc:
        return mt.OCI_MANIFEST
    raise ManifestInvalid("no media type: send Content-Type or a mediaType field")


def _parse_image(doc: dict[str, Any], media_type: str) -> ParsedManifest:
    if media_type == mt.OCI_ARTIFACT:
        blobs = _descriptors(doc.get("blobs", []), "blobs")
        artifact_type = _optional_str(doc, "artifactType")
    else:
        if "config" not in doc:
            raise ManifestInvalid("an image manifest needs a config descriptor")
        config = _descriptor(doc["config"], "config")
        if "layers" not in doc:
            raise ManifestInvalid("an image manifest needs a layers array")
        layers = _descriptors(doc["layers"], "layers")
        present = [d for d in layers if d.media_type not in mt.NON_DISTRIBUTABLE]
        blobs = [config, *present]
        artifact_type = _optional_str(doc, "artifactType")
        if artifact_type is None and doc.get("subject") is not None:
            artifact_type = config.media_type  # the spec's fallback for referrers
    return ParsedManifest(
        media_type=media_type,
        blobs=blobs,
        subject=_subject(doc),
        artifact_type=artifact_type,
        annotations=_annotations(doc),
    )


def _parse_index(doc: dict[str, Any], media_type: str) -> ParsedManifest:
    if "manifests" not in doc:
        raise ManifestInvalid("an index needs a manifests array")
    children = _descriptors(doc["manifests"], "manifests")
    return ParsedManifest(
        media_type=media_type,
        children=children,
        subject=_subject(doc),
        artifact_type=_optional_str(doc, "artifactType"),
        annotations=_annotations(doc),
    )


def _descriptors(value: Any, where: str) -> list[Descriptor]:
    if not isinstance(value, list):
        raise ManifestInvalid(f"{where} must be an array")
    return [_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}.digest must be a string")
    try:
        parse_digest(digest)
    except Exception:
        raise ManifestInvalid(f"{where}.digest {digest!r} is not a valid digest") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    artifact_type = value.get("artifactType")
    return Descriptor(
        media_type, digest, size, artifact_type if isinstance(artifact_type, str) else None
    )


def _subject(doc: dict[str, Any]) -> Descriptor | None:
    return None if doc.get("subject") is None else _descriptor(doc["subject"], "subject")


def _optional_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise ManifestInvalid(f"{key} must be a string")
    return value


def _annotations(doc: dict[str, Any]) -> dict[str, str] | None:
    value = doc.get("annotations")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestInvalid("annotations must be a map of strings")
    return value
