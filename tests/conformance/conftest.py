"""Fixtures for the OCI Distribution conformance tests: an HTTP client, a fresh repository."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.oci import Registry, unique
from tests.support import free_port, wait_http


@pytest.fixture(scope="session")
def registry_url(request: pytest.FixtureRequest) -> Iterator[str]:
    # TEMPORARY: CONFORMANCE_TARGET=distribution runs the suite against the reference registry.
    if os.environ.get("CONFORMANCE_TARGET") != "distribution":
        yield request.getfixturevalue("berth_server").url
        return
    with tempfile.TemporaryDirectory() as root:
        port = free_port()
        config = Path(root) / "config.yml"
        config.write_text(
            f"version: 0.1\nstorage: {{filesystem: {{rootdirectory: {root}/data}},"
            " delete: {enabled: true}}\n"
            f"http: {{addr: 127.0.0.1:{port}}}\nlog: {{level: error}}\n"
        )
        proc = subprocess.Popen(["docker-registry", "serve", str(config)])
        try:
            wait_http(f"http://127.0.0.1:{port}/v2/", proc=proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=15)


@pytest.fixture
def http(registry_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry_url, timeout=30.0) as client:
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
