"""Berth's Notary v1 API on a real server, driven the way a Notary client drives it: the
server's keys, an atomic update stored with a timestamp Berth signs, every version kept,
the refusals notary-server gives (wrong signature, stale version, a root rotation without
the old root's signature, a root that is not the GUN's), the rights behind each call, and
the answers to bad requests in notary-server's envelope."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from signer import tuf
from tests.factories import DEVELOPER, PASSWORD, new_member, new_project
from tests.support import RunningBerth, run_sql
from tests.trust import tufmaker
from tests.trust.support import Client, code_of, library_gun, new_repo
from tests.trust.tufmaker import Repo


def test_an_update_is_stored_with_a_timestamp_berth_signs_and_every_version_kept(
    berth_server: RunningBerth,
) -> None:
    # Given a new GUN whose owner asked for the server's keys (twice: the same key)
    gun = library_gun(berth_server)
    client = Client(berth_server, gun)
    repo = new_repo(berth_server, client, gun)
    assert client.key("timestamp") == repo.timestamp
    # When the owner publishes root and targets (no snapshot: the server signs it), then a tag
    first = client.post({"root": repo.root(), "targets": repo.targets()})
    manifest = b'{"schemaVersion":2}'
    repo.tags["v1"] = manifest
    second = client.post({"targets": repo.targets()})
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    # Then the timestamp verifies with the server's key and covers the current snapshot,
    # which covers the current root and targets
    stamp = tuf.load("timestamp", client.get("tuf/timestamp.json").content)
    tuf.check_signed(stamp, tuf.Role("timestamp", {repo.timestamp.id: repo.timestamp}, 1))
    snapshot_bytes = client.get("tuf/snapshot.json").content
    snapshot = tuf.load("snapshot", snapshot_bytes)
    tuf.check_signed(snapshot, tuf.Role("snapshot", {repo.snapshot.id: repo.snapshot}, 1))
    assert tuf.matches_meta(snapshot_bytes, stamp.signed["meta"]["snapshot"])
    targets_bytes = client.get("tuf/targets.json").content
    assert tuf.matches_meta(targets_bytes, snapshot.signed["meta"]["targets"])
    assert (stamp.version, snapshot.version) == (2, 2)
    # And each version stays readable by version and by checksum
    old = client.get("tuf/1.targets.json")
    assert old.status_code == 200 and tuf.load("targets", old.content).signed["targets"] == {}
    by_hash = client.get(f"tuf/targets.{hashlib.sha256(targets_bytes).hexdigest()}.json")
    assert by_hash.content == targets_bytes
    # And the signed tag is what the pull path reads
    rows = run_sql(
        berth_server,
        "SELECT tag, digest, role FROM trust_target WHERE gun = ?",
        gun,
    )
    assert [tuple(r) for r in rows] == [
        ("v1", f"sha256:{hashlib.sha256(manifest).hexdigest()}", "targets")
    ]
    # And the change feed has one update per timestamp
    feed = client.get("changefeed?records=10").json()
    assert feed["count"] == 2 and [r["Version"] for r in feed["records"]] == [1, 2]
    assert {r["Category"] for r in feed["records"]} == {"update"}


def test_updates_notary_server_refuses_are_refused_and_change_nothing(
    berth_server: RunningBerth,
) -> None:
    gun = library_gun(berth_server)
    client = Client(berth_server, gun)
    repo = new_repo(berth_server, client, gun)
    # No root on a new GUN
    repo.root_version, repo.targets_version = 0, 0
    no_root = client.post({"targets": repo.targets()})
    assert code_of(no_root) == "INVALID_UPDATE"
    assert no_root.json()["errors"][0]["detail"]["Name"] == "ErrValidation"
    repo.targets_version = 0
    assert client.post({"root": repo.root(), "targets": repo.targets()}).status_code == 200
    before = client.get("tuf/targets.json").content
    # A wrong signature: one byte of the signed targets changed after signing
    repo.tags["v1"] = b"one"
    tampered = json.loads(repo.targets())
    tampered["signed"]["targets"]["v1"]["length"] = 4
    wrong = client.post({"targets": json.dumps(tampered).encode()})
    # Targets signed by a key the root does not name
    other = client.post({"targets": repo.targets(tufmaker.plain_key())})
    # A stale version: targets version 1 again
    stale = client.post({"targets": repo.targets(version=1)})
    # Malformed JSON, and a role that does not exist
    malformed = client.post({"targets": b"{not json"})
    unknown_role = client.post({"bogus": repo.targets()})
    # An expired targets
    expired = client.post({"targets": repo.targets(days=-1)})
    assert [code_of(a) for a in (wrong, other, stale, malformed, unknown_role, expired)] == [
        "INVALID_UPDATE",
        "INVALID_UPDATE",
        "VERSION",
        "MALFORMED_JSON",
        "INVALID_ROLE",
        "INVALID_UPDATE",
    ]
    assert wrong.json()["errors"][0]["detail"]["Name"] == "ErrBadTargets"
    assert all(a.status_code == 400 for a in (wrong, other, stale, malformed, unknown_role))
    # And nothing changed, and each refusal is in the audit log as a failed update
    assert client.get("tuf/targets.json").content == before
    audited = run_sql(
        berth_server,
        "SELECT success FROM audit_event WHERE resource_type = 'trust_data' AND resource = ?",
        gun,
    )
    assert sorted(bool(r[0]) for r in audited) == [False] * 7 + [True]


def test_a_root_rotation_needs_the_old_root_and_the_root_must_be_the_guns(
    berth_server: RunningBerth,
) -> None:
    gun = library_gun(berth_server)
    client = Client(berth_server, gun)
    repo = new_repo(berth_server, client, gun)
    assert client.post({"root": repo.root(), "targets": repo.targets()}).status_code == 200
    old_key = repo.root_key
    # A new root key, signed only by itself: refused
    repo.root_key = tufmaker.certificate_key(gun)
    alone = client.post({"root": repo.root(repo.root_key)})
    # Signed by the old and the new: taken
    repo.root_version -= 1
    both = client.post({"root": repo.root(old_key, repo.root_key)})
    # A root whose certificate names another GUN: refused
    elsewhere = Repo(library_gun(berth_server))
    elsewhere.timestamp, elsewhere.snapshot = repo.timestamp, repo.snapshot
    elsewhere.root_key = tufmaker.certificate_key("docker.io/library/other")
    other_gun = client.post({"root": elsewhere.root(), "targets": elsewhere.targets()})
    # A root asking two signatures of keys it does not hold: refused
    repo.root_version = 2
    threshold = client.post({"root": repo.root(threshold=2)})
    assert alone.status_code == 400 and alone.json()["errors"][0]["detail"]["Name"] == "ErrBadRoot"
    assert both.status_code == 200, both.text
    assert code_of(other_gun) == "INVALID_UPDATE" and code_of(threshold) == "INVALID_UPDATE"
    served = tuf.load("root", client.get("tuf/root.json").content)
    assert served.version == 2 and repo.root_key.id in served.signed["roles"]["root"]["keyids"]


def test_rights_follow_the_repository_and_a_private_gun_is_hidden(
    berth_server: RunningBerth,
) -> None:
    # Given a private project with trust data, and a developer of it
    _, project = new_project(berth_server, prefix="trustp")
    gun = f"{berth_server.host}/{project}/app"
    owner = Client(berth_server, gun)
    repo = new_repo(berth_server, owner, gun)
    assert owner.post({"root": repo.root(), "targets": repo.targets()}).status_code == 200
    developer = new_member(berth_server, project, DEVELOPER)
    dev = Client(berth_server, gun, (developer, PASSWORD))
    # When anonymous asks for it, and the developer reads, publishes and deletes
    anonymous = httpx.get(f"{berth_server.url}/v2/{gun}/_trust/tuf/root.json", timeout=30)
    read = dev.get("tuf/root.json")
    repo.tags["v1"] = b"x"
    published = dev.post({"targets": repo.targets()})
    deleted = dev.http.delete(f"{dev.base}/tuf/")
    rotated = dev.http.post(f"{dev.base}/tuf/timestamp.key")
    # Then anonymous is sent to the token service for the notary service, learning nothing
    assert anonymous.status_code == 401 and code_of(anonymous) == "UNAUTHORIZED"
    challenge = anonymous.headers["WWW-Authenticate"]
    assert 'service="berth-notary"' in challenge and f"repository:{gun}:pull" in challenge
    # And the developer may read and publish, but deleting and rotating need more
    assert (read.status_code, published.status_code) == (200, 200)
    assert (deleted.status_code, rotated.status_code) == (401, 401)
    assert 'error="insufficient_scope"' in deleted.headers["WWW-Authenticate"]
    # And a token granting pull only does not publish
    reader = Client(berth_server, gun, (developer, PASSWORD), actions="pull")
    assert reader.post({"targets": repo.targets()}).status_code == 401


def test_a_pull_takes_the_releases_delegation_first_and_ignores_other_delegations(
    berth_server: RunningBerth,
) -> None:
    # Given targets signing v1 and v2, the releases delegation signing v2 otherwise and v3,
    # and another signer's delegation signing v4
    gun = library_gun(berth_server)
    client = Client(berth_server, gun)
    repo = new_repo(berth_server, client, gun)
    repo.tags = {"v1": b"one", "v2": b"two"}
    repo.delegated = {
        "targets/releases": tufmaker.plain_key(),
        "targets/alice": tufmaker.plain_key(),
    }
    releases = repo.delegation("targets/releases", {"v2": b"two-released", "v3": b"three"})
    alice = repo.delegation("targets/alice", {"v4": b"four"})
    # A delegation signed by a key its parent does not name is refused
    forged = envelope_of(json.loads(alice), tufmaker.plain_key())
    refused = client.post({"root": repo.root(), "targets": repo.targets(), "targets/alice": forged})
    repo.root_version, repo.targets_version = 0, 0
    taken = client.post(
        {
            "root": repo.root(),
            "targets": repo.targets(),
            "targets/releases": releases,
            "targets/alice": alice,
        }
    )
    assert code_of(refused) == "INVALID_UPDATE" and taken.status_code == 200, taken.text
    # Then the signed tags are releases' over targets', and alice's are not among them
    rows = run_sql(berth_server, "SELECT tag, digest, role FROM trust_target WHERE gun = ?", gun)
    signed = {r[0]: (r[1], r[2]) for r in rows}
    assert signed == {
        "v1": (f"sha256:{hashlib.sha256(b'one').hexdigest()}", "targets"),
        "v2": (f"sha256:{hashlib.sha256(b'two-released').hexdigest()}", "targets/releases"),
        "v3": (f"sha256:{hashlib.sha256(b'three').hexdigest()}", "targets/releases"),
    }


def envelope_of(parsed: dict[str, Any], signer: tufmaker.Key) -> bytes:
    return tufmaker.envelope(parsed["signed"], signer)


def test_delete_removes_every_version_and_is_in_the_change_feed(
    berth_server: RunningBerth,
) -> None:
    gun = library_gun(berth_server)
    client = Client(berth_server, gun)
    repo = new_repo(berth_server, client, gun)
    repo.tags["v1"] = b"x"
    assert client.post({"root": repo.root(), "targets": repo.targets()}).status_code == 200
    removed = client.http.delete(f"{client.base}/tuf/")
    assert removed.status_code == 200
    for path in ("tuf/root.json", "tuf/1.targets.json", "tuf/timestamp.json"):
        gone = client.get(path)
        assert (gone.status_code, code_of(gone)) == (404, "METADATA_NOT_FOUND")
    assert not run_sql(berth_server, "SELECT id FROM trust_target WHERE gun = ?", gun)
    records = client.get("changefeed?records=-1").json()["records"]
    assert [r["Category"] for r in records] == ["deletion"]


@pytest.mark.parametrize(
    ("path", "method", "status", "code"),
    [
        ("tuf/nothing.json", "GET", 404, "METADATA_NOT_FOUND"),
        ("tuf/targets.json", "PUT", 404, "METADATA_NOT_FOUND"),
        ("tuf/root.key", "GET", 404, "METADATA_NOT_FOUND"),
        ("changefeed?records=abc", "GET", 400, "INVALID_PARAMETERS"),
        ("changefeed?records=5&change_id=x", "GET", 400, "INVALID_PARAMETERS"),
    ],
)
def test_bad_requests_answer_in_notarys_envelope(
    berth_server: RunningBerth, path: str, method: str, status: int, code: str
) -> None:
    gun = library_gun(berth_server)
    client = Client(berth_server, gun)
    answer = client.http.request(method, f"{client.base}/{path}")
    assert (answer.status_code, code_of(answer)) == (status, code), answer.text


@pytest.mark.parametrize(
    "gun", ["library/app", "HOST/library/UPPER", "HOST/library/a..b", "HOST/noproject", "HOST/a//b"]
)
def test_a_gun_that_names_no_repository_of_berth_is_invalid(
    berth_server: RunningBerth, gun: str
) -> None:
    gun = gun.replace("HOST", berth_server.host)
    answer = httpx.get(f"{berth_server.url}/v2/{gun}/_trust/tuf/root.json", timeout=30)
    assert (answer.status_code, code_of(answer)) == (400, "INVALID_GUN"), answer.text


def test_an_upload_that_is_not_multipart_or_names_no_role_is_refused(
    berth_server: RunningBerth,
) -> None:
    gun = library_gun(berth_server)
    client = Client(berth_server, gun)
    plain = client.http.post(f"{client.base}/tuf/", content=b"{}")
    nameless = client.http.post(
        f"{client.base}/tuf/",
        content=b'--b\r\nContent-Disposition: form-data; name="files"\r\n\r\n{}\r\n--b--\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert (plain.status_code, code_of(plain)) == (400, "MALFORMED_UPLOAD")
    assert (nameless.status_code, code_of(nameless)) == (400, "NO_FILENAME")


def test_the_health_of_the_trust_service(berth_server: RunningBerth) -> None:
    answer = httpx.get(f"{berth_server.url}/_notary_server/health", timeout=30)
    assert (answer.status_code, answer.json()) == (200, {})
