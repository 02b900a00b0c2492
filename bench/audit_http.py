"""The audit search API under load: each kind of query from a few concurrent clients.

Every request of a kind asks something different (another user, word, digest, project or
time window), drawn from the generated world, so no cache answers twice the same question.
Latency is the client's: from sending the request to the last byte of the answer.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from bench.audit_data import FIRST_NAMES, World

API = "/api/v2.0"
Request = tuple[str, dict[str, str]]  # path, query parameters


@dataclass(frozen=True)
class QueryKind:
    key: str
    label: str
    make: Callable[[random.Random], Request]


@dataclass
class Latency:
    """What one kind of query measured: latencies in ms, matches (X-Total-Count) per answer."""

    key: str
    label: str
    millis: list[float] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    capped: int = 0  # answers whose X-Total-Count was a lower bound (X-Total-Count-Exact: false)

    def percentile(self, share: float) -> float | None:
        """Nearest-rank percentile."""
        if not self.millis:
            return None
        ordered = sorted(self.millis)
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

    @property
    def rate(self) -> float:
        return len(self.millis) / self.seconds if self.seconds else 0.0

    @property
    def median_total(self) -> float | None:
        if not self.totals:
            return None
        return sorted(self.totals)[len(self.totals) // 2]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Queries:
    """The kinds of query the dashboard and API users send, over events from start to end."""

    def __init__(self, world: World, start: datetime, end: datetime) -> None:
        self.world, self.start, self.end = world, start, end

    def window(self, rng: random.Random, days: float = 7) -> str:
        """op_time=[A~B] over `days` (or the whole span if shorter) somewhere in the data."""
        span = (self.end - self.start).total_seconds()
        width = min(days * 86400, span)
        low = self.start + timedelta(seconds=rng.uniform(0, span - width))
        return f"op_time=[{_iso(low)}~{_iso(low + timedelta(seconds=width))}]"

    def filtered(self, rng: random.Random, extra: str = "") -> dict[str, str]:
        q = f"operation=create,resource_type=artifact,{self.window(rng)}{extra}"
        return {"q": q, "sort": "-op_time", "page": "3", "page_size": "50"}

    def kinds(self) -> list[QueryKind]:
        w = self.world
        rare = w.artifacts[len(w.artifacts) // 4 :]  # the long tail: pulled a few times each
        names = [a.name for a in w.accounts]  # people and CI robots alike

        def common_word(rng: random.Random) -> Request:
            name = rng.choice(FIRST_NAMES)
            return f"{API}/auditlog-exts", {"text": name[: rng.randint(3, len(name))]}

        def rare_word(rng: random.Random) -> Request:
            digest = rng.choice(rare).digest.removeprefix("sha256:")
            return f"{API}/auditlog-exts", {"text": digest[:12]}

        def by_user(rng: random.Random) -> Request:
            return f"{API}/auditlog-exts", self.filtered(rng, f",username={rng.choice(names)}")

        def by_project(rng: random.Random) -> Request:
            return f"{API}/auditlog-exts", self.filtered(rng, f",project={rng.choice(w.projects)}")

        def project_log(rng: random.Random) -> Request:
            return f"{API}/projects/{rng.choice(w.projects)}/auditlog-exts", self.filtered(rng)

        def newest(rng: random.Random) -> Request:
            return f"{API}/auditlog-exts", {"page": "1", "page_size": "15"}

        def deep(rng: random.Random) -> Request:
            return f"{API}/auditlog-exts", {"page": str(rng.randint(95, 100)), "page_size": "15"}

        def deepest(rng: random.Random) -> Request:
            return f"{API}/auditlog-exts", {"page": "100", "page_size": "100"}

        return [
            QueryKind("text_common", "a. text=<first-name prefix> (many matches)", common_word),
            QueryKind("text_rare", "b. text=<12 hex of a rarely pulled digest>", rare_word),
            QueryKind(
                "filtered",
                "c. q=operation=create,resource_type=artifact,op_time=[7 days] "
                "sort=-op_time page=3 page_size=50",
                lambda rng: (f"{API}/auditlog-exts", self.filtered(rng)),
            ),
            QueryKind("by_user", "d. c + username=<user>", by_user),
            QueryKind("by_project", "d. c + project=<project>", by_project),
            QueryKind("project_log", "d. c on /projects/<project>/auditlog-exts", project_log),
            QueryKind("newest", "e. newest page (page 1, page_size 15, no filter)", newest),
            QueryKind("deep", "e. page 95-100 of 15 (offset ~1,500)", deep),
            QueryKind("deepest", "e. page 100 of 100 (offset 9,900: the window's end)", deepest),
        ]


def signed_in_client(base: str, account: tuple[str, str], auth: str) -> httpx.Client:
    """A keep-alive client signed in as account: Basic credentials on every request, or the
    dashboard's session cookie from POST /c/login (one password check in all)."""
    if auth == "basic":
        return httpx.Client(base_url=base, auth=account, timeout=60)
    client = httpx.Client(base_url=base, timeout=60)
    answer = client.post("/c/login", data={"principal": account[0], "password": account[1]})
    if answer.status_code != 200:
        raise RuntimeError(f"POST /c/login answered {answer.status_code}: {answer.text[:200]}")
    return client


def run_kind(
    kind: QueryKind, clients: list[httpx.Client], count: int, seed: int, warmup: int = 3
) -> Latency:
    """count requests of kind spread over the clients, each client in its own thread."""
    result = Latency(kind.key, kind.label)
    lock = threading.Lock()
    share = math.ceil(count / len(clients))

    def worker(index: int) -> None:
        rng = random.Random(f"{seed}-{kind.key}-{index}")
        client = clients[index]
        for n in range(warmup + share):
            path, params = kind.make(rng)
            started = time.perf_counter()
            answer = client.get(path, params=params)
            elapsed = (time.perf_counter() - started) * 1000
            if n < warmup:
                continue
            with lock:
                if answer.status_code != 200:
                    result.errors.append(
                        f"{answer.status_code} {path} {params}: {answer.text[:200]}"
                    )
                    continue
                result.millis.append(elapsed)
                result.totals.append(int(answer.headers.get("X-Total-Count", "-1")))
                result.capped += answer.headers.get("X-Total-Count-Exact") == "false"

    started = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        for future in [pool.submit(worker, i) for i in range(len(clients))]:
            future.result()
    result.seconds = time.perf_counter() - started
    return result


def measure(
    base: str,
    account: tuple[str, str],
    queries: Queries,
    *,
    requests: int,
    clients: int,
    auth: str,
    seed: int,
    log: Callable[[str], None] = print,
) -> list[Latency]:
    """Every kind of query in turn, `requests` of each from `clients` concurrent clients."""
    pool = [signed_in_client(base, account, auth) for _ in range(clients)]
    results = []
    try:
        for kind in queries.kinds():
            latency = run_kind(kind, pool, requests, seed)
            results.append(latency)
            log(
                f"    {kind.key:12} p50 {latency.percentile(0.5) or 0:7.1f} ms  "
                f"p99 {latency.percentile(0.99) or 0:7.1f} ms  "
                f"{latency.rate:6.1f} req/s  "
                f"matches ~{latency.median_total}{'+' * bool(latency.capped)}  "
                f"errors {len(latency.errors)}"
            )
    finally:
        for client in pool:
            client.close()
    return results
