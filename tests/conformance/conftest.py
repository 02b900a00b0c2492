"""Fixtures for the OCI Distribution conformance tests: an HTTP client, a fresh repository."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conformance.oci import Registry, unique
from tests.support import ADMIN, BerthServers, RunningBerth


@pytest.fixture(scope="session", params=["sqlite", "postgres", "s3"])
def berth_server(request: pytest.FixtureRequest, berth_servers: BerthServers) -> RunningBerth:
    """The session's Berth on each database backend, and on the S3 driver (here only: the
    other suites run on the filesystem driver alone)."""
    return berth_servers(request.param)


@pytest.fixture
def http(berth_server: RunningBerth) -> Iterator[httpx.Client]:
    # Basic credentials on /v2 (the token flow has its own tests): the system admin.
    with httpx.Client(base_url=berth_server.url, timeout=30.0, auth=ADMIN) as client:
        yield client


@pytest.fixture
def registry(http: httpx.Client) -> Registry:
    return Registry(http)


@pytest.fixture
def repo() -> str:
    """A repository name no other test uses, in the one project that exists."""
    return f"library/{unique()}"


@pytest.fixture
def other_repo() -> str:
    return f"library/{unique()}"
