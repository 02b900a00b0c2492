"""Manifest endpoints, tags list, catalog and referrers."""

from __future__ import annotations

import json
from typing import Any, NoReturn
from urllib.parse import urlencode

from prometheus_client import Counter
from quart import Response

from access.policy import Action, visible_project_ids
from core import audit, content_trust, events, signatures
from core import mediatypes as mt
from core.digests import is_digest
from core.errors import ManifestTooLarge, ManifestUnknown, PaginationInvalid, PolicyViolation
from core.names import MAX_NAME_LENGTH, MAX_TAG_LENGTH
from core.registry import Page, StoredManifest
from web.api.health import REFUSED_COSIGN, REFUSED_NOTARY
from web.streaming import read_bounded
from web.v2.context import V2Request

MAX_PAGE = 10_000
DEFAULT_CATALOG_PAGE = 1_000


async def get_manifest(ctx: V2Request) -> Response:
    manifest = await _negotiated(ctx)
    ctx.registry.pulls.note(ctx.name, ctx.project, ctx.arg, manifest.digest)
    await _notify_pull(ctx, manifest.digest)
    return Response(manifest.content, status=200, headers=_manifest_headers(manifest))


async def head_manifest(ctx: V2Request) -> Response:
    manifest = await _negotiated(ctx)
    response = Response(b"", status=200, headers=_manifest_headers(manifest))
    response.headers["Content-Length"] = str(len(manifest.content))
    return response


async def put_manifest(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PUSH)
    limit = ctx.max_manifest_bytes
    declared = ctx.header_int("Content-Length")
    body = await read_bounded(declared, ctx.body(), limit, lambda: ManifestTooLarge(limit))
    pushed = await ctx.registry.manifests.put(
        ctx.name,
        ctx.project,
        ctx.arg,
        body,
        ctx.request.headers.get("Content-Type"),
        ctx.caller.identity.username,
        ctx.request.host,
        ctx.request.args.getlist("tag"),
    )
    ctx.wake_jobs()
    headers = {
        "Location": ctx.location(f"manifests/{pushed.digest}"),
        "Docker-Content-Digest": pushed.digest,
        "Content-Length": "0",
    }
    if pushed.subject:
        headers["OCI-Subject"] = pushed.subject
    if pushed.tags:  # one field line for them all, which RFC 9110 reads as one per tag
        headers["OCI-Tag"] = ", ".join(pushed.tags)
    return Response(b"", status=201, headers=headers)


async def delete_manifest(ctx: V2Request) -> Response:
    await ctx.authorize(Action.DELETE)
    if await ctx.registry.manifests.delete(ctx.name, ctx.arg, ctx.request.host):
        ctx.wake_jobs()
    return Response(b"", status=202, headers={"Content-Length": "0"})


async def list_tags(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PULL)
    n, last = _pagination(ctx, None, MAX_TAG_LENGTH)
    page = await ctx.registry.manifests.tags(ctx.name, n, last)
    return _paged({"name": ctx.name, "tags": page.items}, page, f"/v2/{ctx.name}/tags/list", n)


async def list_referrers(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PULL)
    artifact_type = ctx.request.args.get("artifactType") or None
    descriptors = await ctx.registry.manifests.referrers(ctx.name, ctx.arg, artifact_type)
    body = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}
    response = Response(json.dumps(body), status=200, content_type=mt.OCI_INDEX)
    if artifact_type:
        response.headers["OCI-Filters-Applied"] = "artifactType"
    return response


async def catalog(ctx: V2Request) -> Response:
    n, last = _pagination(ctx, DEFAULT_CATALOG_PAGE, MAX_NAME_LENGTH)
    visible = await visible_project_ids(ctx.caller.identity)
    page = await ctx.registry.manifests.catalog(n, last, visible)
    return _paged({"repositories": page.items}, page, "/v2/_catalog", n)


async def _negotiated(ctx: V2Request) -> StoredManifest:
    await ctx.authorize(Action.PULL)
    manifest = await ctx.registry.manifests.get(ctx.name, ctx.arg)
    if manifest.notary_signed is False:
        await _refuse(ctx, manifest, PolicyViolation(content_trust.NOT_SIGNED), REFUSED_NOTARY)
    if manifest.enforced and manifest.trust not in signatures.SERVED:
        await _enforce(ctx, manifest)
    if not mt.acceptable(manifest.media_type, ctx.request.headers.getlist("Accept")):
        raise ManifestUnknown(ctx.arg, f"stored as {manifest.media_type}, not in Accept")
    return manifest


async def _enforce(ctx: V2Request, manifest: StoredManifest) -> None:
    """The project serves only verified artifacts: evaluate one not evaluated since it
    changed, and refuse (412, audited, counted) what is not verified."""
    trust = signatures.Trust(manifest.trust, manifest.trust_reason)
    if trust.state == signatures.PENDING:
        trust = await signatures.evaluate(
            ctx.registry.blobs, manifest.repository_id, manifest.digest
        )
    if trust.state in signatures.SERVED:
        return
    refused = PolicyViolation(
        f"{trust.reason}; project {ctx.project} serves only artifacts signed by a key it trusts"
    )
    await _refuse(ctx, manifest, refused, REFUSED_COSIGN)


async def _refuse(
    ctx: V2Request, manifest: StoredManifest, refused: PolicyViolation, counter: Counter
) -> NoReturn:
    """Refuse a pull the project's signature policy does not allow: audited as a failed
    pull (resource type signature), counted, answered 412."""
    resource = audit.artifact_resource(ctx.name, ctx.arg, manifest.digest)
    event = audit.Event(audit.PULL, audit.SIGNATURE, resource, ctx.project, host=ctx.request.host)
    await audit.record_failure(event, refused)
    counter.inc()
    raise refused


async def _notify_pull(ctx: V2Request, digest: str) -> None:
    """The pull's webhook events; one indexed read when the project has no enabled policy
    (its audit row is in the pull log already)."""

    def event() -> audit.Event:
        resource = audit.artifact_resource(ctx.name, ctx.arg, digest)
        pulled = audit.Event(audit.PULL, audit.ARTIFACT, resource, ctx.project, host=host)
        tag = None if is_digest(ctx.arg) else ctx.arg
        pulled.artifacts = [audit.Artifact(ctx.name, digest, tag)]
        return pulled

    host = ctx.request.host
    if await events.emit_pull(ctx.project, event):
        ctx.wake_jobs()


def _manifest_headers(manifest: StoredManifest) -> dict[str, str]:
    return {
        "Content-Type": manifest.media_type,
        "Docker-Content-Digest": manifest.digest,
        "ETag": f'"{manifest.digest}"',
    }


def _pagination(ctx: V2Request, default: int | None, longest: int) -> tuple[int | None, str | None]:
    """n and last; a last longer than any name (tag or repository) names none: refused."""
    raw = ctx.request.args.get("n")
    last = ctx.request.args.get("last") or None
    if last is not None and len(last) > longest:
        raise PaginationInvalid(f"last is longer than {longest} characters")
    if raw is None or raw == "":
        return default, last
    if not (raw.isascii() and raw.isdigit()):  # int() refuses "¹"
        raise PaginationInvalid(f"n must be a non-negative integer, got {raw!r}")
    return min(int(raw), MAX_PAGE), last


def _paged(body: dict[str, Any], page: Page, path: str, n: int | None) -> Response:
    response = Response(json.dumps(body), status=200, content_type="application/json")
    if page.more and page.items:
        query = urlencode({"n": n, "last": page.items[-1]})
        response.headers["Link"] = f'<{path}?{query}>; rel="next"'
    return response
