"""The same notary CLI sessions against the reference notary-server (Debian's 0.7.0, behind
Berth's token service) and against Berth's own Notary API: what a user sees (exit codes,
error lines, `notary list`, `notary delegation list`, `notary key list`) must be the same.

Each test runs once per server. The reference's run checks the expectations written here
(so a test that cannot tell right from wrong would show on the reference too); Berth's run
is compared step by step with the reference's record first, then held to the same
expectations.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.factories import DEVELOPER, GUEST, PASSWORD, new_member, new_project
from tests.notary.cli import Delegation, Target
from tests.notary.pki import Leaf
from tests.notary.support import OK, Ran, References, Seen, TrustServer, payload, target
from tests.notary.updates import (
    Refusal,
    TrustApi,
    canonical,
    private_key,
    refusal,
    sign,
    tampered,
)

pytestmark = pytest.mark.e2e

MISSING = Ran(1, "<SERVER> does not have trust data for <GUN>")
Parts = dict[str, bytes]  # an update: role -> document
Update = tuple[TrustApi, str, Parts]  # where it goes, with which token, and its parts
ROLES = ("root", "targets", "snapshot", "timestamp")
UNAUTHORIZED = Ran(1, "you are not authorized to perform this operation: server returned 401.")


def started(server: TrustServer, home: Path) -> tuple[Seen, str]:
    """A new GUN, initialised and published by the admin's notary CLI; (record, gun)."""
    gun = server.gun()
    seen = Seen(server, gun)
    user = server.client(home / "user")
    seen.run("init", user, "init", gun)
    seen.run("publish init", user, "publish", gun)
    return seen, gun


# --- targets: add, list, remove ----------------------------------------------------------


def targets_lifecycle(server: TrustServer, home: Path) -> Seen:
    seen, gun = started(server, home)
    user, other = server.client(home / "user"), server.client(home / "other")
    seen.table("list empty", user, "list", gun)
    seen.run("add v1", user, "add", gun, "v1", payload(home, "v1"))
    seen.run("add v2", user, "add", gun, "v2", payload(home, "v2"))
    seen.run("publish v1 v2", user, "publish", gun)
    seen.table("list", user, "list", gun)
    seen.table("list by another user", other, "list", gun)
    seen.run("remove v1", user, "remove", gun, "v1")
    seen.run("publish removal", user, "publish", gun)
    seen.table("list after removal", user, "list", gun)
    seen.table("list after removal, another user", other, "list", gun)
    seen.table("key list", user, "key", "list")
    return seen


def test_targets_are_added_listed_and_removed(
    server: TrustServer, references: References, tmp_path: Path
) -> None:
    seen = targets_lifecycle(server, tmp_path)
    references.check(seen, "targets", targets_lifecycle)
    assert seen.steps == {
        "init": OK,
        "publish init": OK,
        "list empty": [],
        "add v1": OK,
        "add v2": OK,
        "publish v1 v2": OK,
        "list": [target("v1"), target("v2")],
        "list by another user": [target("v1"), target("v2")],
        "remove v1": OK,
        "publish removal": OK,
        "list after removal": [target("v2")],
        "list after removal, another user": [target("v2")],
        "key list": [("root", ""), ("snapshot", "<GUN>"), ("targets", "<GUN>")],
    }


# --- the snapshot key handed to the server -------------------------------------------------


def snapshot_on_server(server: TrustServer, home: Path) -> Seen:
    seen, gun = started(server, home)
    user = server.client(home / "user")
    seen.run("rotate snapshot to the server", user, "key", "rotate", gun, "snapshot", "-r")
    seen.table("key list", user, "key", "list")
    seen.run("add v1", user, "add", gun, "v1", payload(home, "v1"))
    seen.run("publish v1", user, "publish", gun)
    seen.table("list", user, "list", gun)
    seen.table("list by another user", server.client(home / "other"), "list", gun)
    return seen


