"""The copy engine: the `replication` job carries out one execution of a policy.

    plan      which artifacts the run covers: one task row per artifact to copy (or delete),
              written once — a job delivered again, or resumed after its worker died, finds
              them and goes on with those not finished
    carry out TASKS_AT_ONCE tasks at a time; each copies one artifact's tree — children of
              an index first, then config and layers, the manifest last (by its first tag,
              then the other tags), so the destination never holds a manifest whose blobs
              are missing — then the artifact's referrers (signatures, SBOMs), whether they
              hang on it by `subject` or by the `sha256-<hex>.sig` tag scheme
    finish    the execution's status from its tasks, its audit event and REPLICATION webhooks

Every step is idempotent: what the destination has (the same digest under the tag, a blob
of the right size) is skipped, so a repeated task costs a few HEADs. A blob the
destination lacks is mounted from a repository there that this execution already gave it,
else streamed (core.remote.RemoteClient.write_blob: chunked with resume when large or
asked, `speed` KiB/s per task). A task that fails for a reason that may pass (the remote
unavailable, a cut connection) is tried again with backoff; one that cannot pass (wrong
credentials, the source artifact gone) fails at once with the reason in its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from core import (
    audit,
    events,
    mediatypes,
    replication_events,
    replication_runs,
    replication_triggers,
)
from core.digests import is_digest
from core.errors import ManifestBlobUnknown, ManifestInvalid
from core.jobs import ClaimedJob
from core.manifests import ParsedManifest, parse_manifest
from core.registries import endpoint
from core.remote import (
    BlobSource,
    RemoteClient,
    RemoteError,
    RemoteManifest,
    RemoteNotFound,
    RemoteStopped,
    RemoteUnauthorized,
    RemoteUnavailable,
)
from core.replication_local import LocalRegistry
from core.replication_platforms import SparseRefused, left_out
from core.replication_rules import Rules
from core.service import Registry
from models import RemoteRegistry, ReplicationExecution, ReplicationPolicy, ReplicationTask
from models.errors import BerthError, InvalidInput
from pipelines import PipelineContext, pipeline
from services.replication import start_triggered

log = logging.getLogger("berth.replication")

TASKS_AT_ONCE = 8
BLOBS_AT_ONCE = 4
TASK_ATTEMPTS = 3
TASK_BACKOFF = 2.0  # seconds, doubled per attempt
PROGRESS_EVERY = 0.5  # seconds between count refreshes while tasks finish
STOP_POLL = 1.0
REFERRER_DEPTH = 3  # a signature of a signature of an SBOM...
CHUNK = 16 << 20  # copy_by_chunk's chunk size
# the tag scheme of accessories: sha256-<hex> (the referrers fallback index) and
# sha256-<hex>.sig / .att / .sbom (cosign's signatures, attestations, SBOMs)
ACCESSORY_TAG = re.compile(r"^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})(\.[a-z]+)?$")


class Side(Protocol):
    """One end of a replication: core.remote.RemoteClient or core.replication_local."""

    async def catalog(self) -> list[str]: ...
    async def tags(self, repository: str) -> list[str]: ...
    async def get_manifest(self, repository: str, reference: str) -> RemoteManifest: ...
    async def head_manifest(self, repository: str, reference: str) -> str | None: ...
    async def put_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str
    ) -> str: ...
    async def delete_manifest(self, repository: str, digest: str) -> bool: ...
    async def blob_size(self, repository: str, digest: str) -> int | None: ...
    async def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool: ...
    def read_blob(self, repository: str, digest: str, offset: int = 0) -> AsyncIterator[bytes]: ...
    async def write_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        source: BlobSource,
        *,
        chunk_size: int | None = None,
        speed: int = 0,
        should_stop: Callable[[], bool] | None = None,
    ) -> int: ...
    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]: ...
    async def has_referrers_api(self, repository: str, digest: str) -> bool: ...
    async def ensure_project(
        self, name: str, *, sparse: bool = False, make_sparse: bool = False
    ) -> None: ...
    async def aclose(self) -> None: ...


@dataclass(slots=True)
class Item:
    """What one task does: copy the artifact `digest` (with `tags`) from src_repo to
    dst_repo, or delete it (or one tag) there."""

    operation: str
    src_repo: str
    dst_repo: str
    digest: str
    tags: list[str] = field(default_factory=list)
    resource_type: str = "image"
    error: str = ""  # why it cannot be done (its task fails with this, the others go on)

    def resources(self) -> tuple[str, str]:
        if self.tags:
            shown = ",".join(self.tags)
            return f"{self.src_repo}:[{shown}]", f"{self.dst_repo}:[{shown}]"
        return f"{self.src_repo}@{self.digest}", f"{self.dst_repo}@{self.digest}"


class Skip(Exception):
    """The task has nothing to do, for the reason given (not a failure)."""


@pipeline("replication")
async def run_execution(job: ClaimedJob, context: PipelineContext) -> None:
    """Plan, carry out and finish one execution (args: execution_id). Safe to run again."""
    execution_id = int(job.args["execution_id"])
    execution = await ReplicationExecution.get_or_none(id=execution_id)
    if execution is None or execution.status in replication_runs.FINAL:
        return
    policy = await ReplicationPolicy.get_or_none(id=execution.policy_id)
    if policy is None:
        await replication_runs.fail(execution_id, "the policy was deleted")
        return
    audit.begin_request(None, "berth-replication")
    audit.identify(execution.operator or f"replication:{policy.name}")
    failure = ""
    try:
        async with _sides(policy, context.registry) as (source, destination, destination_type):
            run = Run(execution, policy, source, destination, destination_type)
            await run.plan()
            await run.carry_out()
    except BerthError as exc:  # the remote, the policy or a stored secret says no
        failure = f"{type(exc).__name__}: {exc}"
    await _end(execution_id, policy, failure)


async def _end(execution_id: int, policy: ReplicationPolicy, failure: str = "") -> None:
    """The final status, the audit event and REPLICATION webhooks, in one transaction, by
    whoever ends the execution (once)."""
    async with events.transaction() as tx:
        execution = await replication_runs.end(tx, execution_id, failure)
        if execution is None:
            return
        artifacts = await replication_events.replicated_artifacts(execution, policy, tx)
        await replication_events.emit_replication_finished(tx, execution, policy, artifacts)
    log.info(
        "replication finished",
        extra={
            "execution": execution_id,
            "policy": policy.name,
            "status": execution.status,
            "tasks": execution.total,
            "failed": execution.failed,
            "bytes": execution.bytes,
            "why": failure,
        },
    )


class SideUnknown(RemoteError):
    """The policy names a registry that no longer exists."""


@contextlib.asynccontextmanager
async def _sides(
    policy: ReplicationPolicy, registry: Registry
) -> AsyncIterator[tuple[Side, Side, str]]:
    """(source, destination, the destination's type) of the policy: this Berth on one side,
    the remote on the other."""
    remote_id = policy.dest_registry_id or policy.src_registry_id
    row = await RemoteRegistry.get_or_none(id=remote_id) if remote_id else None
    if row is None:
        raise SideUnknown(f"registry {remote_id} of policy {policy.name!r} not found", None, "")
    reached = endpoint(row, registry.sealed())
    local = LocalRegistry(registry, audit.current_actor().username)
    remote = RemoteClient(reached, log=lambda line: _remote_said(row.name, line))
    try:
        if policy.dest_registry_id:
            yield local, _Remote(remote, row.type), row.type
        else:
            yield _Remote(remote, row.type), local, "harbor"
    finally:
        await remote.aclose()


# the log of the task being carried out in this asyncio task: what the remote client says
# (a retry, a Retry-After wait) goes into it
_task_log: contextvars.ContextVar[_Log | None] = contextvars.ContextVar("task_log", default=None)


def _remote_said(registry: str, line: str) -> None:
    note = _task_log.get()
    if note is not None:
        note(line)
    log.info(line, extra={"registry": registry})


class _Remote:
    """The remote side: the client, plus what only a Harbor-type registry needs (its
    projects exist before anything is pushed into them)."""

    def __init__(self, client: RemoteClient, kind: str) -> None:
        self._client = client
        self._harbor = kind == "harbor"
        self._projects: dict[str, bool] = {}  # name -> known to take sparse indexes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def ensure_project(
        self, name: str, *, sparse: bool = False, make_sparse: bool = False
    ) -> None:
        """The project there (core.remote.RemoteClient.ensure_project), once per run. Any
        other registry has no projects, and says whether it takes a sparse index when one
        is pushed."""
        if not self._harbor or self._projects.get(name, False):
            return
        if name in self._projects and not sparse:
            return
        await self._client.ensure_project(name, sparse=sparse, make_sparse=make_sparse)
        self._projects[name] = sparse


class Run:
    """One execution being carried out."""

    def __init__(
        self,
        execution: ReplicationExecution,
        policy: ReplicationPolicy,
        source: Side,
        destination: Side,
        destination_type: str,
    ) -> None:
        self.execution = execution
        self.policy = policy
        self.rules = Rules.of(policy, destination_type)
        self.source = source
        self.destination = destination
        self.destination_type = destination_type
        self.placed: dict[str, str] = {}  # blob digest -> a destination repository holding it
        self.stopping = False
        self._counted = 0.0

    async def wants_sparse(self, repository: str) -> bool:
        """Whether a destination project made for what comes from this source repository
        is made to take sparse indexes: with a platform filter, or from a project of this
        Berth whose indexes may be sparse (so one made for a plain image first is made so)."""
        if self.rules.platforms:
            return True
        if isinstance(self.source, LocalRegistry):
            return await self.source.takes_sparse(repository)
        return False

    # -- planning -----------------------------------------------------------------------

    async def plan(self) -> None:
        """The task rows, once: a resumed execution keeps the ones it has."""
        if await ReplicationTask.filter(execution_id=self.execution.id).exists():
            return
        items = await self._select()
        await ReplicationTask.bulk_create(
            [
                ReplicationTask(
                    execution_id=self.execution.id,
                    resource_type=item.resource_type,
                    src_resource=item.resources()[0][:1024],
                    dst_resource=item.resources()[1][:1024],
                    operation=item.operation,
                    digest=item.digest,
                    job_id=self.execution.job_id,
                    status=replication_runs.FAILED if item.error else replication_runs.PENDING,
                    log=f"failed: {item.error}\n" if item.error else "",
                    spec=_item_args(item),
                )
                for item in items
            ]
        )
        await replication_runs.refresh_counts(int(self.execution.id))

    async def _select(self) -> list[Item]:
        scope = self.execution.scope or {}
        if "events" in scope:
            return await self._from_events(scope["events"])
        repository = scope.get("repository")
        if repository:
            if not self.rules.repository_matches(repository):
                return []
            return await self._repository_items(repository, scope.get("reference"))
        items: list[Item] = []
        for name in await self.source.catalog():
            if self.rules.repository_matches(name):
                items.extend(await self._repository_items(name, None))
        return items

    async def _repository_items(
        self, repository: str, reference: str | None, untagged: bool = True
    ) -> list[Item]:
        """One item per artifact of the repository that the tag filter selects (every tag
        of it that matches), with the accessory tags of each selected artifact."""
        tagged = await self._tag_digests(repository)
        if reference and is_digest(reference):
            tagged = {
                t: d for t, d in tagged.items() if d == reference or _accessory_of(t, reference)
            }
            if reference not in tagged.values():
                wanted = untagged or await self._is_referrer(repository, reference)
                return [self._item(repository, reference, [])] if wanted else []
        elif reference:
            if reference not in tagged:
                return []
            digest = tagged[reference]
            tagged = {t: d for t, d in tagged.items() if t == reference or _accessory_of(t, digest)}
        by_digest: dict[str, list[str]] = {}
        accessories: dict[str, list[str]] = {}
        for tag, digest in sorted(tagged.items()):
            if ACCESSORY_TAG.match(tag):
                accessories.setdefault(digest, []).append(tag)
            else:
                by_digest.setdefault(digest, []).append(tag)
        items = []
        for digest, tags in by_digest.items():
            chosen = _tags_kept(self.rules, tags)
            if chosen:
                items.append(self._item(repository, digest, chosen))
        chosen_digests = {item.digest for item in items}
        for digest, tags in accessories.items():
            # an accessory follows its subject: sha256-<hex>.sig belongs to sha256:<hex>
            if any(_accessory_of(t, d) for t in tags for d in chosen_digests):
                items.append(self._item(repository, digest, tags))
        return items

    async def _is_referrer(self, repository: str, digest: str) -> bool:
        try:
            manifest = await self.source.get_manifest(repository, digest)
        except RemoteNotFound:
            return False
        return _parsed(manifest).subject is not None

    async def _tag_digests(self, repository: str) -> dict[str, str]:
        """Tag -> digest at the source: one query on this Berth, one tags/list and a HEAD
        per tag (TASKS_AT_ONCE at a time) on a remote."""
        if isinstance(self.source, LocalRegistry):
            return await self.source.tag_digests(repository)
        tags = await self.source.tags(repository)
        gate = asyncio.Semaphore(TASKS_AT_ONCE)

        async def head(tag: str) -> tuple[str, str | None]:
            async with gate:
                return tag, await self.source.head_manifest(repository, tag)

        found = await asyncio.gather(*(head(t) for t in tags))
        return {tag: digest for tag, digest in found if digest}

    def _item(self, repository: str, digest: str, tags: list[str]) -> Item:
        try:
            return Item("copy", repository, self.rules.destination(repository), digest, tags)
        except InvalidInput as exc:  # a name the destination cannot take
            return Item("copy", repository, "", digest, tags, error=str(exc))

    async def _from_events(self, happened: list[dict[str, Any]]) -> list[Item]:
        """Event-based: the artifacts the events name, with their tags as they are now (a
        push of a second tag while the first is being copied is not lost)."""
        items: list[Item] = []
        for event in happened:
            repository = str(event.get("repository", ""))
            if not self.rules.repository_matches(repository):
                continue
            digest = str(event.get("digest", ""))
            tag = event.get("tag")
            if event.get("operation") == "delete":
                if not self.policy.replicate_deletion:
                    continue
                if tag and not _tags_kept(self.rules, [tag]):
                    continue
                gone = self._item(repository, digest, [tag] if tag else [])
                gone.operation = "deletion"
                items.append(gone)
                continue
            # pushed by digest: copied only as a referrer (a signature, an SBOM); an index's
            # children come with the index, an untagged image is not the policy's
            items.extend(await self._repository_items(repository, digest or tag, untagged=False))
        return items

    # -- carrying out ------------------------------------------------------------------------

    async def carry_out(self) -> None:
        pending = await ReplicationTask.filter(
            execution_id=self.execution.id,
            status__in=[replication_runs.PENDING, replication_runs.IN_PROGRESS],
        ).order_by("id")
        self.stopping = await replication_runs.stop_requested(int(self.execution.id))
        watcher = asyncio.create_task(self._watch_stop())
        gate = asyncio.Semaphore(TASKS_AT_ONCE)
        try:

            async def one(task: ReplicationTask) -> None:
                async with gate:
                    await self._run_task(task)

            await asyncio.gather(*(one(t) for t in pending))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _watch_stop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(STOP_POLL)
            self.stopping = await replication_runs.stop_requested(int(self.execution.id))

    async def _run_task(self, task: ReplicationTask) -> None:
        if self.stopping:
            await self._end(task, replication_runs.STOPPED, ["stopped before it began"], 0)
            return
        item = _item_of(task)
        lines: list[str] = []
        note = _Log(lines)
        _task_log.set(note)
        await ReplicationTask.filter(id=task.id).update(
            status=replication_runs.IN_PROGRESS, start_time=datetime.now(UTC)
        )
        copier = Copier(self, item, note, int(task.id))
        status = replication_runs.FAILED
        for attempt in range(1, TASK_ATTEMPTS + 1):
            try:
                if item.operation == "deletion":
                    await copier.delete()
                else:
                    await copier.copy()
                status = replication_runs.SUCCEED
                break
            except Skip as why:
                note(f"skipped: {why}")
                status = replication_runs.SUCCEED
                break
            except RemoteStopped:
                note("stopped")
                status = replication_runs.STOPPED
                break
            except (RemoteUnauthorized, RemoteNotFound, InvalidInput) as exc:
                note(f"failed: {exc}")  # will not pass by trying again
                break
            except (RemoteError, OSError) as exc:
                note(f"attempt {attempt} of {TASK_ATTEMPTS} failed: {exc}")
                if attempt == TASK_ATTEMPTS or self.stopping:
                    break
                await asyncio.sleep(TASK_BACKOFF * 2 ** (attempt - 1))
            except Exception as exc:  # a defect: logged, and the task fails with it
                log.exception("replication task crashed", extra={"task": task.id})
                note(f"failed: {type(exc).__name__}: {exc}")
                break
        await self._end(task, status, lines, copier.sent, attempt_count=attempt)

    async def _end(
        self,
        task: ReplicationTask,
        status: str,
        lines: list[str],
        sent: int,
        attempt_count: int = 0,
    ) -> None:
        body = "\n".join(lines) + ("\n" if lines else "")
        await ReplicationTask.filter(id=task.id).update(
            status=status,
            end_time=datetime.now(UTC),
            bytes=sent,
            attempts=attempt_count,
            log=body[-65536:],
        )
        now = time.monotonic()
        if now - self._counted >= PROGRESS_EVERY:
            self._counted = now
            await replication_runs.refresh_counts(int(self.execution.id))


class _Log:
    """A task's log: timestamped lines, kept until the task ends."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __call__(self, line: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
        self.lines.append(f"{stamp} {line}")


class Copier:
    """Copies (or deletes) one item's artifact tree."""

    def __init__(self, run: Run, item: Item, note: _Log, task_id: int) -> None:
        self.run = run
        self.item = item
        self.note = note
        self.task_id = task_id
        self.sent = 0
        self.moving = 0  # bytes read from the source so far, for live progress
        self._shown = time.monotonic()
        self._blobs = asyncio.Semaphore(BLOBS_AT_ONCE)

    @property
    def source(self) -> Side:
        return self.run.source

    @property
    def destination(self) -> Side:
        return self.run.destination

    async def copy(self) -> None:
        item, policy = self.item, self.run.policy
        self.note(f"copying {item.resources()[0]} to {item.resources()[1]}")
        manifest = await self.source.get_manifest(item.src_repo, item.digest)
        parsed = _parsed(manifest)
        image = parsed.media_type in mediatypes.IMAGE_MANIFESTS and parsed.blobs
        config_type = parsed.blobs[0].media_type if image else ""
        artifact_type = parsed.artifact_type or ""
        if not self.run.rules.resource_matches(parsed.media_type, artifact_type, config_type):
            raise Skip(f"{manifest.media_type} is not a resource the policy copies")
        # the platform filter says now whether the copy will be sparse; a child the source
        # lacks is found only when the tree is copied (no HEADs when nothing is to be done)
        await self.destination.ensure_project(
            item.dst_repo.split("/", 1)[0],
            sparse=bool(left_out(manifest.body, self.run.rules.platforms)),
            make_sparse=await self.run.wants_sparse(item.src_repo),
        )
        tags = []
        for tag in item.tags:
            there = await self.destination.head_manifest(item.dst_repo, tag)
            if there == manifest.digest:
                self.note(f"{item.dst_repo}:{tag} is {manifest.digest} already")
            elif there is not None and not policy.override:
                self.note(
                    f"warning: {item.dst_repo}:{tag} is {there} there and override is off:"
                    " the tag is left as it is"
                )
            else:
                tags.append(tag)
        if item.tags and not tags:
            if await self.destination.head_manifest(item.dst_repo, manifest.digest):
                raise Skip("the destination has every tag already")
            if not policy.override:
                raise Skip("every tag differs at the destination and override is off")
        await self._tree(manifest, tags[0] if tags else None, depth=0)
        for tag in tags[1:]:
            await self.destination.put_manifest(
                item.dst_repo, tag, manifest.body, manifest.media_type
            )
        if tags:
            self.note(f"tagged {', '.join(tags)}")
        await self._referrers(manifest.digest, depth=0)
        self.note(f"done: {self.sent} bytes sent")

    async def _tree(self, manifest: RemoteManifest, reference: str | None, depth: int) -> None:
        """Children, then blobs, then the manifest itself (by reference, else by digest).
        The children left out (_left_out) are not copied: the index's bytes go unchanged,
        a sparse index at the destination, whose project must take one."""
        item = self.item
        present = await self.destination.head_manifest(item.dst_repo, manifest.digest)
        dropped: dict[str, str] = {}
        if present is None:
            parsed = _parsed(manifest)
            dropped = await self._left_out(manifest, parsed)
            if dropped:
                project = item.dst_repo.split("/", 1)[0]
                await self.destination.ensure_project(project, sparse=True)
            for child in parsed.children:
                if child.digest in dropped:
                    self.note(f"child {child.digest} left out: {dropped[child.digest]}")
                    continue
                if await self.destination.head_manifest(item.dst_repo, child.digest):
                    continue
                sub = await self.source.get_manifest(item.src_repo, child.digest)
                await self._tree(sub, None, depth + 1)
            # config and layers; non-distributable (foreign) layers stay where they are
            await asyncio.gather(*(self._blob(b.digest, b.size) for b in parsed.blobs))
        if present is None or reference is not None:
            await self._put(manifest, reference or manifest.digest, dropped)
        self.note(f"manifest {manifest.digest} in place")

    async def _left_out(self, manifest: RemoteManifest, parsed: ParsedManifest) -> dict[str, str]:
        """The children of an index this copy leaves out, each with why: those the platform
        filter does not keep, and those the source lacks (its index is sparse itself)."""
        if not parsed.children:
            return {}
        dropped = left_out(manifest.body, self.run.rules.platforms)
        for child in parsed.children:
            if child.digest not in dropped and not await self.source.head_manifest(
                self.item.src_repo, child.digest
            ):
                dropped[child.digest] = "the source does not have it"
        return dropped

    async def _put(self, manifest: RemoteManifest, reference: str, dropped: dict[str, str]) -> None:
        """The manifest at the destination; a sparse index it refuses fails the task at once,
        saying so (Distribution, for one, checks that every child is there)."""
        item = self.item
        try:
            await self.destination.put_manifest(
                item.dst_repo, reference, manifest.body, manifest.media_type
            )
        except (RemoteUnauthorized, RemoteUnavailable):
            raise
        except (RemoteError, ManifestBlobUnknown) as exc:
            if not dropped:
                raise
            raise SparseRefused(
                f"the destination ({self.run.destination_type}) refused the index"
                f" {manifest.digest}, which names {len(dropped)} child(ren) this copy leaves"
                f" out, so it would be a sparse index there: {exc}"
            ) from exc

    async def _blob(self, digest: str, size: int) -> None:
        item, run = self.item, self.run
        async with self._blobs:
            if await self.destination.blob_size(item.dst_repo, digest) is not None:
                run.placed.setdefault(digest, item.dst_repo)
                return
            elsewhere = run.placed.get(digest)
            if (
                elsewhere
                and elsewhere != item.dst_repo
                and await self.destination.mount_blob(item.dst_repo, digest, elsewhere)
            ):
                self.note(f"blob {digest} mounted from {elsewhere}")
                return
            speed = max(run.policy.speed, 0)
            chunk = CHUNK if run.policy.copy_by_chunk else None
            started = time.monotonic()

            def source(offset: int) -> AsyncIterator[bytes]:
                return self._counted(self.source.read_blob(item.src_repo, digest, offset))

            sent = await self.destination.write_blob(
                item.dst_repo, digest, size, source, chunk_size=chunk, speed=speed,
                should_stop=lambda: run.stopping,
            )  # fmt: skip
            self.sent += sent
            run.placed[digest] = item.dst_repo
            took = time.monotonic() - started
            self.note(f"blob {digest} copied: {size} bytes in {took:.1f} s")

    async def _counted(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The stream, its bytes counted into the task's live progress (written about every
        PROGRESS_EVERY seconds, so a long transfer shows its bytes while it runs)."""
        async for chunk in stream:
            self.moving += len(chunk)
            if time.monotonic() - self._shown >= PROGRESS_EVERY * 4:
                self._shown = time.monotonic()
                await ReplicationTask.filter(id=self.task_id).update(bytes=self.moving)
                await replication_runs.refresh_counts(int(self.run.execution.id))
            yield chunk

    async def _referrers(self, digest: str, depth: int) -> None:
        """The artifacts whose subject is digest, and theirs, to REFERRER_DEPTH; at a
        destination without the referrers API, also the fallback tag sha256-<hex> (an index
        of them) by which clients find them there."""
        if depth >= REFERRER_DEPTH:
            return
        item = self.item
        try:
            found = await self.source.referrers(item.src_repo, digest)
        except RemoteNotFound:
            return
        copied = []
        for descriptor in found:
            referrer = str(descriptor.get("digest", ""))
            if not referrer:
                continue
            manifest = await self.source.get_manifest(item.src_repo, referrer)
            await self._tree(manifest, None, depth + 1)
            copied.append(descriptor)
            self.note(f"referrer {referrer} ({descriptor.get('artifactType', '')}) copied")
            await self._referrers(referrer, depth + 1)
        if copied and not await self.destination.has_referrers_api(item.dst_repo, digest):
            await self._fallback_index(digest, copied)

    async def _fallback_index(self, subject: str, descriptors: list[dict[str, Any]]) -> None:
        """The referrers tag scheme (OCI distribution spec, "Referrers Tag Schema"): tag
        <alg>-<hex> of the subject names an index of its referrers; merged with what the
        destination's index lists already, and written only when it changes."""
        item = self.item
        tag = subject.replace(":", "-", 1)
        listed: list[dict[str, Any]] = []
        try:
            present = await self.destination.get_manifest(item.dst_repo, tag)
            listed = [m for m in _document(present).get("manifests", []) if isinstance(m, dict)]
        except RemoteNotFound:
            pass
        known = {str(m.get("digest")) for m in listed}
        added = [d for d in descriptors if str(d.get("digest")) not in known]
        if not added:
            return
        index = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_INDEX,
            "manifests": listed + [_referrer_descriptor(d) for d in added],
        }
        body = json.dumps(index, separators=(",", ":")).encode()
        await self.destination.put_manifest(item.dst_repo, tag, body, mediatypes.OCI_INDEX)
        self.note(f"fallback tag {tag} lists {len(listed) + len(added)} referrer(s)")

    async def delete(self) -> None:
        item = self.item
        if item.tags:
            for tag in item.tags:
                there = await self.destination.head_manifest(item.dst_repo, tag)
                if there is None:
                    self.note(f"{item.dst_repo}:{tag} is not there: nothing to delete")
                    continue
                await self.destination.delete_manifest(item.dst_repo, tag)
                self.note(f"deleted {item.dst_repo}:{tag}")
            return
        if not await self.destination.delete_manifest(item.dst_repo, item.digest):
            self.note(f"{item.dst_repo}@{item.digest} is not there: nothing to delete")
            return
        self.note(f"deleted {item.dst_repo}@{item.digest}")


