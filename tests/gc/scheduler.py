"""A cooperative scheduler for interleaving tests: each actor (a collection, a client's
request) runs as a task on one event loop and stops at gates - the points between its
database statements and storage calls - until a step lets it on to its next gate or its end.

So every interleaving at statement granularity can be produced, one at a time, and the
state between two steps is exactly what the last statement left. Gates must sit outside
transactions: a task parked inside one would hold SQLite's write lock.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

T = TypeVar("T")

_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("actor", default=None)


class Scheduler:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.parked: dict[str, tuple[str, asyncio.Future[None]]] = {}  # actor -> (gate, key)
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self.free = False  # gates open: everything runs to its end

    async def gate(self, label: str) -> None:
        """Stop the calling actor here until it is released (code outside actors passes)."""
        name = _actor.get()
        if name is None or self.free:
            return
        key: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.parked[name] = (label, key)
        await key

    def gated(self, label: str, func: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """func with a gate before every call - but for a statement run in a transaction
        (using=...): a task parked there would hold the transaction open."""

        @wraps(func)
        async def call(*args: Any, **kwargs: Any) -> T:
            if kwargs.get("using") is None:
                await self.gate(label)
            return await func(*args, **kwargs)

        return call

    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> None:
        async def run() -> Any:
            _actor.set(name)
            return await coro

        self.tasks[name] = self.loop.create_task(run())

    def release(self, name: str) -> str:
        """Let actor name run on; the gate it was parked at."""
        label, key = self.parked.pop(name)
        key.set_result(None)
        return label

    def open_all(self) -> None:
        self.free = True
        for name in list(self.parked):
            self.release(name)

    def quiet(self) -> bool:
        return all(t.done() or n in self.parked for n, t in self.tasks.items())

    async def settle(self, within: float = 60.0) -> None:
        """Run the loop until every actor is parked or done."""
        deadline = time.monotonic() + within
        while not self.quiet():
            if time.monotonic() > deadline:
                running = [
                    n for n, t in self.tasks.items() if not t.done() and n not in self.parked
                ]
                raise AssertionError(f"actors neither parked nor done within {within}s: {running}")
            await asyncio.sleep(0.001)

    def finished(self) -> list[tuple[str, asyncio.Task[Any]]]:
        """The actors that have ended since the last call (their tasks, with the outcome)."""
        done = [(n, t) for n, t in self.tasks.items() if t.done()]
        for name, _task in done:
            del self.tasks[name]
        return done
