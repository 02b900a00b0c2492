"""Fixtures of the Notary tests: one Berth for the session, the reference notary-server and
notary-signer behind its token service, and the two trust servers a differential test runs
against (`server`, parametrised: the reference first, then Berth)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notary.pki import Leaf, delegation_pair
from tests.notary.reference import ReferenceNotary, running_reference
from tests.notary.support import BERTH, REFERENCE, References, TrustServer
from tests.support import RunningBerth, assert_log_clean, log_size, running_berth


@pytest.fixture(scope="session")
def notary_berth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """The Berth of the session, over HTTPS with its own CA as Docker wants a trust server:
    its Notary API, and the token service of both servers. Its log must hold no
    error-level line when it stops."""
    data_dir = Path(tmp_path_factory.mktemp("notary-berth"))
    with running_berth(data_dir, tls="self-signed") as server:
        yield server
    assert_log_clean(data_dir / "server.log", during="the notary tests")


@pytest.fixture(scope="session")
def reference_notary(
    notary_berth: RunningBerth, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReferenceNotary]:
    with running_reference(Path(tmp_path_factory.mktemp("notary-reference")), notary_berth) as ref:
        yield ref


@pytest.fixture(scope="session")
def trust_servers(
    reference_notary: ReferenceNotary, notary_berth: RunningBerth
) -> dict[str, TrustServer]:
    return {
        REFERENCE: TrustServer.reference(reference_notary, notary_berth),
        BERTH: TrustServer.of_berth(notary_berth),
    }


@pytest.fixture(params=[REFERENCE, BERTH])
def server(
    request: pytest.FixtureRequest, trust_servers: dict[str, TrustServer]
) -> Iterator[TrustServer]:
    """Each trust server in turn; on Berth's turn, its log must stay free of errors."""
    chosen = trust_servers[request.param]
    log = chosen.berth.data_dir / "server.log"
    start = log_size(log)
    yield chosen
    if chosen.name == BERTH:
        assert_log_clean(log, start, during=request.node.name)


@pytest.fixture(scope="session")
def references(
    trust_servers: dict[str, TrustServer], tmp_path_factory: pytest.TempPathFactory
) -> References:
    return References(trust_servers[REFERENCE], Path(tmp_path_factory.mktemp("notary-references")))


@pytest.fixture(scope="session")
def delegation_key(tmp_path_factory: pytest.TempPathFactory) -> Leaf:
    """One delegation key and certificate for the session: both servers see the same key
    ids."""
    return delegation_pair(Path(tmp_path_factory.mktemp("delegation")), "releases")
