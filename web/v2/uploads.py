"""Upload endpoints: POST (start, monolithic, mount), PATCH, PUT, GET status, DELETE."""

from __future__ import annotations

import re

from quart import Response

from access.policy import Action, check_repository, pull_projects
from core.blobs import Readable
from core.digests import parse_digest
from core.errors import NameInvalid, SizeInvalid
from core.names import validate_name
from core.uploads import Upload
from web.v2.context import V2Request

_CONTENT_RANGE_RE = re.compile(r"^(?:bytes )?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


async def start_upload(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PUSH)
    args = ctx.request.args
    if "mount" in args:
        mounted = await _mount(ctx, args["mount"], args.get("from", ""))
        if mounted is not None:
            return mounted
    if "digest" in args:
        length = ctx.header_int("Content-Length")
        digest = await ctx.registry.uploads.upload_whole(
            ctx.name, ctx.project, args["digest"], ctx.body(), length
        )
        return _created(ctx, digest)
    session = await ctx.registry.uploads.start(ctx.name, ctx.project)
    return _progress(ctx, session)


async def patch_upload(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PUSH)
    session = await ctx.registry.uploads.get(ctx.name, ctx.arg)
    start, length = _chunk_range(ctx)
    await ctx.registry.uploads.append(session, ctx.body(), start, length)
    return _progress(ctx, session)


async def put_upload(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PUSH)
    session = await ctx.registry.uploads.get(ctx.name, ctx.arg)
    digest = ctx.request.args.get("digest", "")
    parse_digest(digest)
    start, length = _chunk_range(ctx)
    if start is not None and start != session.offset:
        await ctx.registry.uploads.append(session, ctx.body(), start, length)  # raises 416
    await ctx.registry.uploads.commit(session, digest, ctx.project, ctx.body(), length)
    return _created(ctx, digest)


async def upload_status(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PUSH)
    session = await ctx.registry.uploads.get(ctx.name, ctx.arg)
    response = _progress(ctx, session)
    response.status_code = 204
    return response


async def cancel_upload(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PUSH)
    session = await ctx.registry.uploads.get(ctx.name, ctx.arg)
    await ctx.registry.uploads.cancel(session)
    return Response(b"", status=204)


async def _mount(ctx: V2Request, digest: str, source: str) -> Response | None:
    """201 when the blob is linked from `source` (or, without one, from any repository the
    caller may read); None falls back to a normal upload."""
    parse_digest(digest)
    if not source:
        return await _mount_readable(ctx, digest)
    if source == ctx.name or not _valid_name(source):
        return None
    if not await check_repository(ctx.caller.identity, source, Action.PULL):
        return None  # mounting needs pull on the source; the client uploads instead
    if not await ctx.registry.blobs.mount(ctx.name, ctx.project, digest, source):
        return None
    return _created(ctx, digest)


async def _mount_readable(ctx: V2Request, digest: str) -> Response | None:
    """A mount without `from` (the spec lets a registry take `from` as optional): from some
    repository the caller may pull from now and, with a bearer token, that the token grants
    pull on too, as every /v2 request needs both."""
    project_ids, public = await pull_projects(ctx.caller.identity)
    token = ctx.caller.token
    granted = None if token is None else token.repositories_granting(Action.PULL.value)
    readable = Readable(project_ids, public, granted)
    if not await ctx.registry.blobs.mount_readable(ctx.name, ctx.project, digest, readable):
        return None
    return _created(ctx, digest)


def _valid_name(name: str) -> bool:
    try:
        validate_name(name)
    except NameInvalid:
        return False
    return True


def _chunk_range(ctx: V2Request) -> tuple[int | None, int | None]:
    """(start, length) from Content-Range and Content-Length; they must agree."""
    length = ctx.header_int("Content-Length")
    header = ctx.request.headers.get("Content-Range")
    if not header:
        return None, length
    match = _CONTENT_RANGE_RE.match(header.strip())
    if not match:
        raise SizeInvalid(f"Content-Range {header!r} is not <start>-<end>")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise SizeInvalid(f"Content-Range {header!r} ends before it starts")
    if length is not None and length != end - start + 1:
        raise SizeInvalid(
            f"Content-Range {header!r} spans {end - start + 1} bytes, Content-Length says {length}"
        )
    return start, end - start + 1


def _progress(ctx: V2Request, session: Upload) -> Response:
    return Response(
        b"",
        status=202,
        headers={
            "Location": ctx.location(f"blobs/uploads/{session.id}"),
            "Range": f"0-{max(session.offset - 1, 0)}",
            "Docker-Upload-UUID": session.id,
            "Content-Length": "0",
        },
    )


def _created(ctx: V2Request, digest: str) -> Response:
    return Response(
        b"",
        status=201,
        headers={
            "Location": ctx.location(f"blobs/{digest}"),
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        },
    )
