"""core/remote.py against real registries: Distribution (Debian's docker-registry) with
htpasswd (bcrypt) Basic auth, and a Berth started here with its token service."""

from __future__ import annotations

import ssl
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.remote import (
    Endpoint,
    RemoteClient,
    RemoteError,
    RemoteNotFound,
    RemoteUnauthorized,
    RemoteUnavailable,
)
from core.remote_http import ssl_verify
from core.replication_platforms import SparseRefused
from tests.core.remote_support import (
    KIB,
    MIB,
    OCI_MANIFEST,
    PASSWORD,
    USER,
    blob,
    digest_of,
    digest_of_stream,
    generated,
    push_image,
    read_all,
    running_distribution_htpasswd,
    source_of,
)
from tests.replication.faultproxy import FaultProxy
from tests.support import ADMIN, RunningBerth, assert_log_clean, free_port, running_berth

PEERS = ["distribution", "berth"]


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    with running_distribution_htpasswd(tmp_path_factory.mktemp("distribution")) as server:
        yield server


@pytest.fixture(scope="module")
def berth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    data_dir = Path(tmp_path_factory.mktemp("berth"))
    with running_berth(data_dir) as server:
        yield server
    assert_log_clean(data_dir / "server.log", during="the remote client's tests")


@pytest.fixture(params=PEERS)
def peer(request: pytest.FixtureRequest) -> Endpoint:
    """The endpoint of each real registry, with credentials it accepts."""
    if request.param == "distribution":
        return Endpoint(request.getfixturevalue("distribution").url, USER, PASSWORD)
    return Endpoint(request.getfixturevalue("berth").url, *ADMIN)


@pytest.fixture
async def client(peer: Endpoint) -> AsyncIterator[RemoteClient]:
    async with RemoteClient(peer) as remote:
        yield remote


def repo(prefix: str = "remote") -> str:
    """A fresh repository in Berth's default project (any name suits Distribution)."""
    return f"library/{prefix}-{uuid.uuid4().hex[:8]}"


# --- auth ------------------------------------------------------------------------------


async def test_ping_with_credentials(client: RemoteClient) -> None:
    await client.ping()


@pytest.mark.parametrize("which", PEERS)
async def test_wrong_password_is_unauthorized_with_a_clear_message(
    which: str, request: pytest.FixtureRequest
) -> None:
    server: RunningBerth = request.getfixturevalue(which)
    user = USER if which == "distribution" else ADMIN[0]
    async with RemoteClient(Endpoint(server.url, user, "not-the-password")) as remote:
        with pytest.raises(RemoteUnauthorized) as raised:
            await remote.ping()
    message = str(raised.value)
    assert raised.value.status == 401
    assert message.startswith("401 ")
    assert server.url in message and repr(user) in message
    assert "\n" not in message
    if which == "berth":
        assert "/service/token" in message and "token service refused" in message


async def test_a_registry_nobody_answers_for_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with RemoteClient(Endpoint(url, "user", "pass"), retries=0) as remote:
        with pytest.raises(RemoteUnavailable, match=f"^ConnectError on {url}/v2/"):
            await remote.ping()


async def test_no_credentials_at_distribution_says_so(distribution: RunningBerth) -> None:
    async with RemoteClient(Endpoint(distribution.url)) as remote:
        with pytest.raises(RemoteUnauthorized, match="no credentials are configured"):
            await remote.tags("library/anything")


async def test_berth_tokens_are_cached_per_scope(berth: RunningBerth) -> None:
    name = repo("tokens")
    async with FaultProxy(berth.url) as proxy:
        async with RemoteClient(Endpoint(proxy.url, *ADMIN)) as remote:
            digest, _ = await push_image(remote, name, "v1", b"layer")
            for _ in range(3):
                assert await remote.head_manifest(name, "v1") == digest
        tokens = [s for s in proxy.seen if s.target.startswith("/service/token")]
    # one for pull,push (the push), one for pull (the reads), none per request
    assert len(tokens) == 2, [s.target for s in tokens]


async def test_a_refused_cached_token_is_replaced_once(berth: RunningBerth) -> None:
    name = repo("refresh")
    async with FaultProxy(berth.url) as proxy:
        async with httpx.AsyncClient() as plain:
            challenge = (await plain.get(f"{proxy.url}/v2/")).headers["www-authenticate"]
        async with RemoteClient(Endpoint(proxy.url, *ADMIN)) as remote:
            digest, _ = await push_image(remote, name, "v1", b"layer")
            assert await remote.head_manifest(name, "v1") == digest
            before = len(proxy.seen)
            proxy.answer(401, headers={"WWW-Authenticate": challenge}, method="HEAD")
            assert await remote.head_manifest(name, "v1") == digest
        steps = [(s.method, s.target.split("?")[0], s.status) for s in proxy.seen[before:]]
    manifest = f"/v2/{name}/manifests/v1"
    assert steps == [
        ("HEAD", manifest, 401),
        ("GET", "/service/token", 200),
        ("HEAD", manifest, 200),
    ]


