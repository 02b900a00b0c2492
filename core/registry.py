"""Manifests, tags and referrers of a repository."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from core import (
    audit,
    content_trust,
    events,
    immutability,
    manifest_digests,
    project_settings,
    quotas,
    signatures,
)
from core.artifacts import delete_artifact
from core.blobs import LIVE, now_ms
from core.digests import digest_of, is_digest, parse_digest
from core.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
)
from core.jobs import enqueue
from core.manifests import ParsedManifest, parse_manifest
from core.names import push_tags, validate_tag
from core.projects import existing_repository, project_for_push, repository_for_push
from models import (
    Blob,
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    Tag,
    execute,
    fetch,
)
from models.errors import BerthError


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes
    # for the signature check of the pull path (core.signatures): the kept trust, and
    # whether the project serves only verified artifacts (enable_content_trust_cosign)
    repository_id: int = 0
    trust: str = "pending"
    trust_reason: str = ""
    enforced: bool = False
    # Docker Content Trust (enable_content_trust): None when the project does not enforce
    # it, else whether its trust data signs what is served (core.content_trust)
    notary_signed: bool | None = None


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    subject: str | None
    tags: tuple[str, ...] = ()  # what the `tag` parameters set (the OCI-Tag answer)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    more: bool


# The pull path's reads, one round trip each, with what the signature checks need: the
# cosign trust and its switch, and, when the project enforces Docker Content Trust, whether
# its trust data signs what is served (by tag: that tag with this digest; by digest: some
# tag with it, or with an index naming it). Their one placeholder before the WHERE's is the
# clock (epoch seconds).
_PULLED = (
    "SELECT m.digest, m.media_type, m.content, r.id, m.trust, m.trust_reason,"
    " (SELECT pm.value FROM project_metadata pm WHERE pm.project_id = r.project_id"
    " AND pm.name = 'enable_content_trust_cosign'),"
    " CASE WHEN (SELECT pm.value FROM project_metadata pm WHERE pm.project_id = r.project_id"
    " AND pm.name = 'enable_content_trust') = 'true' THEN {signed} END"
)
_DIGESTS_OF_M = manifest_digests.DIGESTS_OF.format(manifest="m.id")
_MANIFEST_BY_TAG = (
    _PULLED.format(
        signed=content_trust.SIGNED_TAG.format(
            repository="r.name", tag="t.name", digest=_DIGESTS_OF_M, now="?"
        )
    )
    + " FROM tag t"
    " JOIN repository r ON r.id = t.repository_id JOIN manifest m ON m.id = t.manifest_id"
    " WHERE r.name = ? AND t.name = ?"
)
_MANIFEST_BY_DIGEST = (
    _PULLED.format(
        signed=content_trust.SIGNED_DIGEST.format(repository="r.name", digest="d.digest", now="?")
    )
    + " FROM manifest_digest d JOIN manifest m ON m.id = d.manifest_id"
    " JOIN repository r ON r.id = d.repository_id WHERE r.name = ? AND d.digest = ?"
)


_LINKED_SIZES = (
    "SELECT l.digest, b.size FROM repository_blob l JOIN blob b"
    " ON b.digest = l.digest AND b.status IN ('none', 'delete')"
    " WHERE l.repository_id = ? AND l.digest IN ({marks})"
)
_LOCK_BLOBS = "SELECT id FROM blob WHERE digest IN ({marks}) ORDER BY digest FOR UPDATE"
# by any of their digests; joined to manifest so that FOR SHARE locks the manifests too
_PRESENT_MANIFESTS = (
    "SELECT d.digest FROM manifest_digest d JOIN manifest m ON m.id = d.manifest_id"
    " WHERE d.repository_id = ? AND d.digest IN ({marks})"
)


class ManifestStore:
    """Push, pull and delete manifests; list tags; answer the referrers API."""

    async def get(self, repository: str, reference: str) -> StoredManifest:
        """The manifest by tag or by any digest it is known by, in one query; its digest is
        the one asked for, or by tag the one it was first pushed under. Raises NameUnknown
        or ManifestUnknown."""
        clock = content_trust.epoch_now()
        by_digest = is_digest(reference)
        if by_digest:
            parse_digest(reference)
            rows = await fetch(_MANIFEST_BY_DIGEST, clock, repository, reference)
        else:
            rows = await fetch(_MANIFEST_BY_TAG, clock, repository, reference)
        if not rows:
            await existing_repository(repository)
            raise ManifestUnknown(reference)
        digest, media_type, content, repo_id, trust, reason, enforced, notary = rows[0]
        return StoredManifest(
            reference if by_digest else str(digest),
            str(media_type),
            bytes(content),  # type: ignore[call-overload]
            int(repo_id),  # type: ignore[call-overload]
            str(trust),
            str(reason or ""),
            enforced == "true",
            None if notary is None else bool(notary),
        )

    async def put(
        self,
        repository: str,
        project: str,
        reference: str,
        body: bytes,
        content_type: str | None,
        operator: str | None = None,
        host: str | None = None,
        tags: Sequence[str] = (),
    ) -> PushedManifest:
        """Validate and store a manifest, tagging it when reference is a tag; the push
        pipeline's job and the push's events (its audit row, its PUSH_ARTIFACT webhook
        events) are written in the same transaction. A refused push is recorded as a
        failed one. host: the registry's address as the client named it (webhook URLs).
        tags: the request's `tag` parameters (a PUT by digest only), each set in the same
        transaction with the events of a push by that tag; one push job for them all."""
        resource = f"{repository}:{reference}"
        event = audit.Event(audit.CREATE, audit.ARTIFACT, resource, project, host=host)
        try:
            event.project_id = await project_for_push(repository, project)
            return await self._put(
                repository, project, reference, body, content_type, operator, event, tags
            )
        except BerthError as exc:
            await audit.record_failure(event, exc)
            raise

    async def _put(
        self,
        repository: str,
        project: str,
        reference: str,
        body: bytes,
        content_type: str | None,
        operator: str | None,
        event: audit.Event,
        tags: Sequence[str] = (),
    ) -> PushedManifest:
        tagged = push_tags(reference, tags)  # the `tag` parameters
        by_digest = is_digest(reference)
        algorithm = parse_digest(reference).algorithm if by_digest else "sha256"
        if not by_digest:
            validate_tag(reference)
        parsed = parse_manifest(body, content_type)
        digest = digest_of(body, algorithm)
        if by_digest and digest != reference:
            raise DigestInvalid(f"manifest hashes to {digest}", reference)
        repo_id = await repository_for_push(repository, project)
        _name(event, repository, reference, digest, by_digest)
        names = tagged if by_digest else [reference]  # the tags this PUT sets
        sparse = await _takes_sparse(repo_id, parsed)
        blobs = await self._check_references(repo_id, parsed, sparse)
        project_id = int(event.project_id or 0)
        await quotas.precheck(project_id, len(body), digest)  # before the transaction's writes
        key = manifest_digests.key_of(body, digest)
        children = sorted({d.digest for d in parsed.children})
        subject = parsed.subject.digest if parsed.subject else None
        for attempt in range(3):
            # The same bytes pushed under another digest are the same manifest: by tag, it
            # answers the digest it was first pushed under (a sha512 stays a sha512).
            known = await manifest_digests.known(repo_id, key, digest)
            answer = known.digest if known and not by_digest else digest
            _name(event, repository, reference, answer, by_digest)
            pushed = [_tag_event(event, repository, answer, tag) for tag in tagged] or [event]
            try:
                async with events.transaction() as tx:
                    if known is None:
                        manifest_id = await self._store(repo_id, digest, body, parsed)
                    else:
                        manifest_id = known.manifest_id
                    await manifest_digests.remember(repo_id, manifest_id, key, digest, known)
                    await _hold(tx, repo_id, blobs)
                    await _hold_children(tx, repo_id, children, sparse)
                    # after the blobs' locks, as an upload's link takes them: one order
                    counted = known.digest if known is not None else digest
                    await quotas.charge(tx, project_id, counted, len(body))
                    # a tag an immutability rule protects is never moved (TagImmutable)
                    fresh = await immutability.refuse_moves(
                        event.project_id or 0, repository, repo_id, names, manifest_id
                    )
                    for tag in names:
                        await self._tag(repo_id, tag, manifest_id, insert_only=tag in fresh)
                    for signed in _signed(names or [reference], subject):
                        # a signature over it: its trust is evaluated again
                        await signatures.touch(tx, repo_id, signed)
                    # In the same transaction: no push without its pipeline run (which
                    # sees a push with tag parameters as one by its first tag).
                    first = names[0] if names else reference
                    args: dict[str, Any] = {"repository": repository, "digest": answer}
                    args["reference"] = first
                    args["host"] = event.host or ""
                    if tagged:
                        args["tags"] = tagged
                    await enqueue("push", {**args, "operator": operator or ""})
                    for each in pushed:
                        await events.emit(tx, each)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                # A concurrent push stored the same manifest or tag first: read it and go on.
        return PushedManifest(
            answer, parsed.subject.digest if parsed.subject else None, tuple(tagged)
        )

    async def delete(self, repository: str, reference: str, host: str | None = None) -> int:
        """By digest: the manifest and every tag on it, with its DELETE_ARTIFACT webhook
        events in the same transaction. By tag: only the tag. The number of webhook events.
        SignedInNotary when Docker Content Trust data signs the tag (or a tag on the digest)."""
        repo_id = await existing_repository(repository)
        project = repository.split("/", 1)[0]
        by_digest = is_digest(reference)
        if by_digest:
            parse_digest(reference)
        kind, mark = (audit.ARTIFACT, "@") if by_digest else (audit.TAG, ":")
        event = audit.Event(
            audit.DELETE, kind, f"{repository}{mark}{reference}", project, host=host
        )
        async with events.recorded(event) as tx:
            event.project_id = await project_for_push(repository, project)
            if by_digest:
                await content_trust.refuse_artifact_delete(repository, reference)
                return await delete_artifact(tx, event, repo_id, repository, reference)
            await content_trust.refuse_tag_delete(repository, reference)
            await immutability.refuse_tag_delete(event.project_id, repository, reference)
            signed = signatures.signed_subject(reference, None)
            if not await Tag.filter(repository_id=repo_id, name=reference).using_db(tx).delete():
                raise ManifestUnknown(reference)
            if signed:
                await signatures.touch(tx, repo_id, signed)
            return await events.emit(tx, event)

    async def tags(self, repository: str, n: int | None, last: str | None) -> Page:
        repo_id = await existing_repository(repository)
        query = Tag.filter(repository_id=repo_id)
        if last:
            query = query.filter(name__gt=last)
        return await _page(query.order_by("name"), n)

    async def catalog(self, n: int | None, last: str | None, project_ids: set[int] | None) -> Page:
        """Repository names in order; only those of project_ids unless it is None."""
        query = Repository.all()
        if project_ids is not None:
            query = query.filter(project_id__in=list(project_ids))
        if last:
            query = query.filter(name__gt=last)
        return await _page(query.order_by("name"), n)

    async def referrers(
        self, repository: str, subject: str, artifact_type: str | None
    ) -> list[dict[str, Any]]:
        """Descriptors of the manifests whose subject is `subject`, or another digest of
        the manifest it names."""
        parse_digest(subject)
        subjects = await manifest_digests.aliases(repository, subject)
        query = Manifest.filter(repository__name=repository, subject_digest__in=subjects)
        if artifact_type:
            query = query.filter(artifact_type=artifact_type)
        rows = await query.order_by("id").values(
            "digest", "media_type", "size", "artifact_type", "annotations"
        )
        return [_descriptor(row) for row in rows]

    async def _check_references(
        self, repo_id: int, parsed: ParsedManifest, sparse: bool = False
    ) -> list[str]:
        """Every blob named must be linked to the repository with its size; every child
        manifest of an index must be in the repository, unless sparse (the project's
        sparse_index: absent children are allowed). The blobs' digests."""
        wanted = {d.digest: d for d in parsed.blobs}
        if wanted:
            marks = ",".join("?" * len(wanted))
            rows = await fetch(_LINKED_SIZES.format(marks=marks), repo_id, *wanted)
            sizes = {str(digest): size for digest, size in rows}
            for digest, desc in wanted.items():
                if digest not in sizes:
                    raise ManifestBlobUnknown(digest)
                if sizes[digest] != desc.size:
                    raise ManifestInvalid(
                        f"descriptor for {digest} says {desc.size} bytes, blob has {sizes[digest]}"
                    )
        children = {d.digest for d in parsed.children}
        if children and not sparse:
            marks = ",".join("?" * len(children))
            present = {
                row[0]
                for row in await fetch(_PRESENT_MANIFESTS.format(marks=marks), repo_id, *children)
            }
            for digest in sorted(children - present):
                raise ManifestBlobUnknown(digest)
        return sorted(wanted)

    @staticmethod
    async def _store(repo_id: int, digest: str, body: bytes, parsed: ParsedManifest) -> int:
        row = await Manifest.create(
            repository_id=repo_id,
            digest=digest,
            media_type=parsed.media_type,
            artifact_type=parsed.artifact_type,
            subject_digest=parsed.subject.digest if parsed.subject else None,
            annotations=parsed.annotations,
            size=len(body),
            content=body,
        )
        refs = [ManifestReference(manifest=row, digest=d.digest, kind="blob") for d in parsed.blobs]
        refs += [
            ManifestReference(manifest=row, digest=d.digest, kind="manifest")
            for d in parsed.children
        ]
        if refs:
            await ManifestReference.bulk_create(refs)
        return row.id

    @staticmethod
    async def _tag(repo_id: int, name: str, manifest_id: int, insert_only: bool = False) -> None:
        """Point the tag at the manifest. insert_only: a protected tag's first push, which a
        concurrent first push makes fail (IntegrityError, so the retry refuses it) instead
        of moving it."""
        if insert_only:
            await Tag.create(repository_id=repo_id, name=name, manifest_id=manifest_id)
            return
        updated = await Tag.filter(repository_id=repo_id, name=name).update(manifest_id=manifest_id)
        if not updated:
            await Tag.create(repository_id=repo_id, name=name, manifest_id=manifest_id)


