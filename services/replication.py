"""Replication executions from the outside: Harbor's API (start, stop), the CI webhook
trigger (a signed delivery starts one), its secret (made and replaced), and `berth
replicate`.

Each is one attempt with its audit event in the transaction that writes the execution and
its job (core.replication_runs.start); the `replication` pipeline carries the execution out
and writes its end's events (core.replication_events). Rights are system-level, as
Harbor's: `replication:create` starts and stops, `replication:list` / `read` read,
`replication-policy:update` replaces a trigger secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from access.policy import Identity
from core import audit, events, replication_hooks, replication_runs
from core.replication_events import execution_resource
from core.replication_runs import PolicyUnknown, Started
from models import ReplicationExecution, ReplicationPolicy
from models.errors import InvalidInput, NotFound
from services.attempts import Call, attempt, peeked
from services.rights import require_system
from signer.sealing import SealBroken, Sealer

CREATE, READ, LIST = "replication:create", "replication:read", "replication:list"
STOP = CREATE  # Harbor's StopReplication asks for create too
POLICY_UPDATE = "replication-policy:update"
MAX_ID = 2**31 - 1


class PolicyNamedUnknown(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no replication policy is named {ref[:255]!r} or has that id")


def require(identity: Identity, permission: str) -> None:
    """The rights check of the reads (401 / 403)."""
    require_system(identity, permission)


async def start(call: Call) -> ReplicationExecution:
    """Harbor's StartReplication ({policy_id}): a manual execution by the caller.
    PolicyUnknown (404), ExecutionRunning (409, single_active_replication)."""
    named = (await peeked(call)).get("policy_id")
    shown = named if isinstance(named, int) and not isinstance(named, bool) else "?"
    event = audit.Event(audit.CREATE, audit.REPLICATION, f"replication policy {shown}")
    async with attempt(call, event) as op:
        require_system(op.caller, CREATE)
        policy_id = _policy_id((await op.body()).get("policy_id"))
        operator = op.caller.username or audit.SYSTEM
        started = await replication_runs.start(op.tx, policy_id, replication_runs.MANUAL, operator)
        await _emit_started(op.tx, event, started)
    return started.execution


async def start_here(policy_ref: str, operator: str) -> ReplicationExecution:
    """`berth replicate POLICY`: a manual execution of the policy named (by name or id) by
    the command's operator, as the API writes it. No rights check: whoever runs it holds
    the database already. PolicyNamedUnknown."""
    policy = await find_policy(policy_ref)
    started = await start_triggered(policy, replication_runs.MANUAL, operator)
    return started.execution


async def start_triggered(
    policy: ReplicationPolicy,
    trigger: str,
    operator: str,
    scope: dict[str, Any] | None = None,
    delivery_id: str | None = None,
) -> Started:
    """An execution started by the registry itself or its operator (the CLI, a schedule's
    fire, an event), with its audit event, in one transaction; a repeated delivery_id
    starts nothing (Started.new False)."""
    event = audit.Event(audit.CREATE, audit.REPLICATION, f"replication policy {policy.name}")
    async with events.recorded(event) as tx:
        started = await replication_runs.start(
            tx, int(policy.id), trigger, operator, scope, delivery_id
        )
        await _emit_started(tx, event, started)
    return started


async def find_policy(ref: str) -> ReplicationPolicy:
    """The policy of that name, or else of that id; PolicyNamedUnknown."""
    if "\x00" in ref:  # PostgreSQL compares no NUL: no policy is named so
        raise PolicyNamedUnknown(ref.replace("\x00", "\\x00"))
    policy = await ReplicationPolicy.get_or_none(name=ref[:255])
    if policy is None and ref.isascii() and ref.isdigit() and 0 < int(ref) <= MAX_ID:
        policy = await ReplicationPolicy.get_or_none(id=int(ref))
    if policy is None:
        raise PolicyNamedUnknown(ref)
    return policy


async def stop(call: Call, execution_id: int) -> ReplicationExecution:
    """Harbor's StopReplication: tasks not begun stop at once, those under way at their
    next chunk. ExecutionUnknown; safe to repeat (a finished execution stays as it is)."""
    event = audit.Event(
        audit.UPDATE, audit.REPLICATION, f"replication execution {execution_id}",
        description="stop requested",
    )  # fmt: skip
    async with attempt(call, event) as op:
        require_system(op.caller, STOP)
        execution = await replication_runs.request_stop(execution_id, op.tx)
        event.resource = await _resource(op.tx, execution)
        await events.emit(op.tx, event)
    return execution


async def rotate_hook_secret(call: Call, policy_id: int, sealer: Sealer) -> str:
    """A new trigger secret for the policy's CI webhook, replacing any earlier one (which
    stops working at once); the secret, shown this once. PolicyUnknown."""
    names = await ReplicationPolicy.filter(id=policy_id).values_list("name", flat=True)
    shown = str(names[0]) if names else f"replication policy {policy_id}"
    event = audit.Event(audit.UPDATE, audit.REPLICATION_POLICY, shown)
    async with attempt(call, event) as op:
        require_system(op.caller, POLICY_UPDATE)
        policy = await ReplicationPolicy.get_or_none(id=policy_id, using_db=op.tx)
        if policy is None:
            raise PolicyUnknown(policy_id)
        secret = replication_hooks.new_secret()
        had = bool(policy.hook_secret)
        policy.hook_secret = sealer.seal(secret)
        await policy.save(using_db=op.tx, update_fields=["hook_secret", "updated_at"])
        event.description = "trigger secret replaced" if had else "trigger secret made"
        await events.emit(op.tx, event)
    return secret


@dataclass(frozen=True, slots=True)
class HookDelivery:
    """One delivery to /hooks/replication/{policy_id}: its raw body and its headers (names
    in lower case)."""

    policy_id: int
    body: bytes
    headers: Mapping[str, str]


async def deliver_hook(delivery: HookDelivery, sealer: Sealer) -> Started:
    """Start the policy for a CI webhook delivery that proves itself with the policy's
    trigger secret (core.replication_hooks.verify); the same delivery id again answers the
    first execution and starts nothing. HookRefused (401) for a delivery that does not
    prove itself, an unknown policy or one without a secret alike — recorded as a failed
    event; PolicyDisabled, ExecutionRunning, ScopeInvalid."""
    event = audit.Event(
        audit.CREATE, audit.REPLICATION, f"replication policy {delivery.policy_id}",
        description="CI webhook delivery",
    )  # fmt: skip
    policy = await ReplicationPolicy.get_or_none(id=delivery.policy_id)
    try:
        source = replication_hooks.verify(_secret(policy, sealer), delivery.body, delivery.headers)
        delivery_id = replication_hooks.delivery_id(delivery.headers)
        if policy is None:  # verify refused it already: no policy, no secret
            raise replication_hooks.HookRefused("the policy is unknown")
    except replication_hooks.HookRefused as refused:
        await audit.record_failure(event, refused.reason)
        raise
    except InvalidInput as exc:
        await audit.record_failure(event, exc)
        raise
    operator = f"webhook:{source}"  # no account is named so (names hold no ":")
    audit.identify(operator)
    if delivery_id:
        event.description += f" {delivery_id}"
    async with events.recorded(event) as tx:
        scope = replication_hooks.parse_scope(delivery.body, policy.dest_registry_id is not None)
        started = await replication_runs.start(
            tx,
            int(policy.id),
            replication_runs.WEBHOOK,
            operator,
            scope.as_dict() if scope else None,
            delivery_id,
        )
        if not started.new:
            event.description += f" seen before: execution {started.execution.id}, nothing started"
        elif scope is not None:
            reference = f" {scope.reference}" if scope.reference else ""
            event.description += f" for {scope.repository}{reference}"
        await _emit_started(tx, event, started)
    return started


def _secret(policy: ReplicationPolicy | None, sealer: Sealer) -> str | None:
    if policy is None or not policy.hook_secret:
        return None
    try:
        return sealer.unseal(policy.hook_secret)
    except SealBroken:  # sealed under a key no longer configured: no secret holds
        return None


async def _emit_started(tx: events.Tx, event: audit.Event, started: Started) -> None:
    execution = started.execution
    event.resource = await _resource(tx, execution)
    if started.new:
        text = f"trigger: {execution.trigger}"
        event.description = f"{event.description}: {text}" if event.description else text
    await events.emit(tx, event)


async def _resource(tx: events.Tx, execution: ReplicationExecution) -> str:
    """The execution as the audit log names it (with its policy's name)."""
    query = ReplicationPolicy.filter(id=execution.policy_id).using_db(tx)
    names = await query.values_list("name", flat=True)
    return execution_resource(int(execution.id), str(names[0]) if names else "?")


def _policy_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidInput("policy_id must be the id of a replication policy")
    return value