def _parsed(manifest: RemoteManifest) -> ParsedManifest:
    """The source's manifest read as a push of it would be (core.manifests): ManifestInvalid
    for one no registry would take, which fails its task at once."""
    return parse_manifest(manifest.body, manifest.media_type)


def _document(manifest: RemoteManifest) -> dict[str, Any]:
    """A fallback index as JSON, its descriptors whole (annotations kept)."""
    try:
        document = json.loads(manifest.body)
    except ValueError:
        raise ManifestInvalid(f"{manifest.digest} is not JSON") from None
    if not isinstance(document, dict):
        raise ManifestInvalid(f"{manifest.digest} is not a JSON object")
    return document


def _referrer_descriptor(descriptor: dict[str, Any]) -> dict[str, Any]:
    keep = ("mediaType", "digest", "size", "artifactType", "annotations")
    return {k: descriptor[k] for k in keep if descriptor.get(k) not in (None, "", {})}


def _tags_kept(rules: Rules, tags: list[str]) -> list[str]:
    kept = rules.tag_matches(tags)
    return kept if isinstance(kept, list) else []


def _accessory_of(tag: str, digest: str) -> bool:
    """Whether tag is an accessory tag of digest (sha256-<hex>[.sig|.att|.sbom])."""
    found = ACCESSORY_TAG.match(tag)
    return bool(found) and f"{found.group(1)}:{found.group(2)}" == digest  # type: ignore[union-attr]


