"""Outgoing webhooks: project policies, the events they receive, and each delivery's history.

core/events.py emits the events, inside the transaction of the change that causes them: one
execution row and one "webhook" job per matching enabled policy, so no event is lost and
none is sent for a change that rolled back. Delivery itself is pipelines/webhooks.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tortoise.exceptions import IntegrityError

from models import Job, WebhookExecution, WebhookPolicy
from models.errors import AlreadyExists, InvalidInput, NotFound

PUSH_ARTIFACT = "PUSH_ARTIFACT"
PULL_ARTIFACT = "PULL_ARTIFACT"
DELETE_ARTIFACT = "DELETE_ARTIFACT"
REPLICATION = "REPLICATION"  # an execution ended (core/replication_events.py)
EVENT_TYPES = (PUSH_ARTIFACT, PULL_ARTIFACT, DELETE_ARTIFACT, REPLICATION)
# Harbor's CloudEvents type names
CLOUDEVENT_TYPES = {
    PUSH_ARTIFACT: "harbor.artifact.pushed",
    PULL_ARTIFACT: "harbor.artifact.pulled",
    DELETE_ARTIFACT: "harbor.artifact.deleted",
    REPLICATION: "harbor.replication.status.changed",
}
NOTIFY_TYPES = ("http",)
PAYLOAD_FORMATS = ("Default", "CloudEvents")
MAX_ATTEMPTS = 5
MAX_LOG_CHARS = 64 * 1024  # of one execution's delivery log
MAX_SECRET = 256
SIGNATURE_HEADER = "X-Berth-Signature"


class WebhookInvalid(InvalidInput):
    """A policy the service cannot accept as given."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class WebhookPolicyUnknown(NotFound):
    """No such policy in the project."""

    def __init__(self, policy_id: int) -> None:
        super().__init__(f"webhook policy {policy_id} not found")


class WebhookNameTaken(AlreadyExists):
    """The project has a policy of that name already."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a webhook policy named {name!r} exists already in the project")


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A validated WebhookPolicy request; secret None keeps (or, new, generates) one."""

    name: str
    description: str
    enabled: bool
    event_types: list[str]
    targets: list[dict[str, Any]]
    secret: str | None


def parse_policy(body: dict[str, Any]) -> PolicySpec:
    """Check a Harbor WebhookPolicy body; raises WebhookInvalid with the reason."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise WebhookInvalid("name is required (1..256 characters)")
    description = body.get("description") or ""
    enabled = body.get("enabled", True)
    if not isinstance(description, str) or not isinstance(enabled, bool):
        raise WebhookInvalid("description must be a string and enabled a boolean")
    events = body.get("event_types")
    if not isinstance(events, list) or not events or not all(e in EVENT_TYPES for e in events):
        raise WebhookInvalid(f"event_types must be a non-empty list of {', '.join(EVENT_TYPES)}")
    targets = body.get("targets")
    if not isinstance(targets, list) or not targets:
        raise WebhookInvalid("targets must be a non-empty list")
    secret = body.get("secret")
    if secret is not None and (not isinstance(secret, str) or not 1 <= len(secret) <= MAX_SECRET):
        raise WebhookInvalid(f"secret must be a string of 1..{MAX_SECRET} characters")
    checked = [_target(t) for t in targets]
    return PolicySpec(
        name.strip(), description, enabled, list(dict.fromkeys(events)), checked, secret
    )


def _target(target: object) -> dict[str, Any]:
    if not isinstance(target, dict):
        raise WebhookInvalid("each target must be an object")
    kind = target.get("type") or "http"
    address = target.get("address")
    auth_header = target.get("auth_header") or ""
    skip = target.get("skip_cert_verify", False)
    payload_format = target.get("payload_format") or "Default"
    if kind not in NOTIFY_TYPES:
        raise WebhookInvalid(f"target type must be one of {', '.join(NOTIFY_TYPES)}")
    parts = urlsplit(address) if isinstance(address, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookInvalid("target address must be an http:// or https:// URL")
    if not isinstance(auth_header, str) or not isinstance(skip, bool):
        raise WebhookInvalid("auth_header must be a string and skip_cert_verify a boolean")
    if payload_format not in PAYLOAD_FORMATS:
        raise WebhookInvalid(f"payload_format must be one of {', '.join(PAYLOAD_FORMATS)}")
    return {
        "type": kind,
        "address": address,
        "auth_header": auth_header,
        "skip_cert_verify": skip,
        "payload_format": payload_format,
    }


# --- policies ------------------------------------------------------------------------------


async def create_policy(project_id: int, spec: PolicySpec, creator: str) -> tuple[int, str]:
    """Store a policy; its id and its secret (generated when the request had none)."""
    secret = spec.secret or secrets.token_urlsafe(32)
    try:
        policy = await WebhookPolicy.create(
            project_id=project_id, creator=creator, secret=secret, **_fields(spec)
        )
    except IntegrityError:
        raise WebhookNameTaken(spec.name) from None
    return int(policy.id), secret


async def update_policy(project_id: int, policy_id: int, spec: PolicySpec) -> None:
    """Replace a policy's settings; its secret changes only when the request names one."""
    await get_policy(project_id, policy_id)
    changes = _fields(spec) | ({"secret": spec.secret} if spec.secret else {})
    try:
        await WebhookPolicy.filter(id=policy_id).update(**changes, updated_at=datetime.now(UTC))
    except IntegrityError:
        raise WebhookNameTaken(spec.name) from None


async def delete_policy(project_id: int, policy_id: int) -> None:
    await get_policy(project_id, policy_id)
    await WebhookExecution.filter(policy_id=policy_id).delete()
    await WebhookPolicy.filter(id=policy_id).delete()