def test_the_server_signs_snapshots_after_a_snapshot_key_rotation(
    server: TrustServer, references: References, tmp_path: Path
) -> None:
    seen = snapshot_on_server(server, tmp_path)
    references.check(seen, "snapshot", snapshot_on_server)
    assert seen.steps == {
        "init": OK,
        "publish init": OK,
        "rotate snapshot to the server": OK,
        "key list": [("root", ""), ("targets", "<GUN>")],
        "add v1": OK,
        "publish v1": OK,
        "list": [target("v1")],
        "list by another user": [target("v1")],
    }


# --- delegations ---------------------------------------------------------------------------


def delegation_lifecycle(key: Leaf, server: TrustServer, home: Path) -> Seen:
    seen, gun = started(server, home)
    user = server.client(home / "user")
    releases = ("targets/releases", str(key.cert), "--all-paths")
    seen.run("delegation add", user, "delegation", "add", gun, *releases)
    seen.run("publish delegation", user, "publish", gun)
    seen.table("delegation list", user, "delegation", "list", gun)
    seen.run("key import", user, "key", "import", str(key.key), "--role", "targets/releases")
    added = (gun, "v1", payload(home, "v1"), "--roles", "targets/releases")
    seen.run("add v1 to releases", user, "add", *added)
    seen.run("publish v1", user, "publish", gun)
    seen.table("list", user, "list", gun)
    seen.table("list by another user", server.client(home / "other"), "list", gun)
    seen.table("key list", user, "key", "list")
    seen.run("delegation remove", user, "delegation", "remove", gun, "targets/releases", "-y")
    seen.run("publish removal", user, "publish", gun)
    seen.table("delegation list after removal", user, "delegation", "list", gun)
    seen.table("list after removal", user, "list", gun)
    return seen


def test_a_delegation_signs_targets_until_it_is_removed(
    server: TrustServer, references: References, delegation_key: Leaf, tmp_path: Path
) -> None:
    run = functools.partial(delegation_lifecycle, delegation_key)
    seen = run(server, tmp_path)
    references.check(seen, "delegation", run)
    delegations = seen.steps.get("delegation list")
    assert isinstance(delegations, list) and len(delegations) == 1, delegations
    key_id = delegations[0].key_ids
    assert re.fullmatch(r"[0-9a-f]{64}", key_id), key_id
    assert seen.steps == {
        "init": OK,
        "publish init": OK,
        "delegation add": OK,
        "publish delegation": OK,
        "delegation list": [Delegation("targets/releases", '"" <all paths>', key_id, "1")],
        "key import": OK,
        "add v1 to releases": OK,
        "publish v1": OK,
        "list": [target("v1", "targets/releases")],
        "list by another user": [target("v1", "targets/releases")],
        "key list": [
            ("root", ""),
            ("snapshot", "<GUN>"),
            ("targets", "<GUN>"),
            ("targets/releases", ""),
        ],
        "delegation remove": OK,
        "publish removal": OK,
        "delegation list after removal": [],
        "list after removal": [],
    }


# --- deleting a GUN --------------------------------------------------------------------------


def deleted(server: TrustServer, home: Path) -> Seen:
    seen, gun = started(server, home)
    user = server.client(home / "user")
    seen.run("add v1", user, "add", gun, "v1", payload(home, "v1"))
    seen.run("publish v1", user, "publish", gun)
    seen.run("delete --remote", user, "delete", gun, "--remote")
    seen.table("list after delete", user, "list", gun)
    seen.table("list after delete, another user", server.client(home / "other"), "list", gun)
    seen.run("init again", user, "init", gun)
    seen.run("publish again", user, "publish", gun)
    seen.table("list again", user, "list", gun)
    return seen


def test_a_deleted_gun_has_no_trust_data_until_made_anew(
    server: TrustServer, references: References, tmp_path: Path
) -> None:
    seen = deleted(server, tmp_path)
    references.check(seen, "delete", deleted)
    assert seen.steps == {
        "init": OK,
        "publish init": OK,
        "add v1": OK,
        "publish v1": OK,
        "delete --remote": OK,
        "list after delete": MISSING,
        "list after delete, another user": MISSING,
        "init again": OK,
        "publish again": OK,
        "list again": [],
    }


