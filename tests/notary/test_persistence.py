"""Berth keeps trust data, and the keys it signs timestamps with, across a restart, on each
database: a new notary user (empty trust dir) lists what was signed before, and the user
who signed it goes on publishing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.notary.cli import NotaryClient, targets_of
from tests.notary.support import TrustServer, payload, target
from tests.support import (
    ADMIN,
    RunningBerth,
    assert_log_clean,
    postgres_database,
    require,
    running_berth,
)

pytestmark = pytest.mark.e2e


@contextmanager
def database(backend: str) -> Iterator[dict[str, str]]:
    """The environment of a Berth on a database of its own that outlives the process."""
    if backend == "sqlite":
        yield {}
        return
    with postgres_database() as url:
        require(url is not None, "PostgreSQL is not running on 127.0.0.1:5432")
        yield {"BERTH_DATABASE_URL": str(url)}


@contextmanager
def berth(data_dir: Path, env: dict[str, str]) -> Iterator[RunningBerth]:
    log = data_dir / "server.log"
    start = log.stat().st_size if log.exists() else 0
    with running_berth(data_dir, env) as server:
        yield server
    assert_log_clean(log, start)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_trust_data_survives_a_restart(backend: str, tmp_path: Path) -> None:
    data_dir, home = tmp_path / "berth", tmp_path / "signer"
    with database(backend) as env:
        # Given a GUN signed through Berth
        with berth(data_dir, env) as first:
            gun = TrustServer.of_berth(first).gun()
            signer = TrustServer.of_berth(first).client(home)
            for command in (
                ("init", gun),
                ("add", gun, "v1", payload(home, "v1")),
                ("publish", gun),
            ):
                signer.ok(*command)
        # When Berth starts again (on another port, the same data folder and database)
        with berth(data_dir, env) as second:
            newcomer = TrustServer.of_berth(second).client(tmp_path / "newcomer")
            # Then a user who never saw the GUN lists what was signed
            assert targets_of(newcomer.ok("list", gun)) == [target("v1")]
            # and the signer publishes again: Berth still holds its timestamp key
            again = NotaryClient(second.url, home, None, ADMIN)
            again.ok("add", gun, "v2", payload(home, "v2"))
            again.ok("publish", gun)
            assert targets_of(newcomer.ok("list", gun)) == [target("v1"), target("v2")]
