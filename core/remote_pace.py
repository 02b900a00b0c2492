"""Pacing the client of another registry: the per-client request rate, the per-transfer
speed cap, and the backoff between retries."""

from __future__ import annotations

import asyncio
import random
import time

BACKOFF_BASE, BACKOFF_CAP = 0.5, 30.0


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


def backoff(attempt: int) -> float:
    """Seconds before retry `attempt` (0-based): 0.5 s × 2^n, capped at 30 s, jittered."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * random.uniform(0.75, 1.25)
