"""The LDAP tests' fixtures: one directory per session, Berth servers using it (the helpers
and the directory's contents are in tests/ldap/directory.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ldap.directory import Slapd, berth_on, configure, ldap_config, start_slapd
from tests.support import RunningBerth


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_berth(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBerth]:
    with berth_on(request.param, tmp_path_factory.mktemp(f"berth-{request.param}")) as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def ldap_berth(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, slapd: Slapd
) -> Iterator[RunningBerth]:
    """A Berth server in ldap_auth mode against the session's directory."""
    with berth_on(request.param, tmp_path_factory.mktemp(f"berth-{request.param}")) as server:
        configure(server, ldap_config(slapd.url)).raise_for_status()
        yield server
