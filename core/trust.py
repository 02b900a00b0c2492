"""Docker Content Trust: the Notary v1 server inside Berth.

A GUN (`HOST:PORT/project/repo`) holds TUF metadata: root, targets and its delegations
signed by the repository's owners, and a snapshot and a timestamp that Berth signs with
keys it holds (the snapshot only where the owners handed its key to the server, as the
Docker CLI does). An update is checked as notary-server checks it — each role signed by
the threshold of keys its parent names (a new root by the old root's keys too), versions
only going up, a snapshot matching what it covers — and stored with a new timestamp in one
transaction, every version kept. After each accepted update the tags its targets sign are
written to `TrustTarget`, verified from the root down, for the pull path to read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.x509.oid import NameOID
from tortoise.exceptions import IntegrityError

from core import audit, events
from core.errors import NameInvalid
from core.events import Tx, transaction
from core.names import validate_name
from models import Project, TrustChange, TrustFile, TrustKey, TrustTarget
from signer import keys, tuf
from signer.sealing import Sealer
from signer.tuf import Metadata, Role, TufInvalid

ROLE = re.compile(r"root|targets(?:/[^/\s]+)*|snapshot|timestamp")
SERVER_ROLES = ("timestamp", "snapshot")
SNAPSHOT_EXPIRY = timedelta(days=3 * 365)
TIMESTAMP_EXPIRY = timedelta(days=14)
MAX_GUN = 255
DEFAULT_PAGE = 100


@dataclass
class NotaryError(Exception):
    """An answer in notary-server's error format: its code, message and status."""

    code: str
    message: str
    status: int = 400
    detail: Any = None
    challenge: str | None = None  # a 401's WWW-Authenticate

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" ({self.detail})" if self.detail else "")


def metadata_not_found() -> NotaryError:
    return NotaryError(
        "METADATA_NOT_FOUND", "You have requested metadata that does not exist.", 404
    )


def invalid_update(kind: str, message: str, **extra: str) -> NotaryError:
    """INVALID_UPDATE with notary's serializable validation error as its detail."""
    detail = {"Name": kind, "Error": {"Msg": message, **extra}}
    return NotaryError("INVALID_UPDATE", "Update sent by the client is invalid.", 400, detail)


def old_version() -> NotaryError:
    return NotaryError("VERSION", "A newer version of metadata is already available.", 400)


def repository_of(gun: str) -> str:
    """Berth's repository name of a GUN: without its first component, the registry's host."""
    return gun.partition("/")[2]


def check_gun(gun: str) -> str:
    """The GUN, or INVALID_GUN for one Berth cannot hold: a host part and then a repository
    name by the distribution spec's grammar, in a project."""
    host, _, repository = gun.partition("/")
    if not host or len(gun) > MAX_GUN or "\0" in host or "/" in host:
        raise _invalid_gun(gun)
    try:
        validate_name(repository)
    except NameInvalid:
        raise _invalid_gun(gun) from None
    return gun


def _invalid_gun(gun: str) -> NotaryError:
    return NotaryError(
        "INVALID_GUN",
        "The server does not support actions on images of this name.",
        400,
        f"{gun[:80]!r} is not HOST[:PORT]/project/repository",
    )


def check_role(role: str) -> str:
    if not ROLE.fullmatch(role):
        raise NotaryError(
            "INVALID_ROLE", "The role you are attempting to operate on is invalid.", 400, role
        )
    return role


# --- reading ---------------------------------------------------------------------------


async def current(gun: str, role: str, using: Tx | None = None) -> TrustFile | None:
    """The newest version of a role's metadata for a GUN."""
    query = TrustFile.filter(gun=gun, role=role).order_by("-version")
    if using is not None:
        query = query.using_db(using)
    return await query.first()


async def get(
    gun: str, role: str, sealer: Sealer, version: int | None = None, checksum: str | None = None
) -> TrustFile:
    """A role's metadata: the current version, one version, or the version with a checksum.
    A current timestamp past its expiry is signed again first."""
    if checksum is not None:
        found = await TrustFile.filter(gun=gun, role=role, sha256=checksum.lower()).first()
    elif version is not None:
        found = await TrustFile.filter(gun=gun, role=role, version=version).first()
    else:
        found = await current(gun, role)
        if found is not None and role == "timestamp" and _expired(found):
            found = await _refresh_timestamp(gun, sealer) or found
    if found is None:
        raise metadata_not_found()
    return found


