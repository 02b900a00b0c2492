"""A project's keys: the one it signs with now, the retired ones still trusted, and the
public keys and roots it trusts for signatures made elsewhere (models.ProjectKey)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from tortoise.exceptions import IntegrityError

from models import ProjectKey
from signer import keys
from signer.keys import TrustedKey
from signer.sealing import Sealer
from signer.verdicts import SIGNING

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
        private = keys.generate()
        with contextlib.suppress(IntegrityError):  # a racing worker made one first
            await ProjectKey.create(
                project_id=project_id,
                key_id=keys.key_id(private.public_key()),
                kind=SIGNING,
                status=ACTIVE,
                name="berth",
                public_pem=keys.public_pem(private.public_key()),
                private_sealed=sealer.seal(keys.private_pem(private)),
            )
        row = await ProjectKey.get(project_id=project_id, kind=SIGNING, status=ACTIVE)
    return SigningKey(row.key_id, keys.load_private(sealer.unseal(row.private_sealed)))