# --- refused updates (raw HTTP) -----------------------------------------------------------------

REFUSALS = {
    "malformed JSON": Refusal(400, "MALFORMED_JSON", ""),
    "an older version": Refusal(400, "VERSION", ""),
    "the current version again": Refusal(400, "VERSION", ""),
    "a wrong signature": Refusal(400, "INVALID_UPDATE", "ErrBadTargets"),
    "a root below its threshold": Refusal(400, "INVALID_UPDATE", "ErrBadRoot"),
    "expired targets": Refusal(400, "INVALID_UPDATE", "ErrBadTargets"),
    "an undelegated role": Refusal(400, "INVALID_UPDATE", "ErrBadTargets"),
    "an unknown role": Refusal(400, "INVALID_ROLE", ""),
    "targets for a GUN without a root": Refusal(400, "INVALID_UPDATE", "ErrValidation"),
}
# Updates the test signs itself: the server holds the snapshot key, so it makes the snapshot
# of a one-role update; after the refusal, the same edit done right is accepted (a control:
# the refusal was for what the test meant, not for a signature the test got wrong).
RESIGNED = {"a root below its threshold", "expired targets"}


def resigned(server: TrustServer, gun: str, home: Path, role: str, **edits: Any) -> bytes:
    """The GUN's current role document, one version on, with edits to its `signed` part
    (`threshold` of the root role, `expires`), signed by the user's own key of the role."""
    token = server.token(gun)
    signed = copy.deepcopy(server.api(gun).document(role, token)["signed"])
    signed["version"] += 1
    if "threshold" in edits:
        signed["roles"]["root"]["threshold"] = edits["threshold"]
    if "expires" in edits:
        signed["expires"] = edits["expires"]
    key_id = server.api(gun).document("root", token)["signed"]["roles"][role]["keyids"][0]
    return canonical(sign(signed, private_key(home / "user" / "trust", role), key_id))


def bad_update(kind: str, server: TrustServer, gun: str, home: Path, first: Parts) -> Update:
    """Where to post an update refused for kind, the token to post it with, and its parts."""
    api, token = server.api(gun), server.token(gun)
    if kind == "targets for a GUN without a root":
        other, targets = server.gun(), api.get("targets", token).content
        return server.api(other), server.token(other), {"targets": targets}
    current = {role: api.get(role, token).content for role in ("targets", "snapshot")}
    parts = {
        "malformed JSON": lambda: {"targets": b'{"signed": {"_type": "Targets", "version": '},
        "an older version": lambda: first,
        "the current version again": lambda: current,
        "a wrong signature": lambda: {"targets": tampered(current["targets"])},
        "a root below its threshold": lambda: {
            "root": resigned(server, gun, home, "root", threshold=2)
        },
        "expired targets": lambda: {
            "targets": resigned(server, gun, home, "targets", expires="2001-01-01T00:00:00Z")
        },
        "an undelegated role": lambda: {"targets/unknown": current["targets"]},
        "an unknown role": lambda: {"unknown": current["targets"]},
    }
    return api, token, parts[kind]()


def control_update(kind: str, server: TrustServer, gun: str, home: Path) -> Parts:
    """The update of a RESIGNED kind done right."""
    if kind == "a root below its threshold":
        return {"root": resigned(server, gun, home, "root", threshold=1)}
    return {"targets": resigned(server, gun, home, "targets", expires="2100-01-01T00:00:00Z")}


