"""The HTTP side of the client of another registry: who we talk to (Endpoint), what can go
wrong (RemoteError and its kinds), and one request done right (Transport) — authenticated
as the remote asks, paced by a rate limit, retried with backoff, and translated into a
RemoteError a task log can show when it fails for good.

No whole-request timeout anywhere: a blob of gigabytes may take hours and must not die at a
fixed deadline, as Harbor's copies die at 30 minutes. Instead every read and write of the
socket must make progress within `stall` seconds.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import random
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from models.errors import Unavailable

STALL_SECONDS = 60.0  # a read or write that makes no progress this long has failed
CONNECT_SECONDS = 10.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
BACKOFF_BASE, BACKOFF_CAP = 0.5, 30.0
MAX_RETRY_AFTER = 600.0  # a longer wait (Docker Hub says hours) fails the request instead
ERROR_BODY_LIMIT = 64 * 1024
NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"})

Body = bytes | AsyncIterator[bytes] | None
BodyFactory = Callable[[], Body]  # called once per attempt: a retry sends the body again
Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Another registry, as a registry row describes it (the password already unsealed)."""

    url: str  # http(s)://host[:port], optionally with a path prefix
    username: str = ""
    password: str = ""
    insecure: bool = False  # do not verify TLS
    ca_certificate: str = ""  # PEM to trust
    requests_per_second: float = 0.0  # 0: unlimited; shared by every user of one client


class RemoteError(Unavailable):
    """The remote registry failed a request. str() is one line for a task log:
    "401 UNAUTHORIZED from https://x/v2/a/manifests/1: authentication required"."""

    def __init__(
        self, reason: str, status: int | None = None, code: str = "", retry_after: float = 0.0
    ) -> None:
        super().__init__(reason)
        self.status = status  # the HTTP status, None when no answer came
        self.code = code  # the OCI error code of the answer, "" without one
        self.retry_after = retry_after  # seconds the remote asked us to wait, 0 for none


class RemoteUnauthorized(RemoteError):
    """401 or 403 after authenticating: the credentials are wrong or lack the right."""


class RemoteNotFound(RemoteError):
    """404, or one of the not-found codes (MANIFEST_UNKNOWN, NAME_UNKNOWN, BLOB_UNKNOWN)."""


class RemoteUnavailable(RemoteError):
    """No usable answer: connection refused, DNS, TLS, a stall, or 5xx/429 after retries."""


class RemoteStopped(Exception):
    """A transfer gave up because its should_stop said so. Not a failure of the remote, so
    not a RemoteError: a stop is never retried."""


@dataclass(slots=True)
class Challenge:
    """A WWW-Authenticate challenge: Basic, or Bearer with its token service."""

    scheme: str  # "basic" or "bearer"
    realm: str = ""
    service: str = ""
    scope: str = ""


_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


def parse_challenge(header: str) -> Challenge | None:
    """The challenge of a WWW-Authenticate value (Bearer preferred when both are offered)."""
    lowered = header.lower()
    if "bearer" in lowered:
        params = {
            k.lower(): a or b for k, a, b in _PARAM.findall(header[lowered.index("bearer") :])
        }
        return Challenge(
            "bearer", params.get("realm", ""), params.get("service", ""), params.get("scope", "")
        )
    if lowered.strip().startswith("basic"):
        return Challenge("basic")
    return None


class RateLimiter:
    """Requests spaced 1/rate apart, shared by every coroutine of one client."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0

    async def acquire(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval  # reserved before sleeping: no lock needed
        if slot > now:
            await asyncio.sleep(slot - now)


class Throttle:
    """A speed cap in KiB/s for one transfer (0: none), averaged from its start."""

    def __init__(self, kib_per_second: int) -> None:
        self.rate = kib_per_second * 1024
        self._start = 0.0
        self._bytes = 0

    async def take(self, size: int) -> None:
        if not self.rate:
            return
        if not self._start:
            self._start = time.monotonic()
        self._bytes += size
        ahead = self._bytes / self.rate - (time.monotonic() - self._start)
        if ahead > 0:
            await asyncio.sleep(ahead)


def retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds (an integer or an HTTP date); 0 when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return 0.0
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff(attempt: int) -> float:
    """Seconds before retry `attempt` (0-based): 0.5 s × 2^n, capped at 30 s, jittered."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * random.uniform(0.75, 1.25)