# --- manifests -------------------------------------------------------------------------


async def test_manifest_round_trip(client: RemoteClient) -> None:
    name = repo("manifests")
    digest, body = await push_image(client, name, "v1", b"one layer")
    assert digest == digest_of(body)

    assert await client.head_manifest(name, "v1") == digest
    for reference in ("v1", digest):
        got = await client.get_manifest(name, reference)
        assert (got.digest, got.media_type, got.body) == (digest, OCI_MANIFEST, body)
    assert await client.tags(name) == ["v1"]

    assert await client.delete_manifest(name, digest) is True
    assert await client.delete_manifest(name, digest) is False
    assert await client.head_manifest(name, "v1") is None
    with pytest.raises(RemoteNotFound):
        await client.get_manifest(name, digest)


async def test_a_manifest_with_missing_blobs_is_refused(client: RemoteClient) -> None:
    body = (
        b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","config":'
        b'{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"'
        + digest_of(b"{}").encode()
        + b'"},"layers":[]}'
    )
    with pytest.raises(RemoteError) as raised:
        await client.put_manifest(repo("missing"), "v1", body, OCI_MANIFEST)
    assert raised.value.status is not None and 400 <= raised.value.status < 500
    assert raised.value.code  # the OCI code of the refusal, e.g. MANIFEST_BLOB_UNKNOWN


# --- listing ---------------------------------------------------------------------------


async def test_tags_and_catalog_follow_every_page(client: RemoteClient) -> None:
    names = sorted(repo("paged") for _ in range(3))
    tags = [f"t{i}" for i in range(5)]
    for name in names:
        _, body = await push_image(client, name, tags[0], b"paged layer")
        for tag in tags[1:]:
            await client.put_manifest(name, tag, body, OCI_MANIFEST)

    assert sorted(await client.tags(names[0], page_size=2)) == tags
    catalog = await client.catalog(page_size=2)
    assert set(names) <= set(catalog)
    assert len(catalog) == len(set(catalog))


async def test_tags_of_an_unknown_repository_are_none(client: RemoteClient) -> None:
    assert await client.tags(repo("nothing")) == []


# --- blobs -----------------------------------------------------------------------------


async def test_blob_size_and_reads_from_an_offset(client: RemoteClient) -> None:
    name = repo("blobs")
    data, digest = blob(100 * KIB + 7)
    assert await client.blob_size(name, digest) is None
    assert await client.write_blob(name, digest, len(data), source_of(data)) == len(data)

    assert await client.blob_size(name, digest) == len(data)
    assert await read_all(client.read_blob(name, digest)) == data
    assert await read_all(client.read_blob(name, digest, 60_001)) == data[60_001:]


async def test_chunked_write(client: RemoteClient) -> None:
    name = repo("chunked")
    data, digest = blob(5 * 32 * KIB + 321)
    source = source_of(data)
    sent = await client.write_blob(name, digest, len(data), source, chunk_size=32 * KIB)

    assert sent == len(data)
    assert source.opened == [0, 32 * KIB, 64 * KIB, 96 * KIB, 128 * KIB, 160 * KIB]  # type: ignore[attr-defined]
    assert await read_all(client.read_blob(name, digest)) == data


async def test_a_wrong_digest_is_refused(client: RemoteClient) -> None:
    data, _ = blob(1000)
    _, other = blob(1000)
    with pytest.raises(RemoteError) as raised:
        await client.write_blob(repo("digest"), other, len(data), source_of(data))
    assert raised.value.code == "DIGEST_INVALID"


async def test_mount_links_a_blob_from_another_repository(client: RemoteClient) -> None:
    source, target = repo("mount-from"), repo("mount-to")
    data, digest = blob(10 * KIB)
    await client.write_blob(source, digest, len(data), source_of(data))

    assert await client.mount_blob(target, digest, source) is True
    assert await client.blob_size(target, digest) == len(data)


@pytest.mark.parametrize("which", PEERS)
async def test_a_refused_mount_cancels_the_upload_it_got(
    which: str, request: pytest.FixtureRequest
) -> None:
    server: RunningBerth = request.getfixturevalue(which)
    credentials = (USER, PASSWORD) if which == "distribution" else ADMIN
    _, digest = blob(10 * KIB)  # in no repository
    async with (
        FaultProxy(server.url) as proxy,
        RemoteClient(Endpoint(proxy.url, *credentials)) as remote,
    ):
        assert await remote.mount_blob(repo("to"), digest, repo("from")) is False
    statuses = [(s.method, s.status) for s in proxy.seen if "/blobs/uploads/" in s.target]
    assert statuses[-2:] == [("POST", 202), ("DELETE", 204)]