def _name(
    event: audit.Event, repository: str, reference: str, digest: str, by_digest: bool
) -> None:
    """The push's event names the pushed artifact by digest (and tag)."""
    event.resource = audit.artifact_resource(repository, reference, digest)
    event.artifacts = [audit.Artifact(repository, digest, None if by_digest else reference)]


async def _hold(tx: events.Tx, repo_id: int, digests: list[str]) -> None:
    """Take the manifest's blobs back from any collection, in the manifest's transaction:
    none, version bumped (so a collection's claim on the version it saw fails), touched
    now. ManifestBlobUnknown when one is being deleted, or was deleted since the references
    were checked (its row made anew by an upload elsewhere, this repository's link gone):
    the client uploads it again."""
    if not digests:
        return
    if tx.capabilities.dialect == "postgres":  # one order, or two pushes sharing layers deadlock
        marks = ",".join("?" * len(digests))
        await execute(_LOCK_BLOBS.format(marks=marks), *digests, using=tx)
    held = (
        await Blob.filter(digest__in=digests, status__in=LIVE)
        .using_db(tx)
        .update(status="none", version=F("version") + 1, touched_ms=now_ms(), gc_run=None)
    )
    linked = (
        await RepositoryBlob.filter(repository_id=repo_id, digest__in=digests)
        .using_db(tx)
        .values_list("digest", flat=True)
    )
    if held != len(digests) or len(set(linked)) != len(digests):
        alive = (
            await Blob.filter(digest__in=digests, status="none")
            .using_db(tx)
            .values_list("digest", flat=True)
        )
        raise ManifestBlobUnknown(sorted(set(digests) - (set(alive) & set(linked)))[0])


