"""Remote registries through Harbor's /api/v2.0/registries, in process: CRUD with the secret
sealed and never shown, rights (users, system robots), bad input in Harbor's error format,
the info and adapter answers, and pings against a real registry and a closed port."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from models import AuditEvent, RemoteRegistry
from signer.sealing import Sealer
from tests.core.remote_support import PASSWORD, USER, running_distribution_htpasswd
from tests.factories import (
    API,
    AppApi,
    admin_client,
    app_as,
    app_system_robot,
    app_user,
    created,
    error_of,
    id_from_location,
    message,
    unique,
)
from tests.support import ADMIN, InProcessBerth, RunningBerth, free_port

SECRET = "s3cret-Pa55"
TRUNCATED_CA = """-----BEGIN CERTIFICATE-----
MIIBfTCCASOgAwIBAgIUQ0NsQ4sGc4pXhQ2Qk0Q3w4y0eJ0wCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----"""


def registry_body(name: str = "dc2", **fields: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "url": "https://registry.dc2.example.com",
        "type": "harbor",
        "description": "the other data centre",
        "credential": {"type": "basic", "access_key": "replicator", "access_secret": SECRET},
        "insecure": False,
    }
    return body | fields


async def new_registry(api: AppApi, name: str = "dc2", **fields: Any) -> int:
    return await created(await api.post("/registries", json=registry_body(name, **fields)))


def self_signed_ca() -> str:
    """A CA certificate in PEM, made now."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dc2 test CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """Distribution requiring USER / PASSWORD, for the pings."""
    with running_distribution_htpasswd(Path(tmp_path_factory.mktemp("distribution"))) as server:
        yield server


def stored_secret(row: RemoteRegistry, berth: InProcessBerth) -> str:
    sealer = berth.app.extensions["registry"].sealed()
    return str(sealer.unseal(row.access_secret)) if row.access_secret else ""


async def test_a_registry_is_created_read_listed_changed_and_deleted(
    in_process: InProcessBerth,
) -> None:
    admin = AppApi(in_process)
    # When the admin creates a registry with a secret
    answer = await admin.post("/registries", json=registry_body())
    registry_id = await created(answer)
    assert answer.headers["Location"] == f"{API}/registries/{registry_id}"
    read = await admin.get(f"/registries/{registry_id}")
    # Then it reads back as Harbor's Registry, the secret masked
    assert read.status_code == 200
    shape = read.json()
    assert shape["credential"] == {
        "type": "basic",
        "access_key": "replicator",
        "access_secret": "*****",
    }
    assert (shape["name"], shape["url"], shape["type"]) == (
        "dc2",
        "https://registry.dc2.example.com",
        "harbor",
    )
    assert (shape["insecure"], shape["status"]) == (False, "unknown")
    assert shape["requests_per_second"] == 0
    assert shape["creation_time"].endswith("Z") and shape["update_time"].endswith("Z")
    # and the secret is sealed at rest
    row = await RemoteRegistry.get(id=registry_id)
    assert SECRET not in row.access_secret and stored_secret(row, in_process) == SECRET
    # When it is changed (Harbor's RegistryUpdate) and listed
    changed = await admin.put(
        f"/registries/{registry_id}", json={"name": "dc3", "description": "moved"}
    )
    listed = await admin.get("/registries")
    assert changed.status_code == 200
    assert listed.headers["X-Total-Count"] == "1"
    assert [(r["name"], r["description"]) for r in listed.json()] == [("dc3", "moved")]
    # When it is deleted, it is gone
    assert (await admin.delete(f"/registries/{registry_id}")).status_code == 200
    assert (await admin.get(f"/registries/{registry_id}")).status_code == 404
    # Throughout, no answer and no audit description carried the secret
    for answer in (read, listed):
        assert SECRET not in answer.text
    descriptions = await AuditEvent.filter(resource_type="registry").values_list(
        "description", flat=True
    )
    assert len(descriptions) == 3 and not any(SECRET in d for d in descriptions)


UPDATES = [  # (what the update does, its body, whether the stored secret stays)
    ("mask-keeps", {"access_secret": "*****"}, True),
    ("no-secret-keeps", {"description": "x"}, True),
    ("nested-mask-keeps", {"credential": {"access_secret": "*****"}}, True),
    ("same-url-spelled-otherwise", {"url": "https://registry.dc2.example.com/"}, True),
    ("new-secret", {"access_secret": "n3w"}, False),
    ("new-url-drops-it", {"url": "https://elsewhere.example.com"}, False),
]


async def test_an_update_keeps_the_secret_unless_it_gives_one_or_moves(
    in_process: InProcessBerth,
) -> None:
    admin = AppApi(in_process)
    for case, change, kept in UPDATES:
        registry_id = await new_registry(admin, case)
        answer = await admin.put(f"/registries/{registry_id}", json=change)
        assert answer.status_code == 200, (case, answer.text)
        secret = stored_secret(await RemoteRegistry.get(id=registry_id), in_process)
        assert secret == (SECRET if kept else change.get("access_secret", "")), case
        event = await AuditEvent.get(resource_type="registry", operation="update", resource=case)
        assert SECRET not in event.description, case
        assert ("access_secret changed" in event.description) is not kept, case


async def test_the_list_filters_by_name_and_pages(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    for name in ("east-1", "east-2", "west-1"):
        await new_registry(admin, name)
    fuzzy = await admin.get("/registries", params={"q": "name=~east", "sort": "-name"})
    exact = await admin.get("/registries", params={"q": "name=west-1"})
    legacy = await admin.get("/registries", params={"name": "west"})
    page = await admin.get("/registries", params={"page": 2, "page_size": 2})
    assert [r["name"] for r in fuzzy.json()] == ["east-2", "east-1"]
    assert [r["name"] for r in exact.json()] == ["west-1"]
    assert [r["name"] for r in legacy.json()] == ["west-1"]
    assert page.headers["X-Total-Count"] == "3" and [r["name"] for r in page.json()] == ["west-1"]
    assert 'rel="prev"' in page.headers["Link"]
    bad = await admin.get("/registries", params={"q": "password=x"})
    assert (bad.status_code, error_of(bad)) == (400, "BAD_REQUEST")


async def test_registries_need_the_system_rights(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    _, name = await app_user(in_process, "reg")
    user, nobody = app_as(in_process, name), app_as(in_process, None)
    # A signed-in user without the rights is refused (403), nobody must sign in (401)
    for api, status in ((user, 403), (nobody, 401)):
        for answer in (
            await api.get("/registries"),
            await api.get(f"/registries/{registry_id}"),
            await api.post("/registries", json=registry_body("x")),
            await api.put(f"/registries/{registry_id}", json={"name": "y"}),
            await api.delete(f"/registries/{registry_id}"),
            await api.post("/registries/ping", json={"id": registry_id}),
            await api.get(f"/registries/{registry_id}/info"),
            await api.get("/replication/adapters"),
        ):
            assert answer.status_code == status, answer.text
    # A system robot holding only registry:list lists, and may not create
    robot, secret = await app_system_robot(in_process, "registry:list")
    lister = AppApi(in_process, (robot, secret))
    assert (await lister.get("/registries")).status_code == 200
    refused = await lister.post("/registries", json=registry_body("x"))
    assert (refused.status_code, error_of(refused)) == (403, "DENIED")


async def test_a_system_robot_with_registry_rights_manages_registries(
    in_process: InProcessBerth,
) -> None:
    robot, secret = await app_system_robot(in_process, "registry:*", "replication-adapter:list")
    api = AppApi(in_process, (robot, secret))
    registry_id = await new_registry(api, "by-robot")
    assert (await api.get(f"/registries/{registry_id}")).json()["name"] == "by-robot"
    change = {"insecure": True, "requests_per_second": 5}
    assert (await api.put(f"/registries/{registry_id}", json=change)).status_code == 200
    assert (await api.get(f"/registries/{registry_id}")).json()["requests_per_second"] == 5
    # a fractional rate (the dashboard's form sends 2.5) is a number, as the document says
    slower = {"requests_per_second": 2.5}
    assert (await api.put(f"/registries/{registry_id}", json=slower)).status_code == 200
    assert (await api.get(f"/registries/{registry_id}")).json()["requests_per_second"] == 2.5
    assert (await api.get("/replication/adapters")).json() == ["docker-registry", "harbor"]
    assert (await api.delete(f"/registries/{registry_id}")).status_code == 200
    event = await AuditEvent.filter(resource_type="registry", operation="create").first()
    assert event is not None and event.username == robot


BAD_BODIES = [  # (what is wrong, the fields sent, the field the answer names)
    ("ftp", {"url": "ftp://registry.example.com"}, "url"),
    ("no-host", {"url": "https://"}, "url"),
    ("spaces", {"url": "not a url"}, "url"),
    ("credentials", {"url": "https://u:p@registry.example.com"}, "url"),
    ("query", {"url": "https://registry.example.com?x=1"}, "url"),
    ("bad-port", {"url": "https://registry.example.com:99999"}, "url"),
    ("empty-url", {"url": ""}, "url"),
    ("long-url", {"url": "https://" + "a" * 3000}, "url"),
    ("long-name", {"name": "x" * 1000}, "name"),
    ("nul", {"name": "a\x00b"}, "body.name"),
    ("no-name", {"name": ""}, "name"),
    ("unknown-type", {"type": "quay"}, "type"),
    ("credential-type", {"credential": {"type": "token"}}, "credential.type"),
    ("credential-not-object", {"credential": "basic"}, "credential"),
    ("bad-pem", {"ca_certificate": "not a pem"}, "ca_certificate"),
    ("truncated-pem", {"ca_certificate": TRUNCATED_CA}, "ca_certificate"),
    ("insecure-not-boolean", {"insecure": "maybe"}, "insecure"),
    ("description-not-text", {"description": 7}, "description"),
    ("rate-not-a-number", {"requests_per_second": "fast"}, "requests_per_second"),
    ("rate-negative", {"requests_per_second": -1}, "requests_per_second"),
]


async def test_bad_registry_bodies_are_400_naming_the_field(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    for case, fields, field in BAD_BODIES:
        answer = await admin.post("/registries", json=registry_body(**fields))
        assert (answer.status_code, error_of(answer)) == (400, "BAD_REQUEST"), case
        assert answer.json()["errors"][0]["detail"]["parameter"] == field, case
    assert (await admin.get("/registries")).json() == []


async def test_a_ca_certificate_is_kept_and_shown(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    pem = self_signed_ca()
    registry_id = await new_registry(admin, ca_certificate=pem)
    assert (await admin.get(f"/registries/{registry_id}")).json()["ca_certificate"] == pem
    cleared = await admin.put(f"/registries/{registry_id}", json={"ca_certificate": ""})
    assert cleared.status_code == 200
    assert "ca_certificate" not in (await admin.get(f"/registries/{registry_id}")).json()


async def test_names_are_unique_and_unknown_ids_are_404(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    first = await new_registry(admin, "one")
    second = await new_registry(admin, "two")
    taken = await admin.post("/registries", json=registry_body("one"))
    renamed = await admin.put(f"/registries/{second}", json={"name": "one"})
    assert (taken.status_code, error_of(taken)) == (409, "CONFLICT")
    assert (renamed.status_code, error_of(renamed)) == (409, "CONFLICT")
    for answer in (
        await admin.get("/registries/999"),
        await admin.put("/registries/999", json={"name": "z"}),
        await admin.delete("/registries/999"),
        await admin.get("/registries/999/info"),
        await admin.post("/registries/ping", json={"id": 999}),
        await admin.get("/registries/99999999999"),
    ):
        assert (answer.status_code, error_of(answer)) == (404, "NOT_FOUND"), answer.text
    assert (await admin.get(f"/registries/{first}")).status_code == 200


async def test_a_registry_a_policy_uses_cannot_be_deleted(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    policy = {"name": "to-dc2", "dest_registry": {"id": registry_id}}
    await created(await admin.post("/replication/policies", json=policy))
    refused = await admin.delete(f"/registries/{registry_id}")
    assert (refused.status_code, error_of(refused)) == (412, "PRECONDITION")
    assert "to-dc2" in refused.json()["errors"][0]["message"]


async def test_info_and_adapters_answer_harbors_shapes(in_process: InProcessBerth) -> None:
    admin = AppApi(in_process)
    harbor = await new_registry(admin, "h")
    plain = await new_registry(admin, "d", type="docker-registry")
    harbor_info = (await admin.get(f"/registries/{harbor}/info")).json()
    plain_info = (await admin.get(f"/registries/{plain}/info")).json()
    infos = (await admin.get("/replication/adapterinfos")).json()
    assert harbor_info["type"] == "harbor" and plain_info["type"] == "docker-registry"
    assert [f["type"] for f in harbor_info["supported_resource_filters"]] == [
        "name",
        "tag",
        "label",
        "resource",
    ]
    assert [f["type"] for f in plain_info["supported_resource_filters"]] == [
        "name",
        "tag",
        "resource",
    ]
    assert plain_info["supported_triggers"] == ["manual", "scheduled"]
    assert set(infos) == {"docker-registry", "harbor"}
    assert infos["harbor"]["endpoint_pattern"]["endpoint_type"] == "EndpointPatternTypeStandard"


async def test_a_ping_answers_whether_the_registry_takes_the_credentials(
    in_process: InProcessBerth, distribution: RunningBerth
) -> None:
    admin = AppApi(in_process)
    closed = f"http://127.0.0.1:{free_port()}"
    login = {"type": "basic", "access_key": USER, "access_secret": PASSWORD}
    up = await new_registry(
        admin, "up", url=distribution.url, type="docker-registry", credential=login
    )
    down = await new_registry(admin, "down", url=closed, type="docker-registry", credential=login)
    # When each is pinged by id
    healthy = await admin.post("/registries/ping", json={"id": up})
    unhealthy = await admin.post("/registries/ping", json={"id": down})
    # Then the live one answers 200 and the closed port 400 with the reason
    assert healthy.status_code == 200, healthy.text
    assert (unhealthy.status_code, error_of(unhealthy)) == (400, "BAD_REQUEST")
    assert "unhealthy" in message(unhealthy) and "127.0.0.1" in message(unhealthy)
    # and each status says what the ping found
    assert (await admin.get(f"/registries/{up}")).json()["status"] == "healthy"
    assert (await admin.get(f"/registries/{down}")).json()["status"] == "unhealthy"
    # Other credentials for a stored registry are tried without changing its status
    wrong = await admin.post("/registries/ping", json={"id": up, "access_secret": "nope"})
    assert (wrong.status_code, error_of(wrong)) == (400, "BAD_REQUEST")
    assert "401" in message(wrong) and "nope" not in wrong.text
    assert (await admin.get(f"/registries/{up}")).json()["status"] == "healthy"
    # A full body pings an address that is not stored, with its credentials
    unsaved = {"type": "docker-registry", "url": distribution.url, "access_key": USER}
    right = await admin.post("/registries/ping", json=unsaved | {"access_secret": PASSWORD})
    anonymous = await admin.post("/registries/ping", json=unsaved)
    assert right.status_code == 200, right.text
    assert (anonymous.status_code, error_of(anonymous)) == (400, "BAD_REQUEST")
    no_type = await admin.post("/registries/ping", json={"url": distribution.url})
    bad_url = await admin.post("/registries/ping", json={"type": "harbor", "url": "ftp://x"})
    for answer in (no_type, bad_url):
        assert (answer.status_code, error_of(answer)) == (400, "BAD_REQUEST")


def test_a_ping_passes_a_berths_token_auth(berth_server: RunningBerth) -> None:
    # Given a registry naming a real Berth (this one), with the admin's credentials
    login = {"type": "basic", "access_key": ADMIN[0], "access_secret": ADMIN[1]}
    body = registry_body(unique("self-"), url=berth_server.url, credential=login)
    with admin_client(berth_server) as admin:
        made = admin.post("/registries", json=body)
        registry_id = id_from_location(made.headers["Location"])
        # When it is pinged (Berth answers /v2/ with a Bearer challenge), and with a wrong
        # password
        pinged = admin.post("/registries/ping", json={"id": registry_id})
        wrong = admin.post("/registries/ping", json={"id": registry_id, "access_secret": "x"})
        status = admin.get(f"/registries/{registry_id}").json()["status"]
        admin.delete(f"/registries/{registry_id}")
    # Then the token flow holds with the right password and not with the wrong one
    assert made.status_code == 201, made.text
    assert pinged.status_code == 200, pinged.text
    assert (wrong.status_code, error_of(wrong)) == (400, "BAD_REQUEST")
    assert status == "healthy"


async def test_a_secret_no_key_opens_is_a_412_not_a_crash(in_process: InProcessBerth) -> None:
    # Given a registry whose sealed secret no configured key opens (a key was dropped)
    admin = AppApi(in_process)
    registry_id = await new_registry(admin)
    other = Sealer([b"another-key-that-is-long-enough"])
    await RemoteRegistry.filter(id=registry_id).update(access_secret=other.seal(SECRET))
    # When it is pinged, the answer says so; once given again, the secret is readable
    refused = await admin.post("/registries/ping", json={"id": registry_id})
    assert (refused.status_code, error_of(refused)) == (412, "PRECONDITION")
    assert "access_secret" in message(refused)
    fixed = await admin.put(f"/registries/{registry_id}", json={"access_secret": SECRET})
    assert fixed.status_code == 200
    assert stored_secret(await RemoteRegistry.get(id=registry_id), in_process) == SECRET