def refused_update(kind: str, server: TrustServer, home: Path) -> Seen:
    seen, gun = started(server, home)
    user, api, token = server.client(home / "user"), server.api(gun), server.token(gun)
    first = {role: api.get(role, token).content for role in ("targets", "snapshot")}
    seen.run("add v1", user, "add", gun, "v1", payload(home, "v1"))
    seen.run("publish v1", user, "publish", gun)
    if kind in RESIGNED:
        seen.run("rotate snapshot to the server", user, "key", "rotate", gun, "snapshot", "-r")
    target_api, target_token, parts = bad_update(kind, server, gun, home, first)
    seen.note("refused", refusal(target_api.post(parts, target_token)))
    seen.table("list after the refusal, another user", server.client(home / "other"), "list", gun)
    if kind in RESIGNED:
        control = api.post(control_update(kind, server, gun, home), token)
        seen.note("control: the same edit done right", control.status_code)
    return seen


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_an_invalid_update_is_refused_with_the_reference_error_code(
    kind: str, server: TrustServer, references: References, tmp_path: Path
) -> None:
    run = functools.partial(refused_update, kind)
    seen = run(server, tmp_path)
    references.check(seen, f"refused {kind}", run)
    expected: dict[str, object] = {"init": OK, "publish init": OK, "add v1": OK, "publish v1": OK}
    if kind in RESIGNED:
        expected["rotate snapshot to the server"] = OK
    expected |= {"refused": REFUSALS[kind], "list after the refusal, another user": [target("v1")]}
    if kind in RESIGNED:
        expected["control: the same edit done right"] = 200
    assert seen.steps == expected


# --- a private project's trust data ------------------------------------------------------------


def private_project(server: TrustServer, home: Path) -> Seen:
    _, project = new_project(server.berth, public=False)
    gun = server.gun(project)
    seen = Seen(server, gun)
    admin, anonymous = server.client(home / "admin"), server.client(home / "anonymous", None)
    seen.run("init", admin, "init", gun)
    seen.run("add v1", admin, "add", gun, "v1", payload(home, "v1"))
    seen.run("publish", admin, "publish", gun)
    seen.table("list by the admin", admin, "list", gun)
    seen.table("list by an anonymous user", anonymous, "list", gun)
    api = server.api(gun)
    seen.note("GET root.json without a token", refusal(api.get("root", None)))
    anonymous_token = server.token(gun, "pull", auth=None)
    seen.note("GET root.json with an anonymous token", refusal(api.get("root", anonymous_token)))
    return seen


def test_a_private_projects_trust_data_is_refused_to_anonymous_callers(
    server: TrustServer, references: References, tmp_path: Path
) -> None:
    seen = private_project(server, tmp_path)
    references.check(seen, "private", private_project)
    assert seen.steps == {
        "init": OK,
        "add v1": OK,
        "publish": OK,
        "list by the admin": [target("v1")],
        "list by an anonymous user": UNAUTHORIZED,
        "GET root.json without a token": Refusal(401, "UNAUTHORIZED", ""),
        "GET root.json with an anonymous token": Refusal(401, "UNAUTHORIZED", ""),
    }


def public_project(server: TrustServer, home: Path) -> Seen:
    seen, gun = started(server, home)
    admin = server.client(home / "user")
    seen.run("add v1", admin, "add", gun, "v1", payload(home, "v1"))
    seen.run("publish v1", admin, "publish", gun)
    seen.table("list by an anonymous user", server.client(home / "anonymous", None), "list", gun)
    return seen


def test_a_public_projects_trust_data_is_read_by_anonymous_callers(
    server: TrustServer, references: References, tmp_path: Path
) -> None:
    seen = public_project(server, tmp_path)
    references.check(seen, "public", public_project)
    assert seen.steps == {
        "init": OK,
        "publish init": OK,
        "add v1": OK,
        "publish v1": OK,
        "list by an anonymous user": [target("v1")],
    }


# --- rights: the project's roles behind each call ------------------------------------------


