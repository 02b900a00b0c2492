"""The signatures Berth holds and what they prove: for one artifact, find every signature
over it (cosign's sha256-<hex>.sig tag, and referrers: cosign, Sigstore bundles,
notation), verify each against the project's keys as they are now, keep the verdicts
(models.Signature) and the artifact's trust (Manifest.trust) for the pull path.

trust: pending (not evaluated since something changed) | verified (a signature from a
trusted key over this very digest, or a child of a verified index) | exempt (an accessory:
a signature, SBOM or attestation, pullable so clients can verify) | refused (reason says
why). Whatever may change an artifact's trust moves its trust_seq (a signature pushed or
deleted, a project's keys changed), and an evaluation writes only over the seq it read, so
a result computed from what has since changed is never kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core import events
from core.blobs import BlobStore
from core.jobs import enqueue
from core.manifest_digests import MANIFEST_ID, digests_of
from core.signing_keys import trusted_keys
from models import Signature, execute, fetch
from signer import bundle, cosign, notation
from signer.keys import TrustedKey
from signer.verdicts import COSIGN, INVALID, MISMATCH, NOTATION, SIGSTORE_BUNDLE, UNTRUSTED, Verdict

PENDING, VERIFIED, EXEMPT, REFUSED = "pending", "verified", "exempt", "refused"
SERVED = (VERIFIED, EXEMPT)  # what a project that enforces signatures serves

COSIGN_SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
NOTATION_TYPE = "application/vnd.cncf.notary.signature"
_ACCESSORY_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(sig|att|sbom)$")
_ACCESSORY_LAYERS = (SIMPLESIGNING, "application/vnd.dsse.envelope.v1+json")
MAX_SIGNATURE_BLOB = 1 << 20  # a payload, bundle or envelope larger than this is refused


def sig_tag(digest: str) -> str:
    """cosign's tag for the signatures of digest: sha256-<hex>.sig."""
    return digest.replace(":", "-", 1) + ".sig"


@dataclass(frozen=True, slots=True)
class Trust:
    state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    repository_id: int
    digest: str
    subject: str | None
    artifact_type: str | None
    content: bytes
    seq: int


_ROW = (
    "SELECT id, repository_id, digest, subject_digest, artifact_type, content, trust_seq"
    " FROM manifest"
)
_SIG_TAGGED = (
    _ROW + " WHERE id IN (SELECT manifest_id FROM tag WHERE repository_id = ? AND name = ?)"
)
_REFERRERS = _ROW + " WHERE repository_id = ? AND subject_digest = ? ORDER BY id"
_ONE = _ROW + f" WHERE id = {MANIFEST_ID}"
_FIRST = f"SELECT digest FROM manifest WHERE id = {MANIFEST_ID}"
_TAGS = "SELECT name FROM tag WHERE manifest_id = ?"
_PARENTS = (
    "SELECT DISTINCT m.digest, m.trust FROM manifest_reference r"
    " JOIN manifest m ON m.id = r.manifest_id JOIN manifest_digest d ON d.digest = r.digest"
    " WHERE m.repository_id = ? AND d.manifest_id = ? AND r.kind = 'manifest'"
)
_PROJECT = "SELECT project_id FROM repository WHERE id = ?"
_WRITE = "UPDATE manifest SET trust = ?, trust_reason = ? WHERE id = ? AND trust_seq = ?"
_TOUCH = (
    "UPDATE manifest SET trust = 'pending', trust_reason = NULL, trust_seq = trust_seq + 1"
    f" WHERE id = {MANIFEST_ID}"
)
_TOUCH_PROJECT = (
    "UPDATE manifest SET trust = 'pending', trust_reason = NULL, trust_seq = trust_seq + 1"
    " WHERE repository_id IN (SELECT id FROM repository WHERE project_id = ?)"
)
_TOUCH_CHILDREN = (
    "UPDATE manifest SET trust = 'pending', trust_reason = NULL, trust_seq = trust_seq + 1"
    " WHERE repository_id = ? AND trust = 'refused' AND id IN (SELECT d.manifest_id"
    " FROM manifest_reference c JOIN manifest_digest d ON d.digest = c.digest"
    " AND d.repository_id = ? WHERE c.manifest_id = ? AND c.kind = 'manifest')"
)


def _row(values: tuple[object, ...]) -> _Row:
    id_, repo, digest, subject, artifact_type, content, seq = values
    return _Row(
        int(id_),  # type: ignore[call-overload]
        int(repo),  # type: ignore[call-overload]
        str(digest),
        str(subject) if subject else None,
        str(artifact_type) if artifact_type else None,
        bytes(content),  # type: ignore[call-overload]
        int(seq),  # type: ignore[call-overload]
    )