def _expired(row: TrustFile) -> bool:
    try:
        return tuf.load(row.role, bytes(row.data)).expires <= datetime.now(UTC)
    except TufInvalid:
        return False


async def _refresh_timestamp(gun: str, sealer: Sealer) -> TrustFile | None:
    async with transaction() as tx:
        root, snapshot = await current(gun, "root", tx), await current(gun, "snapshot", tx)
        stamp = await current(gun, "timestamp", tx)
        if root is None or snapshot is None or stamp is None or not _expired(stamp):
            return stamp
        roles = tuf.root_roles(tuf.load("root", bytes(root.data)))
        made = await _timestamp(gun, roles, bytes(snapshot.data), stamp, sealer, tx)
        row = await _store(tx, gun, made)
        await _change(tx, gun, made)
        return row


# --- keys ------------------------------------------------------------------------------


async def public_key(gun: str, role: str, sealer: Sealer, rotate: bool = False) -> dict[str, Any]:
    """The server's key for a GUN's timestamp or snapshot role, as TUF carries it: the newest,
    made on first ask; with rotate, a new one (the old signs until a root names the new)."""
    if role not in SERVER_ROLES:
        raise NotaryError(
            "INVALID_ROLE", "The role you are attempting to operate on is invalid.", 400, role
        )
    async with transaction() as tx:
        row = None if rotate else await _newest_key(gun, role, tx)
        if row is None:
            private = keys.generate()
            public = tuf.ecdsa_public_key(private)
            row = await TrustKey.create(
                gun=gun,
                role=role,
                key_id=public.id,
                public=tuf.b64(public.public),
                private_sealed=sealer.seal(keys.private_pem(private)),
                using_db=tx,
            )
    return tuf.PublicKey("ecdsa", tuf.unb64(row.public, "public")).as_json()


async def _newest_key(gun: str, role: str, tx: Tx) -> TrustKey | None:
    return await TrustKey.filter(gun=gun, role=role).using_db(tx).order_by("-id").first()


async def _signer(gun: str, role: Role, sealer: Sealer, tx: Tx) -> Any | None:
    """The private key Berth holds among those role names (None when it holds none)."""
    rows = await TrustKey.filter(gun=gun, role=role.name, key_id__in=list(role.keys)).using_db(tx)
    if not rows:
        return None
    return keys.load_private(sealer.unseal(rows[0].private_sealed))


# --- updating --------------------------------------------------------------------------


@dataclass
class _Update:
    """What an update leaves current: each role's metadata, and what is new."""

    gun: str
    current: dict[str, Metadata] = field(default_factory=dict)
    new: list[Metadata] = field(default_factory=list)


async def update(gun: str, parts: list[tuple[str, bytes]], sealer: Sealer) -> list[str]:
    """Apply an atomic update (each part a role's signed metadata), as notary-server
    validates it; the roles written. NotaryError for anything it refuses (audited)."""
    try:
        return await _update(gun, parts, sealer)
    except NotaryError as exc:
        event = await _event(gun, audit.UPDATE, "trust data update refused")
        await audit.record_failure(event, str(exc))
        raise


async def _update(gun: str, parts: list[tuple[str, bytes]], sealer: Sealer) -> list[str]:
    uploaded: dict[str, Metadata] = {}
    for role, data in parts:
        check_role(role)
        try:
            json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise NotaryError(
                "MALFORMED_JSON", "JSON sent by the client could not be parsed by the server"
            ) from None
        try:
            uploaded[role] = tuf.load(role, data)
        except TufInvalid as exc:
            raise invalid_update(_kind_of(role), str(exc)) from None
    async with transaction() as tx:
        state = _Update(gun)
        root = await _validate_root(state, uploaded.get("root"), tx)
        roles = tuf.root_roles(root)
        await _validate_targets(state, roles, uploaded, tx)
        previous_snapshot = await current(gun, "snapshot", tx)
        if "snapshot" in uploaded:
            snapshot = _validate_snapshot(state, roles, uploaded["snapshot"])
        else:
            snapshot = await _snapshot(state, roles, previous_snapshot, sealer, tx)
        state.new.append(snapshot)
        stamp = await _timestamp(
            gun, roles, snapshot.data, await current(gun, "timestamp", tx), sealer, tx
        )
        state.new.append(stamp)
        await _check_versions(state, tx)
        try:
            for meta in state.new:
                await _store(tx, gun, meta)
        except IntegrityError:
            raise old_version() from None
        await _change(tx, gun, stamp)
        state.current.update({m.role: m for m in state.new})
        await _derive_targets(tx, state)
        await events.emit(tx, await _event(gun, audit.UPDATE, _describe(state)))
    return [meta.role for meta in state.new]