def short_url(url: httpx.URL | str) -> str:
    """A URL without its query: upload states and tokens stay out of task logs."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None))


def ssl_verify(endpoint: Endpoint) -> ssl.SSLContext | bool:
    if endpoint.insecure:
        return False
    if endpoint.ca_certificate:
        return ssl.create_default_context(cadata=endpoint.ca_certificate)
    return True


def transport_failure(exc: httpx.HTTPError, url: httpx.URL | str, stall: float) -> RemoteError:
    """The RemoteUnavailable of a request that got no answer."""
    where = short_url(url)
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        return RemoteUnavailable(f"no progress for {stall:g} s on {where}: the transfer stalled")
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return RemoteUnavailable(f"could not connect to {where}: timed out")
    detail = str(exc) or type(exc).__name__
    return RemoteUnavailable(f"{type(exc).__name__} on {where}: {detail}")


async def read_limited(response: httpx.Response, limit: int) -> bytes:
    """At most limit bytes of a streamed body (the rest is dropped with the connection)."""
    data = bytearray()
    async for piece in response.aiter_bytes():
        data += piece
        if len(data) > limit:
            break
    await response.aclose()
    return bytes(data[:limit])


async def error_of(response: httpx.Response, hint: str = "") -> RemoteError:
    """The RemoteError an unwanted answer stands for; reads (a bounded part of) its body."""
    try:
        body = await read_limited(response, ERROR_BODY_LIMIT)
    except httpx.HTTPError:
        body = b""
    code, message = _error_text(body)
    status = response.status_code
    reason = f"{status} {code or response.reason_phrase.upper() or 'ERROR'}"
    text = f"{reason} from {short_url(response.request.url)}: {message or 'no reason given'}"
    if hint:
        text += f" ({hint})"
    kind: type[RemoteError] = RemoteError
    if status in (401, 403):
        kind = RemoteUnauthorized
    elif status == 404 or code in NOT_FOUND_CODES:
        kind = RemoteNotFound
    elif status in RETRY_STATUSES or status >= 500:
        kind = RemoteUnavailable
    return kind(text, status, code, retry_after(response))


def _error_text(body: bytes) -> tuple[str, str]:
    """(OCI code, message) of an error body: the errors envelope, or its first text line."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        line = body.decode(errors="replace").strip().splitlines()
        return "", line[0][:200] if line else ""
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("code", "")), str(first.get("message", ""))[:200]
    if isinstance(parsed, dict) and "message" in parsed:
        return "", str(parsed["message"])[:200]
    return "", ""


