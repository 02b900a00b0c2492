"""Signatures after a push, and again after a project's keys change.

The push step evaluates what the push may have changed — the pushed artifact and, for a
signature, the artifact it signs — and, where the project signs on push, signs the pushed
artifact with the project's key. It runs after the push was answered: signing never
slows a push. The `signatures-evaluate` job evaluates every artifact of a project whose
trust a key change made pending, with progress."""

from __future__ import annotations

from core import audit, project_settings, signatures, signing
from core.jobs import ClaimedJob
from models import Signature, fetch
from pipelines import PipelineContext, pipeline
from pipelines.push import push_step
from signer.verdicts import VERIFIED

_PUSHED = (
    "SELECT r.id, r.project_id, m.subject_digest FROM manifest_digest d"
    " JOIN manifest m ON m.id = d.manifest_id JOIN repository r ON r.id = d.repository_id"
    " WHERE r.name = ? AND d.digest = ?"
)
_PENDING = (
    "SELECT m.repository_id, m.digest, m.id FROM manifest m"
    " JOIN repository r ON r.id = m.repository_id"
    " WHERE r.project_id = ? AND m.trust = 'pending' AND m.id > ? ORDER BY m.id LIMIT 200"
)
_COUNT_PENDING = (
    "SELECT COUNT(*) FROM manifest m JOIN repository r ON r.id = m.repository_id"
    " WHERE r.project_id = ? AND m.trust = 'pending'"
)


@push_step(20)
async def signatures_after_push(job: ClaimedJob, context: PipelineContext) -> None:
    """Evaluate the pushed artifact and what it signs; sign it when the project says so."""
    repository, digest = str(job.args["repository"]), str(job.args["digest"])
    rows = await fetch(_PUSHED, repository, digest)
    if not rows:
        return  # deleted since the push
    repo_id, project_id, subject = int(rows[0][0]), int(rows[0][1]), rows[0][2]  # type: ignore[call-overload]
    reference = str(job.args.get("reference", ""))
    blobs = context.registry.blobs
    signed = signatures.signed_subject(reference, str(subject) if subject else None)
    if signed:
        await signatures.evaluate(blobs, repo_id, signed)
        await _audit_failures(repository, project_id, repo_id, signed, digest)
    if signed or not await _wanted(project_id):
        return  # an artifact no one asks about yet stays pending: evaluated when asked
    trust = await signatures.evaluate(blobs, repo_id, digest)
    if trust.state == signatures.EXEMPT:
        return
    if await project_settings.switched_on(project_id, project_settings.SIGN_ON_PUSH):
        host = str(job.args.get("host", ""))
        identity = signing.identity_of(host, repository, reference)
        await signing.sign(context.registry, repository, digest, identity)


async def _wanted(project_id: int) -> bool:
    """Whether the project signs on push or enforces signatures."""
    settings = await project_settings.settings_of(project_id)
    switches = (project_settings.SIGN_ON_PUSH, project_settings.ENFORCE_COSIGN)
    return any(settings.get(name) == "true" for name in switches)


@pipeline("signatures-evaluate")
async def evaluate_project(job: ClaimedJob, context: PipelineContext) -> None:
    """Evaluate every pending artifact of a project (args: project_id), in id order."""
    project_id = int(job.args["project_id"])
    total = int((await fetch(_COUNT_PENDING, project_id))[0][0]) or 1  # type: ignore[call-overload]
    done, last = 0, 0
    while rows := await fetch(_PENDING, project_id, last):
        for repo_id, digest, manifest_id in rows:
            await signatures.evaluate(context.registry.blobs, int(repo_id), str(digest))  # type: ignore[call-overload]
            last = int(manifest_id)  # type: ignore[call-overload]
            done += 1
        await context.queue.progress(job.id, min(done / total, 1.0))


async def _audit_failures(
    repository: str, project_id: int, repo_id: int, subject: str, signature: str
) -> None:
    """A signature pushed that does not verify is audited, with why."""
    failed = await Signature.filter(
        repository_id=repo_id, subject_digest=subject, signature_digest=signature
    ).exclude(status=VERIFIED)
    for row in failed:
        event = audit.Event(audit.CREATE, audit.SIGNATURE, f"{repository}@{subject}")
        event.project = repository.split("/", 1)[0]
        event.project_id = project_id
        event.description = f"{row.format} signature {signature} ({row.status})"
        await audit.record(event, success=False, reason=row.reason)