def _kind_of(role: str) -> str:
    if role == "root":
        return "ErrBadRoot"
    if role == "snapshot":
        return "ErrBadSnapshot"
    if role == "timestamp":
        return "ErrValidation"
    return "ErrBadTargets"


async def _validate_root(state: _Update, new: Metadata | None, tx: Tx) -> Metadata:
    stored = await current(state.gun, "root", tx)
    old = tuf.load("root", bytes(stored.data)) if stored is not None else None
    if new is None:
        if old is None:
            raise invalid_update(
                "ErrValidation", "no pre-existing root and no root provided in update."
            )
        state.current["root"] = old
        return old
    current_version = old.version if old is not None else 0
    if new.version not in (current_version, current_version + 1):
        raise invalid_update(
            "ErrBadRoot",
            "Root modifications must increment the version."
            f" Current {current_version}, new {new.version}",
        )
    try:
        roles = tuf.root_roles(new)
        _check_root_certificates(state.gun, roles["root"])
        if old is not None:  # a rotation: the old root's keys must sign it too
            tuf.check_signed(new, tuf.root_roles(old)["root"])
        tuf.check_signed(new, roles["root"])
        _check_unexpired(new)
    except TufInvalid as exc:
        raise invalid_update("ErrBadRoot", str(exc)) from None
    state.current["root"] = new
    state.new.append(new)
    return new


def _check_root_certificates(gun: str, role: Role) -> None:
    """Root keys are certificates for the GUN (their common name), valid now, as the
    trust pinning of notary's TOFU requires; at least the threshold of them."""
    now = datetime.now(UTC)
    good = 0
    for key in role.keys.values():
        cert = key.certificate()
        if cert is None:
            continue
        names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if names != [gun] or not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            continue
        good += 1
    if good < role.threshold:
        raise TufInvalid(
            f"root keys must be unexpired certificates for {gun}; found {good} of {role.threshold}"
        )


def _check_unexpired(meta: Metadata) -> None:
    if meta.expires <= datetime.now(UTC):
        raise TufInvalid(f"{meta.role} expired at {tuf.go_time(meta.expires)}")


async def _validate_targets(
    state: _Update, roles: dict[str, Role], uploaded: dict[str, Metadata], tx: Tx
) -> None:
    names = sorted(r for r in uploaded if r == "targets" or r.startswith("targets/"))
    for name in names:
        meta = uploaded[name]
        try:
            if name == "targets":
                role = roles["targets"]
            else:
                parent = await _loaded(state, name.rpartition("/")[0], tx)
                if parent is None:
                    raise TufInvalid(f"{name} has no parent role metadata")
                delegated = tuf.delegations(parent).get(name)
                if delegated is None:
                    raise TufInvalid(f"{name} is not delegated by {parent.role}")
                role = delegated[0]
            tuf.check_signed(meta, role)
            _check_unexpired(meta)
            _check_target_entries(meta)
        except TufInvalid as exc:
            raise invalid_update("ErrBadTargets", str(exc)) from None
        state.current[name] = meta
        state.new.append(meta)


def _check_target_entries(meta: Metadata) -> None:
    targets = meta.signed.get("targets")
    if targets is None:
        return
    if not isinstance(targets, dict):
        raise TufInvalid(f"{meta.role} targets must be an object")
    for name, entry in targets.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("length"), int):
            raise TufInvalid(f"{meta.role} target {name!r} has no length")
        if not isinstance(entry.get("hashes"), dict) or not entry["hashes"]:
            raise TufInvalid(f"{meta.role} target {name!r} has no hashes")
    tuf.delegations(meta)


async def _loaded(state: _Update, role: str, tx: Tx) -> Metadata | None:
    """A role's metadata as this update leaves it: uploaded, or else stored."""
    if role in state.current:
        return state.current[role]
    row = await current(state.gun, role, tx)
    if row is None:
        return None
    meta = tuf.load(role, bytes(row.data))
    state.current[role] = meta
    return meta