async def _takes_sparse(repo_id: int, parsed: ParsedManifest) -> bool:
    """Whether this index may name children the repository lacks (project_settings'
    SPARSE_INDEX); a manifest that is no index costs no query."""
    if not parsed.children:
        return False
    return await project_settings.switched_on_for(repo_id, project_settings.SPARSE_INDEX)


async def _hold_children(
    tx: events.Tx, repo_id: int, digests: list[str], sparse: bool = False
) -> None:
    """An index's children are still there in its transaction (a collection removing
    untagged manifests locks each before it checks for parents). Sparse: those present
    are held, the absent ones allowed (one removed since the check is then absent too)."""
    if not digests:
        return
    marks = ",".join("?" * len(digests))
    lock = " FOR SHARE" if tx.capabilities.dialect == "postgres" else ""
    rows = await execute(_PRESENT_MANIFESTS.format(marks=marks) + lock, repo_id, *digests, using=tx)
    if sparse:
        return
    for digest in sorted(set(digests) - {str(row[0]) for row in rows}):
        raise ManifestBlobUnknown(digest)


def _tag_event(event: audit.Event, repository: str, digest: str, tag: str) -> audit.Event:
    """The push's event as a push by tag would have it: one per tag a `tag` parameter sets."""
    resource = audit.artifact_resource(repository, tag, digest)
    return replace(event, resource=resource, artifacts=[audit.Artifact(repository, digest, tag)])


def _signed(references: list[str], subject: str | None) -> set[str]:
    """What a manifest pushed under these references (tags, or its digest) may sign."""
    return {s for r in references if (s := signatures.signed_subject(r, subject))}


async def _page(query: Any, n: int | None) -> Page:
    if n is not None:
        query = query.limit(n + 1)
    names = list(await query.values_list("name", flat=True))
    if n is not None and len(names) > n:
        return Page(names[:n], True)
    return Page(names, False)


def _descriptor(row: dict[str, Any]) -> dict[str, Any]:
    desc: dict[str, Any] = {
        "mediaType": row["media_type"],
        "digest": row["digest"],
        "size": row["size"],
    }
    if row["artifact_type"]:
        desc["artifactType"] = row["artifact_type"]
    if row["annotations"]:
        desc["annotations"] = row["annotations"]
    return desc
