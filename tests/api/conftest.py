"""Servers of the API tests that need one of their own (the GC tests: runs, schedules and
their one-at-a-time rule are server-wide, so they must not share the session's server; the
replication tests: jobs held, so that no engine runs the executions they write)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.peers import running_distribution
from tests.support import (
    REDIS,
    InProcessBerth,
    RunningBerth,
    assert_log_clean,
    berth_app,
    broker_env,
    postgres_database,
    redis_answers,
    require,
    running_berth,
    running_berth_with,
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gc_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    """A Berth of the GC tests' own per database backend (embedded jobs); its log must stay
    free of error lines."""
    data_dir = Path(tmp_path_factory.mktemp(f"berth-gc-{request.param}"))
    with running_berth_with(request.param, data_dir) as server:
        yield server
    assert_log_clean(data_dir / "server.log", during="the GC tests")


@pytest.fixture(params=["sqlite", "postgres"])
def queued_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RunningBerth, dict[str, str]]]:
    """A Berth whose jobs go to Redis and wait there, no worker consuming them (a run stays
    Pending until the test starts one with `berth_worker(data_dir, env)`); (server, env)."""
    require(redis_answers(REDIS), "Redis is not running on 127.0.0.1:6379")
    with _database(request.param, tmp_path) as database:
        env = {**broker_env(REDIS), **database}
        with running_berth(tmp_path, env) as server:
            yield server, env


@contextmanager
def _database(backend: str, folder: Path) -> Iterator[dict[str, str]]:
    if backend == "sqlite":
        yield {"BERTH_DATABASE_URL": f"sqlite://{folder / 'berth.db'}"}
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        yield {"BERTH_DATABASE_URL": str(url)}


@pytest.fixture(params=["sqlite", "postgres"])
async def held_jobs(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[InProcessBerth]:
    """Berth in the test's process (as `in_process`) whose jobs go to a Redis queue nobody
    reads: an execution the test starts stays as the test writes it (the replication API
    tests play the engine themselves). Nothing may be logged as an error meanwhile."""
    require(redis_answers(REDIS), "Redis is not running on 127.0.0.1:6379")
    env = broker_env(REDIS)
    broker = {"broker_url": REDIS, "broker_namespace": env["BERTH_BROKER_NAMESPACE"]}
    errors: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            errors.append(f"{record.name}: {record.getMessage()}")

    handler = Collect(logging.ERROR)
    logging.getLogger().addHandler(handler)
    try:
        with _database(request.param, tmp_path) as database:
            url = database["BERTH_DATABASE_URL"] if request.param == "postgres" else None
            async with berth_app(tmp_path, url, **broker) as app:
                yield app
    finally:
        logging.getLogger().removeHandler(handler)
    assert not errors, "\n".join(errors[:20])


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """Distribution (Debian's docker-registry) without auth: a remote registry to replicate
    to."""
    with running_distribution(Path(tmp_path_factory.mktemp("distribution"))) as server:
        yield server