def _item_args(item: Item) -> dict[str, Any]:
    return {
        "src": item.src_repo,
        "dst": item.dst_repo,
        "digest": item.digest,
        "tags": item.tags,
    }


def _item_of(task: ReplicationTask) -> Item:
    args = task.spec or {}
    return Item(
        task.operation,
        str(args.get("src", "")),
        str(args.get("dst", "")),
        str(args.get("digest", task.digest)),
        [str(t) for t in args.get("tags", [])],
        task.resource_type,
    )


@pipeline(replication_triggers.EVENT_JOB)
async def start_for_events(job: ClaimedJob, context: PipelineContext) -> None:
    """One execution per enabled event-based push-mode policy whose filters match some of
    the events (args: events, operator). The job's id is each execution's delivery id, so a
    job delivered twice starts nothing more."""
    happened = [e for e in job.args.get("events", []) if isinstance(e, dict)]
    operator = str(job.args.get("operator") or audit.SYSTEM)
    for policy in await ReplicationPolicy.filter(enabled=True, dest_registry_id__isnull=False):
        if (policy.trigger or {}).get("type") != replication_runs.EVENT_BASED:
            continue
        rules = Rules.of(policy)
        wanted = [
            e
            for e in happened
            if rules.repository_matches(str(e.get("repository", "")))
            and (e.get("operation") != replication_triggers.DELETE or policy.replicate_deletion)
        ]
        if wanted:
            await start_triggered(
                policy,
                replication_runs.EVENT_BASED,
                operator,
                {"events": wanted},
                f"event-{job.id}",
            )


@pipeline(replication_triggers.SCHEDULE_JOB)
async def start_on_schedule(job: ClaimedJob, context: PipelineContext) -> None:
    """A scheduled policy's fire (args: policy_id): one execution, unless the policy is gone,
    disabled, or allows one at a time and one is running (logged, nothing started)."""
    policy = await ReplicationPolicy.get_or_none(id=int(job.args["policy_id"]))
    if policy is None or not policy.enabled:
        return
    try:
        await start_triggered(
            policy, replication_runs.SCHEDULED, audit.SYSTEM, None, f"schedule-{job.id}"
        )
    except replication_runs.ExecutionRunning as exc:
        log.info("scheduled replication skipped", extra={"policy": policy.name, "why": str(exc)})
