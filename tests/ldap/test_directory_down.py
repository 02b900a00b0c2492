"""A directory that stops answering: LDAP logins get 503, the local admin still gets in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ldap.directory import (
    PASSWORDS,
    Slapd,
    berth_on,
    configure,
    ldap_config,
    start_slapd,
    token_status,
)
from tests.support import ADMIN, RunningBerth


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningBerth, Slapd]]:
    """A Berth whose own directory answered one login, then was stopped."""
    directory = start_slapd(Path(tmp_path_factory.mktemp("slapd-down")))
    try:
        with berth_on("sqlite", Path(tmp_path_factory.mktemp("berth-down"))) as server:
            configure(server, ldap_config(directory.url)).raise_for_status()
            assert token_status(server, "alice", PASSWORDS["alice"]) == 200
            directory.stop()
            yield server, directory
    finally:
        directory.stop()


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/service/token", id="service-token"),
        pytest.param("/v2/", id="v2-basic"),
        pytest.param("/api/v2.0/users/current", id="api-basic"),
    ],
)
def test_ldap_login_is_unavailable(stopped: tuple[RunningBerth, Slapd], path: str) -> None:
    server, _ = stopped
    # When erin (never logged in, so nothing remembered) logs in while the directory is down
    response = httpx.get(f"{server.url}{path}", auth=("erin", PASSWORDS["erin"]))
    # Then the server says the directory is unavailable, not that her password is wrong
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"


def test_local_admin_still_logs_in(stopped: tuple[RunningBerth, Slapd]) -> None:
    server, _ = stopped
    assert token_status(server, *ADMIN) == 200


def test_ping_reports_the_failure(stopped: tuple[RunningBerth, Slapd]) -> None:
    server, _ = stopped
    body = httpx.post(f"{server.url}/api/v2.0/ldap/ping", json={}, auth=ADMIN).json()
    assert body["success"] is False
    assert "unavailable" in body["message"]
