"""The HTTP side of the client of another registry: who we talk to (Endpoint) and one
request done right (Transport) — authenticated as the remote asks, paced by a rate limit,
retried with backoff, and translated into a RemoteError (core/remote_errors.py) a task log
can show when it fails for good.

No whole-request timeout anywhere: a blob of gigabytes may take hours and must not die at a
fixed deadline, as Harbor's copies die at 30 minutes. Instead every read and write of the
socket must make progress within `stall` seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from core.remote_errors import (
    ERROR_BODY_LIMIT,
    RETRY_STATUSES,
    RemoteError,
    RemoteUnavailable,
    error_of,
    read_limited,
    release,
    short_url,
    transport_failure,
)
from core.remote_pace import RateLimiter, backoff

STALL_SECONDS = 60.0  # a read or write that makes no progress this long has failed
CONNECT_SECONDS = 10.0
RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER = 600.0  # a longer wait (Docker Hub says hours) fails the request instead

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


def ssl_verify(endpoint: Endpoint) -> ssl.SSLContext | bool:
    if endpoint.insecure:
        return False
    if endpoint.ca_certificate:
        return ssl.create_default_context(cadata=endpoint.ca_certificate)
    return True


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
        self.log: Log = log if log is not None else (lambda message: None)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=CONNECT_SECONDS, read=stall, write=stall, pool=None),
            verify=ssl_verify(endpoint),
        )
        self._rate = RateLimiter(endpoint.requests_per_second)
        self._scheme = ""  # "", "basic" or "bearer": what the remote asked for
        self._bearer: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (token, monotonic expiry)
        self._token_lock = asyncio.Lock()
        self._discovered = False
        # whether the remote takes a whole blob in one POST ?digest= (None: not tried yet)
        self.one_post: bool | None = None

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
        await release(response)
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
        await self._discover()
        if self._scheme == "basic":
            return self.basic()
        if self._scheme == "bearer":
            cached = self._tokens.get(scope)
            if cached and cached[1] > time.monotonic():
                return f"Bearer {cached[0]}"
            return await self._token(scope)
        return None

    async def _discover(self) -> None:
        """With credentials, learn the remote's challenge (GET /v2/) before the first real
        request: an anonymous answer may be a partial one (a catalog of the public
        projects only), not a 401 to learn from."""
        if self._discovered or not self.endpoint.username:
            return
        async with self._token_lock:
            if self._discovered:
                return
            url = self.url("/v2/")

            def attempt() -> Awaitable[httpx.Response]:
                return self._once("GET", url, None, {}, None, None, False)

            response = await self.retrying(attempt, url, self.retries)
            await release(response)
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if response.status_code == 401 and challenge is not None:
                self._scheme = challenge.scheme
                self._bearer = challenge if challenge.scheme == "bearer" else None
            self._discovered = True

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
        realm = httpx.URL(self.base).join(challenge.realm)  # absolute, as a rule
        url = realm.copy_merge_params(tuple(params))

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
