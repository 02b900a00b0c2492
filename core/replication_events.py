"""The events of a replication execution that ended: its audit row (with its counts, as its
operator) and Harbor's REPLICATION webhook event for the project webhook policies that want
it — in the transaction that finishes the execution, so an execution never ends without its
events nor sends them for an end that rolled back.

    async with transaction() as tx:
        execution = await replication_runs.end(tx, execution_id)  # None: ended already
        if execution is not None:
            artifacts = await replicated_artifacts(execution, policy, tx)
            await emit_replication_finished(tx, execution, policy, artifacts)

The webhook event is Harbor's (`event_data.replication`): Harbor sends one per task, Berth one
per execution and project, naming every artifact of that project it copied or failed to
(`successful_artifact` / `failed_artifact`). The project is the one on this registry's side:
the source in push mode, the destination in pull mode. Statuses are Harbor's job statuses on
the wire (Success, Error, Stopped), as its receivers expect.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core import audit, webhooks
from core.events import Tx, emit_webhook
from core.replication_runs import FAILED, STOPPED, SUCCEED
from models import Project, RemoteRegistry, ReplicationExecution, ReplicationPolicy, ReplicationTask

# Berth's statuses -> Harbor's job statuses, which its REPLICATION payload carries
JOB_STATUS = {SUCCEED: "Success", FAILED: "Error", STOPPED: "Stopped"}
LOCAL_TYPE = "harbor"  # this registry, as Harbor names its own side


@dataclass(frozen=True, slots=True)
class ReplicatedArtifact:
    """One artifact an execution copied (or deleted, or failed to).

    local: the artifact on this registry ("library/app:v1" or "library/app@sha256:..."), the
    source in push mode, the destination in pull mode; remote: on the other registry.
    status: the task's (Succeed, Failed, Stopped); references: its digest(s)."""

    local: str
    remote: str
    status: str
    resource_type: str = "image"
    references: tuple[str, ...] = ()
    fail_reason: str = ""

    @property
    def project(self) -> str:
        return self.local.split("/", 1)[0] if "/" in self.local else ""


async def replicated_artifacts(
    execution: ReplicationExecution, policy: ReplicationPolicy, tx: Tx | None = None
) -> list[ReplicatedArtifact]:
    """The artifacts of an execution, from its task rows."""
    push = policy.dest_registry_id is not None
    rows = await ReplicationTask.filter(execution_id=execution.id).using_db(tx).order_by("id")
    return [
        ReplicatedArtifact(
            local=row.src_resource if push else row.dst_resource,
            remote=row.dst_resource if push else row.src_resource,
            status=row.status,
            resource_type=row.resource_type,
            references=(row.digest,) if row.digest else (),
            fail_reason=_last_line(row.log) if row.status == FAILED else "",
        )
        for row in rows
    ]


async def emit_replication_finished(
    tx: Tx,
    execution: ReplicationExecution,
    policy: ReplicationPolicy,
    artifacts: Sequence[ReplicatedArtifact],
    host: str | None = None,
) -> int:
    """The ended execution's audit event and, for each project on this registry's side
    whose artifacts it copied, the REPLICATION webhook events of the project's policies that
    want them; the number of webhook executions written. host: this registry's address
    (default: the machine's name)."""
    event = finished_event(execution, policy)
    actor = audit.Actor(execution.operator or audit.SYSTEM)
    await event.row(execution.status != FAILED, actor).save(using_db=tx)
    event.emitted = True
    by_project: dict[str, list[ReplicatedArtifact]] = {}
    for artifact in artifacts:
        if artifact.project:
            by_project.setdefault(artifact.project, []).append(artifact)
    if not by_project:
        return 0
    remote = await _remote(policy, tx)
    created = 0
    for name, found in by_project.items():
        project = await Project.get_or_none(name=name, using_db=tx)
        if project is None:
            continue
        payload = replication_payload(execution, policy, remote, name, found, host)
        created += await emit_webhook(tx, int(project.id), webhooks.REPLICATION, payload)
    return created


def finished_event(execution: ReplicationExecution, policy: ReplicationPolicy) -> audit.Event:
    """The audit event of an execution that ended, with its counts."""
    description = (
        f"{execution.status} ({execution.trigger}) policy {policy.name}: {execution.total}"
        f" tasks, {execution.succeed} succeeded, {execution.failed} failed,"
        f" {execution.stopped} stopped, {execution.bytes} bytes"
    )
    if execution.status_text:
        description += f"; {execution.status_text}"
    resource = execution_resource(int(execution.id), policy.name)
    return audit.Event(audit.UPDATE, audit.REPLICATION, resource, description=description)


def execution_resource(execution_id: int, policy_name: str) -> str:
    """How the audit log names an execution (its start, its stop, its end)."""
    return f"replication execution {execution_id} of {policy_name}"


def replication_payload(
    execution: ReplicationExecution,
    policy: ReplicationPolicy,
    remote: RemoteRegistry | None,
    project: str,
    artifacts: Sequence[ReplicatedArtifact],
    host: str | None = None,
) -> dict[str, Any]:
    """Harbor's REPLICATION payload for one project's artifacts of an execution."""
    hostname = (host or socket.gethostname()).split(":", 1)[0]
    local = {"registry_type": LOCAL_TYPE, "endpoint": host or hostname, "namespace": project}
    other_namespace = next((_namespace(a.remote) for a in artifacts if a.remote), "")
    other = {
        "registry_name": remote.name if remote else "",
        "registry_type": remote.type if remote else "",
        "endpoint": remote.url if remote else "",
        "namespace": other_namespace,
    }
    push = policy.dest_registry_id is not None
    replication: dict[str, Any] = {
        "harbor_hostname": hostname,
        "job_status": JOB_STATUS.get(execution.status, execution.status),
        "description": policy.description,
        "artifact_type": artifacts[0].resource_type if artifacts else "image",
        "authentication_type": remote.credential_type if remote else "",
        "override_mode": policy.override,
        "trigger_type": execution.trigger,
        "policy_creator": policy.creator,
        "execution_timestamp": int(execution.start_time.timestamp()),
        "src_resource": local if push else other,
        "dest_resource": other if push else local,
        "execution_id": int(execution.id),
    }
    succeeded = [_artifact_info(a) for a in artifacts if a.status == SUCCEED]
    failed = [_artifact_info(a) for a in artifacts if a.status != SUCCEED]
    if succeeded:
        replication["successful_artifact"] = succeeded
    if failed:
        replication["failed_artifact"] = failed
    return {
        "type": webhooks.REPLICATION,
        "occur_at": int(time.time()),
        "operator": execution.operator,
        "event_data": {"replication": replication},
    }


def _artifact_info(artifact: ReplicatedArtifact) -> dict[str, Any]:
    """Harbor's ArtifactInfo: the name and tag without the project, the digests."""
    info: dict[str, Any] = {
        "type": artifact.resource_type,
        "status": JOB_STATUS.get(artifact.status, artifact.status),
        "name_tag": artifact.local.split("/", 1)[1] if "/" in artifact.local else artifact.local,
        "references": list(artifact.references),
    }
    if artifact.fail_reason:
        info["fail_reason"] = artifact.fail_reason
    return info


def _namespace(resource: str) -> str:
    return resource.split("/", 1)[0] if "/" in resource else ""


def _last_line(log: str) -> str:
    lines = [line for line in log.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


async def _remote(policy: ReplicationPolicy, tx: Tx) -> RemoteRegistry | None:
    registry_id = policy.dest_registry_id or policy.src_registry_id
    if registry_id is None:
        return None
    return await RemoteRegistry.get_or_none(id=registry_id, using_db=tx)