def signed_subject(reference: str, subject: str | None) -> str | None:
    """The artifact a manifest pushed under reference with subject may sign: its subject,
    or the digest its sha256-<hex>.sig tag names. None for anything else."""
    if subject:
        return subject
    if _ACCESSORY_TAG.match(reference) and reference.endswith(".sig"):
        return reference[: -len(".sig")].replace("-", ":", 1)
    return None


async def touch(tx: events.Tx, repo_id: int, digest: str) -> None:
    """Something that may change digest's trust happened in tx (a signature over it pushed
    or deleted): it is evaluated again before it is next served under enforcement."""
    await execute(_TOUCH, repo_id, digest, using=tx)


async def before_delete(tx: events.Tx, repo_id: int, digest: str) -> None:
    """The manifest digest is about to be deleted in tx: if it is a signature, what it
    signed is evaluated again."""
    rows = await execute(
        "SELECT m.subject_digest, t.name FROM manifest m LEFT JOIN tag t ON t.manifest_id = m.id"
        f" WHERE m.id = {MANIFEST_ID}",
        repo_id,
        digest,
        using=tx,
    )
    for subject, tag in rows:
        signed = signed_subject(str(tag or ""), str(subject) if subject else None)
        if signed:
            await touch(tx, repo_id, signed)


async def keys_changed(tx: events.Tx, project_id: int) -> None:
    """The project's keys changed in tx: every artifact of it is evaluated again (a job does
    it for all, with progress; an enforced pull does it at once for what it asks)."""
    await execute(_TOUCH_PROJECT, project_id, using=tx)
    await enqueue("signatures-evaluate", {"project_id": project_id})


async def trust_of(blobs: BlobStore, repo_id: int, digest: str) -> Trust:
    """The artifact's trust now: evaluated when pending, else as kept."""
    rows = await fetch(
        f"SELECT trust, trust_reason FROM manifest WHERE id = {MANIFEST_ID}", repo_id, digest
    )
    if not rows:
        return Trust(REFUSED, f"{digest} is not in the repository")
    state, reason = str(rows[0][0]), str(rows[0][1] or "")
    if state != PENDING:
        return Trust(state, reason)
    return await evaluate(blobs, repo_id, digest)


async def evaluate(blobs: BlobStore, repo_id: int, digest: str, depth: int = 0) -> Trust:
    """Verify every signature over digest with the project's keys, keep the verdicts and
    the artifact's trust (over the seq read), and answer it. Safe to repeat."""
    found = await fetch(_ONE, repo_id, digest)
    if not found:
        return Trust(REFUSED, f"{digest} is not in the repository")
    subject = _row(found[0])
    if await _is_accessory(subject):
        trust = Trust(EXEMPT)
    else:
        keys = await trusted_keys(await _project_of(repo_id))
        verdicts = await _verdicts(blobs, subject, keys)
        await _keep(subject, verdicts)
        trust = await _conclude(blobs, subject, verdicts, depth)
    await execute(_WRITE, trust.state, trust.reason or None, subject.id, subject.seq)
    if trust.state == VERIFIED:  # its children are covered now
        await execute(_TOUCH_CHILDREN, repo_id, repo_id, subject.id)
    return trust


async def verdicts_of(repo_id: int, digest: str) -> list[Signature]:
    """The kept verdicts over the manifest digest names (any of its digests: they are kept
    under the one it was first pushed under), in the order they were found."""
    rows = await fetch(_FIRST, repo_id, digest)
    first = str(rows[0][0]) if rows else digest
    return await Signature.filter(repository_id=repo_id, subject_digest=first).order_by("id")


async def _project_of(repo_id: int) -> int:
    rows = await fetch(_PROJECT, repo_id)
    return int(rows[0][0])  # type: ignore[call-overload]


async def _is_accessory(row: _Row) -> bool:
    if row.subject:
        return True
    tags = [str(t[0]) for t in await fetch(_TAGS, row.id)]
    if any(_ACCESSORY_TAG.match(tag) for tag in tags):
        return True
    layers = _json(row.content).get("layers")
    if isinstance(layers, list) and layers:
        return all(isinstance(x, dict) and x.get("mediaType") in _ACCESSORY_LAYERS for x in layers)
    return False


async def _verdicts(
    blobs: BlobStore, subject: _Row, keys: Sequence[TrustedKey]
) -> list[tuple[_Row, int, Verdict]]:
    """(signature manifest, layer, verdict) of every signature over subject, by any of its
    digests; each is checked against the digest it names (its tag's, or its subject)."""
    manifests: dict[int, tuple[_Row, str]] = {}
    for digest in await digests_of(subject.id):
        repo_id = subject.repository_id
        for row in map(_row, await fetch(_SIG_TAGGED, repo_id, sig_tag(digest))):
            manifests.setdefault(row.id, (row, digest))
        for row in map(_row, await fetch(_REFERRERS, repo_id, digest)):
            manifests.setdefault(row.id, (row, digest))
    found: list[tuple[_Row, int, Verdict]] = []
    for row, digest in manifests.values():
        found += [(row, i, v) for i, v in await _check(blobs, row, digest, keys)]
    return found


