"""An artifact's additions (Harbor's getAddition): what is read out of its content rather
than stored beside it. An image has its build history (its config's `history`); a Helm
chart its values.yaml, README.md and dependencies (from the chart archive, its one layer).
Any other pairing is no addition of that artifact (NotFound).

The blobs read are bounded (a config, a chart archive): an addition of a larger one is
refused rather than read into memory.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import yaml

from core.artifacts import IMAGE_CONFIGS, RepositoryRef
from core.digests import is_digest
from models import Manifest
from models.errors import InvalidInput, NotFound

BUILD_HISTORY, VALUES, README, DEPENDENCIES = (
    "build_history",
    "values.yaml",
    "readme.md",
    "dependencies",
)
ADDITIONS = (BUILD_HISTORY, VALUES, README, DEPENDENCIES)
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYERS = frozenset(
    {"application/vnd.cncf.helm.chart.content.v1.tar+gzip", "application/tar+gzip"}
)
MAX_CONFIG = 4 * 1024 * 1024
MAX_CHART = 16 * 1024 * 1024  # the archive, and what it unpacks to
MAX_FILE = 4 * 1024 * 1024  # one file of it

BlobReader = Callable[[str], AsyncIterator[bytes]]


@dataclass(frozen=True, slots=True)
class Addition:
    content_type: str
    body: bytes


async def addition(repo: RepositoryRef, reference: str, name: str, read: BlobReader) -> Addition:
    """The addition `name` of the artifact reference names (a digest or a tag); NotFound
    when the artifact has none of that name. read: a blob's bytes by digest."""
    if name not in ADDITIONS:
        raise NotFound(f"unknown addition {name[:64]!r}; known: {', '.join(ADDITIONS)}")
    doc = await _manifest(repo, reference)
    config = doc.get("config") if isinstance(doc.get("config"), dict) else None
    config_type = str(config.get("mediaType") or "") if config else ""
    if name == BUILD_HISTORY and config and config_type in IMAGE_CONFIGS:
        raw = await _read(read, str(config.get("digest")), MAX_CONFIG)
        return Addition("application/json; charset=utf-8", _history(raw))
    if name != BUILD_HISTORY and config_type == HELM_CONFIG:
        layer = _chart_layer(doc)
        if layer is not None:
            archive = await _read(read, layer, MAX_CHART)
            found = _chart_addition(name, archive)
            if found is not None:
                return found
    raise NotFound(f"the artifact {reference} has no addition {name}")


async def _manifest(repo: RepositoryRef, reference: str) -> dict[str, Any]:
    if is_digest(reference):
        query = Manifest.filter(repository_id=repo.id, digests__digest=reference)
    else:
        query = Manifest.filter(repository_id=repo.id, tags__name=reference)
    rows = await query.limit(1).values_list("content", flat=True)
    if not rows:
        raise NotFound(f"artifact {reference} not found")
    try:
        doc = json.loads(bytes(rows[0]))
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


async def _read(read: BlobReader, digest: str, limit: int) -> bytes:
    out = bytearray()
    async for chunk in read(digest):
        out += chunk
        if len(out) > limit:
            raise InvalidInput(f"the blob {digest} is larger than {limit} bytes")
    return bytes(out)


def _history(raw: bytes) -> bytes:
    """The config's history entries, as Harbor gives them: a JSON list."""
    try:
        config = json.loads(raw)
    except ValueError:
        config = {}
    history = config.get("history") if isinstance(config, dict) else None
    return json.dumps(history if isinstance(history, list) else []).encode()


def _chart_layer(doc: dict[str, Any]) -> str | None:
    for layer in doc.get("layers") or []:
        if isinstance(layer, dict) and layer.get("mediaType") in HELM_LAYERS:
            return str(layer.get("digest"))
    return None


def _chart_addition(name: str, archive: bytes) -> Addition | None:
    files = _chart_files(archive)
    if name == VALUES and "values.yaml" in files:
        return Addition("text/plain; charset=utf-8", files["values.yaml"])
    if name == README:
        readme = next((v for k, v in files.items() if k.lower() == "readme.md"), None)
        return None if readme is None else Addition("text/markdown; charset=utf-8", readme)
    if name == DEPENDENCIES:
        return Addition(
            "application/json; charset=utf-8", json.dumps(_dependencies(files)).encode()
        )
    return None


def _chart_files(archive: bytes) -> dict[str, bytes]:
    """The top-level files of the chart (<chart>/<file>), each at most MAX_FILE bytes."""
    try:
        raw = gzip.GzipFile(fileobj=io.BytesIO(archive)).read(MAX_CHART + 1)
        with tarfile.open(fileobj=io.BytesIO(raw[:MAX_CHART]), mode="r:") as tar:
            return _top_files(tar)
    except (OSError, EOFError, tarfile.TarError):
        raise InvalidInput("the chart archive is not a gzipped tar") from None


def _top_files(tar: tarfile.TarFile) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for member in tar.getmembers():
        parts = member.name.strip("/").split("/")
        if len(parts) != 2 or not member.isfile() or member.size > MAX_FILE:
            continue
        extracted = tar.extractfile(member)
        if extracted is not None:
            files[parts[1]] = extracted.read()
    return files


def _dependencies(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """Chart.yaml's dependencies (Helm 3), else requirements.yaml's (Helm 2)."""
    for name in ("Chart.yaml", "requirements.yaml"):
        try:
            doc = yaml.safe_load(files.get(name, b"")) or {}
        except yaml.YAMLError:
            continue
        deps = doc.get("dependencies") if isinstance(doc, dict) else None
        if isinstance(deps, list) and deps:
            return [
                {k: d.get(k) for k in ("name", "version", "repository") if k in d}
                for d in deps
                if isinstance(d, dict)
            ]
    return []