def project_roles(key: Leaf, server: TrustServer, home: Path) -> Seen:
    """Docker's flow in a private project: its admin makes the GUN with the snapshot key on
    the server and delegates targets/releases to a key a developer holds; the developer signs
    with it, a guest only reads; neither deletes nor hands a key to the server."""
    _, project = new_project(server.berth, public=False)
    developer = new_member(server.berth, project, DEVELOPER)
    guest = new_member(server.berth, project, GUEST)
    gun = server.gun(project)
    seen = Seen(server, gun)
    admin = server.client(home / "admin")
    dev = server.client(home / "developer", (developer, PASSWORD))
    reader = server.client(home / "guest", (guest, PASSWORD))
    releases = ("targets/releases", str(key.cert), "--all-paths")
    seen.run("init", admin, "init", gun)
    seen.run("publish init", admin, "publish", gun)
    seen.run("rotate snapshot to the server", admin, "key", "rotate", gun, "snapshot", "-r")
    seen.run("delegation add", admin, "delegation", "add", gun, *releases)
    seen.run("publish", admin, "publish", gun)
    for who, client in (("developer", dev), ("guest", reader)):
        imported = ("import", str(key.key), "--role", "targets/releases")
        seen.run(f"{who}: key import", client, "key", *imported)
        added = (gun, who, payload(home, "v1"), "--roles", "targets/releases")
        seen.run(f"{who}: add", client, "add", *added)
        seen.run(f"{who}: publish", client, "publish", gun)
    seen.table("guest: list", reader, "list", gun)
    rotation = ("rotate", gun, "snapshot", "-r")
    seen.run("developer: rotate snapshot to the server", dev, "key", *rotation)
    seen.run("developer: delete --remote", dev, "delete", gun, "--remote")
    seen.table("list after the refusals", server.client(home / "other"), "list", gun)
    api = server.api(gun)
    targets = api.get("targets", server.token(gun)).content
    guest_token = server.token(gun, "push,pull", auth=(guest, PASSWORD))
    seen.note("guest: POST targets", refusal(api.post({"targets": targets}, guest_token)))
    return seen


def test_a_projects_roles_decide_who_signs_reads_deletes_and_rotates(
    server: TrustServer, references: References, delegation_key: Leaf, tmp_path: Path
) -> None:
    run = functools.partial(project_roles, delegation_key)
    seen = run(server, tmp_path)
    references.check(seen, "roles", run)
    signed = [Target("developer", target("v1").digest, target("v1").size, "targets/releases")]
    assert seen.steps == {
        "init": OK,
        "publish init": OK,
        "rotate snapshot to the server": OK,
        "delegation add": OK,
        "publish": OK,
        "developer: key import": OK,
        "developer: add": OK,
        "developer: publish": OK,
        "guest: key import": OK,
        "guest: add": OK,
        "guest: publish": UNAUTHORIZED,
        "guest: list": signed,
        "developer: rotate snapshot to the server": Ran(
            1, "unable to rotate remote key: " + UNAUTHORIZED.fatal
        ),
        "developer: delete --remote": UNAUTHORIZED,
        "list after the refusals": signed,
        "guest: POST targets": Refusal(401, "UNAUTHORIZED", ""),
    }


# --- reads (raw HTTP): what a client and a cache between it and the server see --------------


def reads(server: TrustServer, home: Path) -> Seen:
    seen, gun = started(server, home)
    api, token = server.api(gun), server.token(gun, "pull")
    current = api.get("root", token)
    checksum = hashlib.sha256(current.content).hexdigest()
    for step, role in (
        ("current root", "root"),
        ("root version 1", "1.root"),
        ("root by its checksum", f"root.{checksum}"),
    ):
        answer = api.get(role, token)
        seen.note(step, (answer.status_code, answer.headers.get("Cache-Control")))
        seen.note(f"{step}: the bytes of the current root", answer.content == current.content)
    for step, role in (
        ("root version 9", "9.root"),
        ("root by another checksum", f"root.{'0' * 64}"),
        ("a delegation nobody made", "targets/releases"),
    ):
        seen.note(step, refusal(api.get(role, token)))
    key = api.key("timestamp", server.token(gun))
    seen.note("timestamp key", (key.status_code, key.json().get("keytype")))
    missing = server.gun()
    seen.note("a GUN nobody made", refusal(server.api(missing).get("root", server.token(missing))))
    return seen