async def _check(
    blobs: BlobStore, row: _Row, digest: str, keys: Sequence[TrustedKey]
) -> list[tuple[int, Verdict]]:
    """The verdicts of the signatures one manifest holds over digest; none when it is no
    signature (an SBOM, an attestation)."""
    manifest = _json(row.content)
    found = manifest.get("layers")
    layers: list[Any] = found if isinstance(found, list) else []
    kind = row.artifact_type or (manifest.get("config") or {}).get("mediaType", "")
    if kind == NOTATION_TYPE:
        return [(0, await _enveloped(blobs, layers, digest, keys, NOTATION))]
    if str(kind).startswith(BUNDLE_PREFIX) or any(
        str(x.get("mediaType", "")).startswith(BUNDLE_PREFIX) for x in layers if isinstance(x, dict)
    ):
        return [(0, await _enveloped(blobs, layers, digest, keys, SIGSTORE_BUNDLE))]
    if not any(isinstance(x, dict) and x.get("mediaType") == SIMPLESIGNING for x in layers):
        return []
    out = []
    for layer in cosign.layers(row.content):
        payload = await _read(blobs, layer.payload_digest)
        if payload is None:
            out.append(
                (layer.index, Verdict(COSIGN, INVALID, reason="its payload blob is missing"))
            )
        else:
            out.append((layer.index, cosign.verify(payload, layer.signature_b64, digest, keys)))
    return out


async def _enveloped(
    blobs: BlobStore, layers: list[Any], digest: str, keys: Sequence[TrustedKey], fmt: str
) -> Verdict:
    """The verdict on a referrer whose first layer is the whole signature: a Sigstore
    bundle or a notation envelope."""
    body = await _read(blobs, _first_digest(layers))
    if body is None:
        return Verdict(fmt, INVALID, reason="its signature blob is missing")
    if fmt == SIGSTORE_BUNDLE:
        return bundle.verify(body, digest, keys)
    media_type = str(layers[0].get("mediaType", ""))
    return notation.verify(body, media_type, digest, keys)


def _first_digest(layers: list[Any]) -> str:
    if layers and isinstance(layers[0], dict):
        return str(layers[0].get("digest", ""))
    return ""


async def _read(blobs: BlobStore, digest: str) -> bytes | None:
    """A small blob whole; None when it is missing, unreadable or too large."""
    if not digest:
        return None
    chunks, size = [], 0
    try:
        async for chunk in blobs.read(digest):
            size += len(chunk)
            if size > MAX_SIGNATURE_BLOB:
                return None
            chunks.append(chunk)
    except (FileNotFoundError, OSError, ValueError):
        return None
    return b"".join(chunks)


async def _keep(subject: _Row, verdicts: list[tuple[_Row, int, Verdict]]) -> None:
    """The verdicts over subject replace those kept before."""
    rows = [
        Signature(
            repository_id=subject.repository_id,
            subject_digest=subject.digest,
            manifest_id=row.id,
            signature_digest=row.digest,
            layer=layer,
            format=v.format,
            key_id=v.key_id,
            status=v.status,
            reason=v.reason,
        )
        for row, layer, v in verdicts
    ]
    await Signature.filter(
        repository_id=subject.repository_id, subject_digest=subject.digest
    ).delete()
    if rows:
        await Signature.bulk_create(rows, ignore_conflicts=True)


async def _conclude(
    blobs: BlobStore, subject: _Row, verdicts: list[tuple[_Row, int, Verdict]], depth: int
) -> Trust:
    if any(v.verified for _r, _l, v in verdicts):
        return Trust(VERIFIED)
    for parent, state in await fetch(_PARENTS, subject.repository_id, subject.id):
        if state == PENDING and depth < 2:
            state = (await evaluate(blobs, subject.repository_id, str(parent), depth + 1)).state
        if state == VERIFIED:
            return Trust(VERIFIED)
    return Trust(REFUSED, refusal([v for _r, _l, v in verdicts]))


def refusal(verdicts: Sequence[Verdict]) -> str:
    """Why an artifact with these (none verified) verdicts is refused, in one sentence."""
    if not verdicts:
        return "the artifact is not signed"
    for status, words in (
        (UNTRUSTED, "the artifact is signed only by keys the project does not trust"),
        (MISMATCH, "the artifact's signature is over another digest"),
    ):
        hit = next((v for v in verdicts if v.status == status), None)
        if hit is not None:
            named = hit.signed_digest if status == MISMATCH else hit.key_id
            return f"{words} ({named})" if named else words
    return f"the artifact's signature does not verify: {verdicts[0].reason}"


def _json(content: bytes) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