def _validate_snapshot(state: _Update, roles: dict[str, Role], meta: Metadata) -> Metadata:
    try:
        tuf.check_signed(meta, roles["snapshot"])
        _check_unexpired(meta)
        covered = meta.signed.get("meta")
        if not isinstance(covered, dict):
            raise TufInvalid("snapshot has no meta")
        for role, loaded in state.current.items():
            if role in SERVER_ROLES:
                continue
            if role not in covered:
                raise TufInvalid(f"snapshot does not list {role}")
            if not tuf.matches_meta(loaded.data, covered[role]):
                raise TufInvalid(f"snapshot's hashes of {role} do not match it")
    except TufInvalid as exc:
        raise invalid_update("ErrBadSnapshot", str(exc)) from None
    return meta


async def _snapshot(
    state: _Update,
    roles: dict[str, Role],
    previous: TrustFile | None,
    sealer: Sealer,
    tx: Tx,
) -> Metadata:
    """A snapshot Berth signs: the previous one's entries with this update's roles."""
    key = await _signer(state.gun, roles["snapshot"], sealer, tx)
    if key is None:
        raise invalid_update(
            "ErrBadHierarchy",
            "no snapshot was included in update and server does not hold current snapshot"
            " key for repository",
            Missing="snapshot",
        )
    covered: dict[str, Any] = {}
    version = 1
    if previous is not None:
        prior = tuf.load("snapshot", bytes(previous.data))
        covered = dict(prior.signed.get("meta") or {})
        version = prior.version + 1
    for role, meta in state.current.items():
        if role not in SERVER_ROLES:
            covered[role] = tuf.file_meta(meta.data)
    if "targets" not in covered:
        targets = await _loaded(state, "targets", tx)
        if targets is None:
            raise invalid_update(
                "ErrBadHierarchy", "no targets metadata to snapshot", Missing="targets"
            )
        covered["targets"] = tuf.file_meta(targets.data)
    signed = {
        "_type": "Snapshot",
        "expires": tuf.go_time(datetime.now(UTC) + SNAPSHOT_EXPIRY),
        "meta": covered,
        "version": version,
    }
    return _metadata("snapshot", tuf.sign(key, signed))


async def _timestamp(
    gun: str,
    roles: dict[str, Role],
    snapshot: bytes,
    previous: TrustFile | None,
    sealer: Sealer,
    tx: Tx,
) -> Metadata:
    key = await _signer(gun, roles["timestamp"], sealer, tx)
    if key is None:
        raise invalid_update("ErrBadRoot", "no timestamp keys exist on the server")
    version = 1
    if previous is not None:
        version = tuf.load("timestamp", bytes(previous.data)).version + 1
    signed = {
        "_type": "Timestamp",
        "expires": tuf.go_time(datetime.now(UTC) + TIMESTAMP_EXPIRY),
        "meta": {"snapshot": tuf.file_meta(snapshot)},
        "version": version,
    }
    return _metadata("timestamp", tuf.sign(key, signed))


def _metadata(role: str, envelope: dict[str, Any]) -> Metadata:
    data = json.dumps(envelope, separators=(",", ":")).encode()
    return tuf.load(role, data)


async def _check_versions(state: _Update, tx: Tx) -> None:
    """Every version goes up: a role's new version above its newest stored one."""
    for meta in state.new:
        newest = await current(state.gun, meta.role, tx)
        if newest is not None and newest.version >= meta.version:
            raise old_version()


async def _store(tx: Tx, gun: str, meta: Metadata) -> TrustFile:
    return await TrustFile.create(
        gun=gun,
        role=meta.role,
        version=meta.version,
        sha256=meta.sha256,
        data=meta.data,
        using_db=tx,
    )


async def _change(tx: Tx, gun: str, stamp: Metadata) -> None:
    await TrustChange.create(
        gun=gun, version=stamp.version, sha256=stamp.sha256, category="update", using_db=tx
    )


# --- what is signed ---------------------------------------------------------------------


RELEASES = "targets/releases"  # the delegation the Docker CLI signs into and pulls from


async def _derive_targets(tx: Tx, state: _Update) -> None:
    """Rewrite the GUN's signed tags from its current trust data as the Docker CLI reads
    them: the `targets/releases` delegation first, then `targets` itself; each verified
    from the root down, with the soonest expiry along its chain. Other delegations sign
    nothing a pull takes (the CLI ignores them too)."""
    await TrustTarget.filter(gun=state.gun).using_db(tx).delete()
    root = state.current["root"]
    targets = await _loaded(state, "targets", tx)
    if targets is None:
        return
    try:
        tuf.check_signed(targets, tuf.root_roles(root)["targets"])
        delegated = tuf.delegations(targets).get(RELEASES)
    except TufInvalid:
        return
    expires = min(root.expires, targets.expires)
    found: dict[str, TrustTarget] = {}
    releases = await _loaded(state, RELEASES, tx) if delegated is not None else None
    if delegated is not None and releases is not None:
        role, paths = delegated
        try:
            tuf.check_signed(releases, role)
        except TufInvalid:
            pass
        else:
            _collect(state.gun, releases, paths, min(expires, releases.expires), found)
    _collect(state.gun, targets, [""], expires, found)
    if found:
        await TrustTarget.bulk_create(list(found.values()), using_db=tx)


def _collect(
    gun: str, meta: Metadata, paths: list[str], expires: datetime, found: dict[str, TrustTarget]
) -> None:
    """meta's targets within its delegated paths, where no earlier role signed the tag."""
    repository = repository_of(gun)
    for name, entry in (meta.signed.get("targets") or {}).items():
        if name in found or not any(name.startswith(p) for p in paths):
            continue
        digest = _sha256_of(entry)
        if digest is None or len(name) > 255:
            continue
        found[name] = TrustTarget(
            repository=repository,
            gun=gun,
            tag=name,
            digest=digest,
            length=int(entry.get("length", 0)),
            role=meta.role,
            expires=int(expires.timestamp()),
        )


def _sha256_of(entry: Any) -> str | None:
    try:
        raw = tuf.unb64(entry["hashes"]["sha256"], "sha256")
    except (KeyError, TypeError, TufInvalid):
        return None
    return f"sha256:{raw.hex()}" if len(raw) == 32 else None


def _describe(state: _Update) -> str:
    parts = [f"{m.role} v{m.version}" for m in state.new]
    return "trust data updated: " + ", ".join(parts)


async def _event(gun: str, operation: str, description: str) -> audit.Event:
    project = repository_of(gun).partition("/")[0]
    row = await Project.get_or_none(name=project)
    event = audit.Event(operation, audit.TRUST_DATA, gun, project)
    event.project_id = row.id if row is not None else None
    event.description = description
    return event


# --- deleting ---------------------------------------------------------------------------


async def delete(gun: str) -> int:
    """Remove every version of a GUN's trust data (its keys stay); the files removed."""
    async with transaction() as tx:
        removed = await TrustFile.filter(gun=gun).using_db(tx).delete()
        await TrustTarget.filter(gun=gun).using_db(tx).delete()
        await TrustChange.create(gun=gun, version=0, sha256="", category="deletion", using_db=tx)
        event = await _event(gun, audit.DELETE, f"trust data deleted ({removed} file(s))")
        await events.emit(tx, event)
    return int(removed)


# --- the change feed --------------------------------------------------------------------


async def changes(gun: str | None, change_id: str, records: str) -> list[dict[str, Any]]:
    """notary-server's change feed: records after change_id (or, for a negative id or
    count, the latest ones before it), oldest first."""
    try:
        count = int(records)
    except ValueError:
        raise NotaryError(
            "INVALID_PARAMETERS",
            "The parameters provided are not valid.",
            400,
            f"invalid records parameter: {records!r}",
        ) from None
    try:
        start = int(change_id) if change_id else 0
    except ValueError:
        raise NotaryError(
            "INVALID_PARAMETERS",
            "The parameters provided are not valid.",
            400,
            f"change ID expected to be integer, provided ID was: {change_id}",
        ) from None
    count = count or DEFAULT_PAGE
    reversed_ = start < 0 or count < 0
    count = min(abs(count), 1000)
    query = TrustChange.all()
    if gun:
        query = query.filter(gun=gun)
    if reversed_:
        if start > 0:
            query = query.filter(id__lt=start)
        rows = list(reversed(await query.order_by("-id").limit(count)))
    else:
        rows = await query.filter(id__gt=start).order_by("id").limit(count)
    return [
        {
            "ID": str(row.id),
            "CreatedAt": row.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "GUN": row.gun,
            "Version": row.version,
            "SHA256": row.sha256,
            "Category": row.category,
        }
        for row in rows
    ]


async def healthy() -> None:
    """Raise when the trust tables do not answer."""
    await TrustChange.all().limit(1)
