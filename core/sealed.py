"""Every secret Berth keeps sealed (signer/sealing.py), in one list, so that rotating the
key-encryption key is one pass: `berth admin reseal` seals each again with the current key,
after which the retired keys may be dropped from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from tortoise.models import Model

from core import audit, events
from models import ProjectKey, RemoteRegistry, ReplicationPolicy, TrustKey
from signer.sealing import SealBroken, Sealer

# (model, column, how a row is named in a report)
SEALED: tuple[tuple[type[Model], str, str], ...] = (
    (RemoteRegistry, "access_secret", "registry"),
    (ReplicationPolicy, "hook_secret", "replication policy"),
    (ProjectKey, "private_sealed", "signing key"),
    (TrustKey, "private_sealed", "trust key"),
)


@dataclass(slots=True)
class Resealed:
    count: int = 0
    unreadable: list[str] = field(default_factory=list)  # rows no configured key opens


async def reseal_all(sealer: Sealer) -> Resealed:
    """Seal every stored secret again with the current key, in one transaction with its
    audit event. A value no configured key opens is left as it is and reported."""
    done = Resealed()
    event = audit.Event(audit.UPDATE, audit.CONFIGURATION, "secret key")
    async with events.recorded(event) as tx:
        for model, column, kind in SEALED:
            for row in await model.exclude(**{column: ""}).using_db(tx):
                try:
                    setattr(row, column, sealer.reseal(getattr(row, column)))
                except SealBroken:
                    done.unreadable.append(f"{kind} {getattr(row, 'name', row.pk)}")
                    continue
                await row.save(using_db=tx, update_fields=[column])
                done.count += 1
        event.description = f"{done.count} secret(s) sealed again with the current key"
        await events.emit(tx, event)
    return done