def test_trust_data_is_read_by_version_and_checksum_with_notarys_cache_headers(
    server: TrustServer, references: References, tmp_path: Path
) -> None:
    seen = reads(server, tmp_path)
    references.check(seen, "reads", reads)
    current = "public, max-age=300, s-maxage=300, must-revalidate"
    consistent = "public, max-age=2592000, s-maxage=2592000"
    missing = Refusal(404, "METADATA_NOT_FOUND", "")
    assert seen.steps == {
        "init": OK,
        "publish init": OK,
        "current root": (200, current),
        "current root: the bytes of the current root": True,
        "root version 1": (200, consistent),
        "root version 1: the bytes of the current root": True,
        "root by its checksum": (200, consistent),
        "root by its checksum: the bytes of the current root": True,
        "root version 9": missing,
        "root by another checksum": missing,
        "a delegation nobody made": missing,
        "timestamp key": (200, "ecdsa"),
        "a GUN nobody made": missing,
    }


# --- lookups, key rotations, what the server signs, the change feed ---------------------------


def days_left(document: dict[str, Any]) -> int:
    """Whole days until a role document expires."""
    expires = datetime.fromisoformat(document["signed"]["expires"][:19] + "+00:00")
    return round((expires - datetime.now(UTC)).total_seconds() / 86400)


def rotations(server: TrustServer, home: Path) -> Seen:
    seen, gun = started(server, home)
    user, api, token = server.client(home / "user"), server.api(gun), server.token(gun)
    seen.run("add v1", user, "add", gun, "v1", payload(home, "v1"))
    seen.run("publish v1", user, "publish", gun)
    seen.note("lookup v1", (user.run("lookup", gun, "v1").stdout.strip()))
    seen.run("lookup a tag nobody signed", user, "lookup", gun, "v9")
    seen.run("rotate snapshot to the server", user, "key", "rotate", gun, "snapshot", "-r")
    seen.run("rotate the timestamp key", user, "key", "rotate", gun, "timestamp", "-r")
    seen.run("rotate the root key", user, "key", "rotate", gun, "root", stdin="yes\n")
    seen.run("rotate the targets key", user, "key", "rotate", gun, "targets")
    seen.run("add v2", user, "add", gun, "v2", payload(home, "v2"))
    seen.run("publish v2", user, "publish", gun)
    seen.table("list by another user", server.client(home / "other"), "list", gun)
    versions = {role: api.document(role, token)["signed"]["version"] for role in ROLES}
    seen.note("versions", versions)
    seen.note("days to expiry", {role: days_left(api.document(role, token)) for role in ROLES})
    seen.note("change feed", api.changes(token))
    seen.run("delete --remote", user, "delete", gun, "--remote")
    seen.note("change feed after delete", api.changes(token))
    return seen


def test_keys_rotate_and_the_server_signs_and_records_each_change(
    server: TrustServer, references: References, tmp_path: Path
) -> None:
    seen = rotations(server, tmp_path)
    references.check(seen, "rotations", rotations)
    updates = [(version, "update") for version in range(1, 8)]  # a record per timestamp
    assert seen.steps == {
        "init": OK,
        "publish init": OK,
        "add v1": OK,
        "publish v1": OK,
        "lookup v1": f"v1 sha256:{target('v1').digest} {target('v1').size}",
        "lookup a tag nobody signed": Ran(1, "No valid trust data for v9"),
        "rotate snapshot to the server": OK,
        "rotate the timestamp key": OK,
        "rotate the root key": OK,
        "rotate the targets key": OK,
        "add v2": OK,
        "publish v2": OK,
        "list by another user": [target("v1"), target("v2")],
        "versions": {"root": 5, "targets": 5, "snapshot": 8, "timestamp": 7},
        "days to expiry": {"root": 3650, "targets": 1095, "snapshot": 1095, "timestamp": 14},
        "change feed": updates,
        "delete --remote": OK,
        "change feed after delete": [*updates, (0, "deletion")],
    }