# --- referrers and projects ------------------------------------------------------------


async def test_referrers_of_berth(berth: RunningBerth) -> None:
    name = repo("referrers")
    async with RemoteClient(Endpoint(berth.url, *ADMIN)) as remote:
        subject, _ = await push_image(remote, name, "v1", b"image layer")
        sbom, _ = await push_image(remote, name, "sbom", b"an sbom", subject=subject)
        found = await remote.referrers(name, subject)
        assert [r["digest"] for r in found] == [sbom]
        assert await remote.referrers(name, sbom) == []


async def test_distribution_without_referrers_api_answers_none(
    distribution: RunningBerth,
) -> None:
    name = repo("referrers")
    async with RemoteClient(Endpoint(distribution.url, USER, PASSWORD)) as remote:
        subject, _ = await push_image(remote, name, "v1", b"image layer")
        assert await remote.referrers(name, subject) == []


async def test_ensure_project_creates_it_once(berth: RunningBerth) -> None:
    project = f"team-{uuid.uuid4().hex[:8]}"
    async with RemoteClient(Endpoint(berth.url, *ADMIN)) as remote:
        await remote.ensure_project(project)
        await remote.ensure_project(project)  # there already: nothing to do
        digest, _ = await push_image(remote, f"{project}/app", "v1", b"layer")
    async with RemoteClient(Endpoint(berth.url, *ADMIN)) as remote:  # a client yet to learn
        assert f"{project}/app" in await remote.catalog()  # a private project's repositories
        assert await remote.head_manifest(f"{project}/app", "v1") == digest


async def test_ensure_project_with_a_wrong_password(berth: RunningBerth) -> None:
    async with RemoteClient(Endpoint(berth.url, ADMIN[0], "wrong")) as remote:
        with pytest.raises(RemoteUnauthorized, match="401"):
            await remote.ensure_project("never-made")


async def test_ensure_project_for_sparse_indexes_makes_it_so_or_refuses(
    berth: RunningBerth,
) -> None:
    made, wanted, plain = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("sp", "mk", "pl"))
    async with RemoteClient(Endpoint(berth.url, *ADMIN)) as remote:
        # A project that must take sparse indexes, or should when made, is made so
        await remote.ensure_project(made, sparse=True)
        await remote.ensure_project(made, sparse=True)  # there, and taking them: fine
        await remote.ensure_project(wanted, make_sparse=True)
        # One that exists without the setting is refused, saying what to set
        await remote.ensure_project(plain)
        with pytest.raises(SparseRefused, match='set its metadata sparse_index to "true"'):
            await remote.ensure_project(plain, sparse=True)
        await remote.ensure_project(plain, make_sparse=True)  # only for one made here
    async with httpx.AsyncClient(base_url=f"{berth.url}/api/v2.0", auth=ADMIN) as api:
        shown = {n: (await api.get(f"/projects/{n}")).json()["metadata"] for n in (made, wanted)}
        assert "sparse_index" not in (await api.get(f"/projects/{plain}")).json()["metadata"]
    assert all(metadata["sparse_index"] == "true" for metadata in shown.values())


# --- TLS -------------------------------------------------------------------------------


def test_tls_settings_of_an_endpoint() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Berth Test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder(subject_name=name, issuer_name=name, public_key=key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    trusted = ssl_verify(Endpoint("https://r.example", ca_certificate=pem))
    assert isinstance(trusted, ssl.SSLContext)
    assert [c["subject"] for c in trusted.get_ca_certs()] == [((("commonName", "Berth Test CA"),),)]
    assert ssl_verify(Endpoint("https://r.example", insecure=True)) is False
    assert ssl_verify(Endpoint("https://r.example")) is True


# --- memory ----------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [None, 2 * MIB], ids=["monolithic", "chunked"])
async def test_streams_never_hold_a_whole_blob(berth: RunningBerth, chunk_size: int | None) -> None:
    size, name = 12 * MIB, repo("memory")
    digest = digest_of_stream(size)
    async with RemoteClient(Endpoint(berth.url, *ADMIN)) as remote:
        await remote.ping()
        tracemalloc.start()
        try:
            sent = await remote.write_blob(
                name, digest, size, generated(size), chunk_size=chunk_size
            )
            _, wrote_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            read = 0
            async for data in remote.read_blob(name, digest):
                read += len(data)
            _, read_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (sent, read) == (size, size)
    assert wrote_peak < 3 * MIB and read_peak < 3 * MIB, (wrote_peak, read_peak)
