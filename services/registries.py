"""Remote registries from the REST API: create, change, delete, ping.

Each change is one attempt (services.attempts): the system-level right first
("registry:create" / "update" / "delete"), then the body, then the change and its audit
event in one transaction. No description names a secret: an update says "access_secret
changed" and nothing more. A ping changes nothing but the registry's status, and talks to
the other registry outside any transaction.
"""

from __future__ import annotations

from access.policy import Identity
from core import audit, events, registries
from core.registries import RegistrySpec
from models import RemoteRegistry
from models.errors import InvalidInput
from services.attempts import Call, attempt, requested
from services.rights import require_system
from signer.sealing import Sealer

CREATE, LIST, READ = "registry:create", "registry:list", "registry:read"
UPDATE, DELETE = "registry:update", "registry:delete"
ADAPTER_LIST = "replication-adapter:list"


class RegistryUnreachable(InvalidInput):
    """Harbor's 400 for a ping that failed, with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the registry is unhealthy: {reason}")


def require(identity: Identity, permission: str) -> None:
    """The rights check of the registry reads (401 / 403)."""
    require_system(identity, permission)


async def create(call: Call, sealer: Sealer) -> RemoteRegistry:
    """A new registry from Harbor's Registry body."""
    event = audit.Event(audit.CREATE, audit.REGISTRY, await requested(call, "name", 64))
    async with attempt(call, event) as op:
        require_system(op.caller, CREATE)
        spec = registries.parse_registry(await op.body())
        registry = await registries.create(spec, sealer)
        event.resource = spec.name
        event.description = _created(spec)
        await events.emit(op.tx, event)
    return registry


async def update(call: Call, registry_id: int, sealer: Sealer) -> None:
    """Change a registry with Harbor's RegistryUpdate body (or a Registry body)."""
    event = audit.Event(audit.UPDATE, audit.REGISTRY, f"registry {registry_id}")
    async with attempt(call, event) as op:
        require_system(op.caller, UPDATE)
        before = await registries.get(registry_id)
        event.resource = before.name
        spec = registries.parse_registry(await op.body(), before)
        secret_changed = await registries.update(before, spec, sealer)
        old = _described(registries.parse_registry({}, before))
        new = _described(spec) | {"access_secret": secret_changed}
        event.description = audit.changes(old, new, hidden=("access_secret",))
        await events.emit(op.tx, event)


async def delete(call: Call, registry_id: int) -> None:
    """Delete a registry that no policy uses (Harbor's 412 otherwise)."""
    event = audit.Event(audit.DELETE, audit.REGISTRY, f"registry {registry_id}")
    async with attempt(call, event) as op:
        require_system(op.caller, DELETE)
        event.resource = (await registries.get(registry_id)).name
        await registries.delete(registry_id)
        await events.emit(op.tx, event)


async def ping(call: Call, sealer: Sealer) -> None:
    """Harbor's RegistryPing: a stored registry by id (its address as stored; other
    credentials may be tried) or a full address; RegistryUnreachable with the reason when
    /v2/ does not answer with the credentials. Pinging a stored registry with its own
    credentials records its status."""
    require_system(await call.caller(), READ)
    body = await call.body()
    registry_id = registries.ping_registry_id(body)
    registry = None if registry_id is None else await registries.get(registry_id)
    target, own = registries.ping_endpoint(body, registry, sealer)
    problem = await registries.reach(target)
    if registry is not None and own:
        status = registries.HEALTHY if problem is None else registries.UNHEALTHY
        await registries.set_status(int(registry.id), status)
    if problem is not None:
        raise RegistryUnreachable(problem)


def _created(spec: RegistrySpec) -> str:
    described = _described(spec)
    secret = described.pop("access_secret")
    parts = [f"{key}: {audit.shown(value)}" for key, value in described.items() if value]
    return ", ".join(parts + (["with an access secret"] if secret else []))


def _described(spec: RegistrySpec) -> dict[str, object]:
    """A registry as its audit event describes it: never the secret's value."""
    return {
        "name": spec.name,
        "type": spec.type,
        "url": spec.url,
        "description": spec.description,
        "credential_type": spec.credential_type,
        "access_key": spec.access_key,
        "insecure": spec.insecure,
        "ca_certificate": bool(spec.ca_certificate),
        "requests_per_second": spec.requests_per_second,
        "access_secret": bool(spec.access_secret),
    }