class Transport:
    """One registry's connection pool, credentials, tokens and rate limit.

    `send` returns the response opened for streaming (the caller reads or closes it) for any
    status except those it retries; callers turn unwanted statuses into errors with
    `error_of`. Tokens are cached per scope string until they expire.
    """

    def __init__(self, endpoint: Endpoint, *, retries: int, stall: float, log: Log | None) -> None:
        self.endpoint = endpoint
        self.base = endpoint.url.rstrip("/")
        self.retries = retries
        self.stall = stall
        self.log: Log = log or (lambda message: None)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=CONNECT_SECONDS, read=stall, write=stall, pool=None),
            verify=ssl_verify(endpoint),
        )
        self._rate = RateLimiter(endpoint.requests_per_second)
        self._scheme = ""  # "", "basic" or "bearer": what the remote asked for
        self._bearer: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (token, monotonic expiry)
        self._token_lock = asyncio.Lock()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        scope: str = "",
        headers: dict[str, str] | None = None,
        body: BodyFactory | None = None,
        params: dict[str, str] | None = None,
        follow: bool = False,
        retry: bool = True,
        authenticate: bool = True,
    ) -> httpx.Response:
        """One request, authenticated for scope (unless authenticate=False: the headers
        carry their own) and retried (unless retry=False) on connection errors and
        429/5xx; RemoteUnavailable when retries run out or the answer never comes."""

        def attempt() -> Awaitable[httpx.Response]:
            if not authenticate:
                return self._once(method, url, None, headers or {}, body, params, follow)
            return self._authorized(method, url, scope, headers or {}, body, params, follow)

        return await self.retrying(attempt, url, self.retries if retry else 0)

    async def retrying(
        self, attempt: Callable[[], Awaitable[httpx.Response]], url: str | httpx.URL, retries: int
    ) -> httpx.Response:
        failures = 0
        while True:
            try:
                response = await attempt()
            except httpx.TransportError as exc:
                error = transport_failure(exc, url, self.stall)
                if failures >= retries:
                    raise error from None
            else:
                if response.status_code not in RETRY_STATUSES or failures >= retries:
                    return response
                error = await error_of(response)
            await self.pause(failures, error)
            failures += 1

    async def pause(self, failures: int, error: RemoteError) -> None:
        """Wait before retry number failures+1: as Retry-After says, else the backoff."""
        host = httpx.URL(self.base).host
        status = error.status or "no answer"
        if error.retry_after and error.status in RETRY_AFTER_STATUSES:
            if error.retry_after > MAX_RETRY_AFTER:
                raise RemoteUnavailable(
                    f"{error} — Retry-After asks for {error.retry_after:.0f} s, more than"
                    f" {MAX_RETRY_AFTER:.0f} s",
                    error.status,
                    error.code,
                    error.retry_after,
                )
            self.log(f"{status} from {host}: waiting {error.retry_after:g} s as Retry-After says")
            await asyncio.sleep(error.retry_after)
            return
        delay = backoff(failures)
        self.log(f"{error}; retrying in {delay:.1f} s ({failures + 1} of {self.retries})")
        await asyncio.sleep(delay)

    async def _authorized(
        self,
        method: str,
        url: str | httpx.URL,
        scope: str,
        headers: dict[str, str],
        body: BodyFactory | None,
        params: dict[str, str] | None,
        follow: bool,
    ) -> httpx.Response:
        """Send with the credentials we expect to need; on a 401 learn its challenge and
        send once more if that gives credentials we have not tried."""
        sent = await self._authorization(scope)
        response = await self._once(method, url, sent, headers, body, params, follow)
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("www-authenticate", ""))
        if challenge is None:
            return response
        fresh = await self._learn(challenge, scope, refresh=sent is not None)
        if fresh is None or fresh == sent:
            return response
        await response.aclose()
        return await self._once(method, url, fresh, headers, body, params, follow)

    async def _once(
        self,
        method: str,
        url: str | httpx.URL,
        authorization: str | None,
        headers: dict[str, str],
        body: BodyFactory | None,
        params: dict[str, str] | None,
        follow: bool,
    ) -> httpx.Response:
        await self._rate.acquire()
        wanted = dict(headers)
        if authorization:
            wanted["Authorization"] = authorization
        request = self.client.build_request(
            method, url, headers=wanted, content=body() if body else None, params=params
        )
        # httpx drops Authorization on a redirect to another host (a blob store's URL).
        return await self.client.send(request, stream=True, follow_redirects=follow)

    def basic(self) -> str | None:
        if not self.endpoint.username:
            return None
        pair = f"{self.endpoint.username}:{self.endpoint.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def credentials_hint(self) -> str:
        user = self.endpoint.username
        return f"user {user!r}" if user else "no credentials are configured"

    async def fail(self, response: httpx.Response) -> RemoteError:
        """The error of an unwanted answer; a refusal says whose credentials were refused."""
        hint = self.credentials_hint() if response.status_code in (401, 403) else ""
        return await error_of(response, hint)

    async def _authorization(self, scope: str) -> str | None:
        """The Authorization to send before the remote asks (none until it first does)."""
        if self._scheme == "basic":
            return self.basic()
        if self._scheme == "bearer":
            cached = self._tokens.get(scope)
            if cached and cached[1] > time.monotonic():
                return f"Bearer {cached[0]}"
            return await self._token(scope)
        return None

    async def _learn(self, challenge: Challenge, scope: str, refresh: bool) -> str | None:
        self._scheme = challenge.scheme
        if challenge.scheme == "basic":
            return self.basic()
        self._bearer = challenge
        if refresh:
            self._tokens.pop(scope, None)  # the one we sent was refused: fetch a fresh one
        extra = challenge.scope if challenge.scope and challenge.scope not in scope else ""
        return await self._token(scope, extra)

    async def _token(self, scope: str, extra: str = "") -> str | None:
        """A token for scope from the Bearer challenge's realm (cached); RemoteUnauthorized
        when the token service refuses the credentials."""
        challenge = self._bearer
        if challenge is None or not challenge.realm:
            return None
        async with self._token_lock:
            cached = self._tokens.get(scope)
            if cached and cached[1] > time.monotonic() and not extra:
                return f"Bearer {cached[0]}"
            token, lifetime = await self._fetch_token(challenge, [*scope.split(), *extra.split()])
            self._tokens[scope] = (token, time.monotonic() + max(lifetime - 10, lifetime / 2))
            return f"Bearer {token}"

    async def _fetch_token(self, challenge: Challenge, scopes: list[str]) -> tuple[str, float]:
        params: list[tuple[str, str | int | float | bool | None]] = (
            [("service", challenge.service)] if challenge.service else []
        )
        params += [("scope", s) for s in scopes]
        if self.endpoint.username:
            params.append(("account", self.endpoint.username))
        headers = {"Authorization": auth} if (auth := self.basic()) else {}
        url = httpx.URL(challenge.realm).copy_merge_params(tuple(params))

        async def attempt() -> httpx.Response:
            await self._rate.acquire()
            return await self.client.send(
                self.client.build_request("GET", url, headers=headers), stream=True
            )

        response = await self.retrying(attempt, challenge.realm, self.retries)
        if response.status_code != 200:
            raise await error_of(response, f"the token service refused {self.credentials_hint()}")
        try:
            answer: Any = json.loads(await read_limited(response, ERROR_BODY_LIMIT))
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        token = answer.get("token") or answer.get("access_token")
        if not token:
            raise RemoteError(f"the token service {short_url(challenge.realm)} gave no token")
        return str(token), float(answer.get("expires_in") or 60)