async def delete_project_policies(project_id: int) -> None:
    """Remove a deleted project's policies and their delivery history."""
    ids = await WebhookPolicy.filter(project_id=project_id).values_list("id", flat=True)
    await WebhookExecution.filter(policy_id__in=list(ids)).delete()
    await WebhookPolicy.filter(project_id=project_id).delete()


async def get_policy(project_id: int, policy_id: int) -> WebhookPolicy:
    policy = await WebhookPolicy.get_or_none(id=policy_id, project_id=project_id)
    if policy is None:
        raise WebhookPolicyUnknown(policy_id)
    return policy


async def list_policies(
    project_id: int, offset: int, limit: int
) -> tuple[list[WebhookPolicy], int]:
    query = WebhookPolicy.filter(project_id=project_id)
    return await query.order_by("id").offset(offset).limit(limit), await query.count()


async def list_executions(
    project_id: int, policy_id: int, offset: int, limit: int
) -> tuple[list[WebhookExecution], int]:
    """A policy's deliveries, newest first."""
    await get_policy(project_id, policy_id)
    query = WebhookExecution.filter(policy_id=policy_id)
    return await query.order_by("-id").offset(offset).limit(limit), await query.count()


def _fields(spec: PolicySpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "enabled": spec.enabled,
        "event_types": spec.event_types,
        "targets": spec.targets,
    }


# --- events --------------------------------------------------------------------------------


def artifact_event(
    event_type: str,
    repository: str,
    digest: str,
    tag: str | None,
    operator: str,
    public: bool,
    host: str | None = None,
) -> dict[str, Any]:
    """Harbor's default payload for an artifact event."""
    namespace, _, name = repository.partition("/")
    reference = f":{tag}" if tag else f"@{digest}"
    resource: dict[str, Any] = {
        "digest": digest,
        "tag": tag or "",
        "resource_url": f"{host + '/' if host else ''}{repository}{reference}",
    }
    return {
        "type": event_type,
        "occur_at": int(time.time()),
        "operator": operator,
        "event_data": {
            "resources": [resource],
            "repository": {
                "name": name,
                "namespace": namespace,
                "repo_full_name": repository,
                "repo_type": "public" if public else "private",
            },
        },
    }


# --- delivery ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one attempt sends: the policy's targets and secret and the event's payload."""

    execution_id: int
    event_type: str
    payload: dict[str, Any]
    targets: list[dict[str, Any]]
    secret: str


async def delivery(execution_id: int) -> Delivery | None:
    """The delivery of an execution; None when it or its policy is gone (nothing to send)."""
    execution = await WebhookExecution.get_or_none(id=execution_id)
    if execution is None:
        return None
    policy = await WebhookPolicy.get_or_none(id=execution.policy_id)
    if policy is None:
        return None
    return Delivery(
        int(execution.id),
        execution.event_type,
        dict(execution.payload),
        list(policy.targets),
        policy.secret,
    )


def render_body(delivery: Delivery, payload_format: str) -> bytes:
    """The exact bytes POSTed: Harbor's default payload, or a structured CloudEvent."""
    if payload_format != "CloudEvents":
        return json.dumps(delivery.payload, separators=(",", ":")).encode()
    event = {
        "specversion": "1.0",
        # the same id on every retry of this execution, so receivers can de-duplicate
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"berth-webhook-{delivery.execution_id}")),
        "source": f"/projects/{_project_of(delivery.payload)}",
        "type": CLOUDEVENT_TYPES.get(delivery.event_type, delivery.event_type),
        "time": datetime.fromtimestamp(int(delivery.payload["occur_at"]), UTC).isoformat(),
        "datacontenttype": "application/json",
        "operator": delivery.payload.get("operator", ""),
        "data": delivery.payload["event_data"],
    }
    return json.dumps(event, separators=(",", ":")).encode()


def _project_of(payload: dict[str, Any]) -> str:
    """The project an event is about: its repository's, or (REPLICATION) the project of
    this registry's side of the copy."""
    data = payload.get("event_data") or {}
    if "repository" in data:
        return str(data["repository"]["namespace"])
    replication = data.get("replication") or {}
    for side in ("src_resource", "dest_resource"):
        resource = replication.get(side) or {}
        if resource.get("registry_type") == "harbor" and not resource.get("registry_name"):
            return str(resource.get("namespace", ""))
    return ""


def signature(secret: str, body: bytes) -> str:
    """The X-Berth-Signature value: sha256=<hex HMAC-SHA256 of the body under the secret>
    (also GitHub's X-Hub-Signature-256)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, given: str) -> bool:
    """Whether given is the signature of body under secret, compared in constant time."""
    return hmac.compare_digest(signature(secret, body).encode(), given.strip().encode())


async def record_attempt(
    execution_id: int,
    attempt: int,
    status: str,
    code: int | None,
    message: str,
    lines: Sequence[str] = (),
) -> None:
    """Note an attempt's outcome: status pending (will retry), success or failed; lines
    (one per target tried) go to the execution's log, which keeps its first MAX_LOG_CHARS."""
    row = await WebhookExecution.filter(id=execution_id).values_list("log", flat=True)
    log = str(row[0]) if row else ""
    added = "".join(f"{line}\n" for line in lines)
    if len(log) + len(added) > MAX_LOG_CHARS:
        added = "" if len(log) >= MAX_LOG_CHARS else "... (log truncated)\n"
    await WebhookExecution.filter(id=execution_id).update(
        status=status,
        attempts=attempt,
        response_code=code,
        status_message=message[:2000],
        log=log + added,
        updated_at=datetime.now(UTC),
    )


async def is_last_attempt(job_id: int, attempt: int) -> bool:
    """Whether a failure of this attempt is final (the job will not be run again)."""
    job = await Job.get_or_none(id=job_id)
    return job is None or attempt >= job.max_attempts
