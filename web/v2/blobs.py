"""Blob endpoints: HEAD, GET (with Range) and DELETE."""

from __future__ import annotations

import re

from quart import Response

from access.policy import Action
from core.errors import RangeInvalid
from web.v2.context import V2Request

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def head_blob(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PULL)
    info = await ctx.registry.blobs.stat(ctx.name, ctx.arg)
    response = Response(b"", status=200, headers=_blob_headers(info.digest))
    response.headers["Content-Length"] = str(info.size)
    return response


async def get_blob(ctx: V2Request) -> Response:
    await ctx.authorize(Action.PULL)
    info = await ctx.registry.blobs.stat(ctx.name, ctx.arg)
    headers = _blob_headers(info.digest)
    if url := await _redirect_url(ctx, info.digest):
        return Response(b"", 307, {**headers, "Location": url, "Content-Length": "0"})
    start, length, status = 0, info.size, 200
    requested = ctx.request.headers.get("Range")
    span = parse_range(requested, info.size) if requested else None
    if span is not None:
        start, end = span
        length, status = end - start + 1, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    body = ctx.registry.blobs.read(info.digest, start, length)
    response = Response(body, status=status, headers=headers)
    response.headers["Content-Length"] = str(length)
    return response


async def _redirect_url(ctx: V2Request, digest: str) -> str | None:
    """storage.redirect: where the store serves the blob for a while (None: serve it here)."""
    if not ctx.redirect_seconds:
        return None
    return await ctx.registry.blobs.redirect_url(digest, ctx.redirect_seconds)


async def delete_blob(ctx: V2Request) -> Response:
    await ctx.authorize(Action.DELETE)
    await ctx.registry.blobs.unlink(ctx.name, ctx.arg)
    return Response(b"", status=202, headers={"Content-Length": "0"})


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range of RFC 9110 (a-b, a-, -n) as inclusive (start, end).

    None for a header to ignore (another unit, several ranges, bad syntax): RFC 9110
    lets a server answer those with the whole content. Raises RangeInvalid when the
    range lies outside the blob.
    """
    match = _RANGE_RE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        if int(last) == 0:
            raise RangeInvalid(header, size)
        start, end = max(size - int(last), 0), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:
            return None  # syntactically invalid: ignored
    if start >= size:
        raise RangeInvalid(header, size)
    return start, end


def _blob_headers(digest: str) -> dict[str, str]:
    return {
        "Docker-Content-Digest": digest,
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }
