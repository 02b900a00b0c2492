"""A project's keys: the one it signs with now, the retired ones still trusted, and the
public keys and roots it trusts for signatures made elsewhere (models.ProjectKey)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from tortoise.exceptions import IntegrityError

from models import ProjectKey
from models.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed
from signer import keys
from signer.keys import TrustedKey
from signer.sealing import Sealer
from signer.verdicts import COSIGN_KEY, NOTATION_ROOT, SIGNING

ACTIVE = "active"
RETIRED = "retired"
TRUSTED = "trusted"


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    private: ec.EllipticCurvePrivateKey


async def trusted_keys(project_id: int) -> list[TrustedKey]:
    """Every key a signature in the project may verify with: its signing keys (active and
    retired) and what it trusts. A row whose PEM no longer loads is skipped."""
    query = ProjectKey.filter(project_id=project_id).order_by("id")
    rows = await query.values("kind", "public_pem")
    found = []
    for row in rows:
        try:
            found.append(keys.trusted(row["kind"], row["public_pem"]))
        except keys.KeyInvalid:
            continue
    return found


async def signing_key(project_id: int, sealer: Sealer) -> SigningKey:
    """The project's active signing key, made (and sealed) on first use. Safe when two
    workers race: the second insert loses and both read the winner."""
    row = await ProjectKey.get_or_none(project_id=project_id, kind=SIGNING, status=ACTIVE)
    if row is None:
        with contextlib.suppress(IntegrityError):  # a racing worker made one first
            await _new_signing_key(project_id, sealer)
        row = await ProjectKey.get(project_id=project_id, kind=SIGNING, status=ACTIVE)
    return SigningKey(row.key_id, keys.load_private(sealer.unseal(row.private_sealed)))


class KeyUnknown(NotFound):
    """No key of that id in the project."""


class KeyInUse(PreconditionFailed):
    """The active signing key cannot be removed; rotate it first."""


class KeyTrustedAlready(AlreadyExists):
    """The project trusts that key (or root) already."""


async def list_keys(project_id: int) -> list[ProjectKey]:
    return await ProjectKey.filter(project_id=project_id).order_by("id")


async def get_key(project_id: int, row_id: int) -> ProjectKey:
    row = await ProjectKey.get_or_none(project_id=project_id, id=row_id)
    if row is None:
        raise KeyUnknown(f"the project has no key {row_id}")
    return row


async def rotate(project_id: int, sealer: Sealer) -> ProjectKey:
    """A new active signing key; the one before is retired (still trusted until removed).
    Call inside the change's transaction."""
    now = datetime.now(UTC)
    await ProjectKey.filter(project_id=project_id, kind=SIGNING, status=ACTIVE).update(
        status=RETIRED, retired_at=now
    )
    return await _new_signing_key(project_id, sealer)


async def _new_signing_key(project_id: int, sealer: Sealer) -> ProjectKey:
    """A new active signing key row, its private half sealed."""
    private = keys.generate()
    return await ProjectKey.create(
        project_id=project_id,
        key_id=keys.key_id(private.public_key()),
        kind=SIGNING,
        status=ACTIVE,
        name="berth",
        public_pem=keys.public_pem(private.public_key()),
        private_sealed=sealer.seal(keys.private_pem(private)),
    )


async def trust(project_id: int, kind: str, name: str, pem: str) -> ProjectKey:
    """Trust an uploaded cosign public key or notation root. Raises InvalidInput naming
    public_key for text that is neither, KeyTrustedAlready for a key trusted already."""
    if kind not in (COSIGN_KEY, NOTATION_ROOT):
        raise InvalidInput(f"kind must be {COSIGN_KEY} or {NOTATION_ROOT}, got {kind[:40]!r}")
    try:
        made = keys.trusted(kind, pem)
    except keys.KeyInvalid as exc:
        raise InvalidInput(f"public_key: {exc}") from None
    if made.certificate is not None and not _is_ca(made.certificate):
        raise InvalidInput("public_key: a notation root must be a CA certificate")
    if await ProjectKey.exists(project_id=project_id, key_id=made.key_id):
        raise KeyTrustedAlready(f"the project trusts {made.key_id} already")
    text = pem.strip() + "\n"
    return await ProjectKey.create(
        project_id=project_id, key_id=made.key_id, kind=kind, status=TRUSTED, name=name,
        public_pem=text,
    )  # fmt: skip


async def untrust(project_id: int, row_id: int) -> ProjectKey:
    """Remove a trusted key or a retired signing key. KeyInUse for the active one."""
    row = await get_key(project_id, row_id)
    if row.status == ACTIVE:
        raise KeyInUse("this is the project's active signing key: rotate it first")
    await row.delete()
    return row


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


async def get_key_by_id(project_id: int, key_id: str) -> ProjectKey:
    row = await ProjectKey.get_or_none(project_id=project_id, key_id=key_id)
    if row is None:
        raise KeyUnknown(f"the project has no key {key_id}")
    return row
