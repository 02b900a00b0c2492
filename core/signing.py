"""Berth signs an artifact with its project's key: a cosign signature (simple-signing
payload, ECDSA P-256) kept as cosign keeps them — a layer of the sha256-<hex>.sig image —
and, since that image names the artifact as its subject, an OCI 1.1 referrer too. The
image is pushed through the same paths a client's push takes (upload, manifest PUT with
its audit event and push job), so it replicates and is collected as any artifact."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass

from core import audit, mediatypes, signatures
from core.digests import is_digest
from core.errors import ManifestUnknown
from core.service import Registry
from core.signing_keys import signing_key
from models import Signature, fetch
from signer import cosign, keys
from signer.verdicts import VERIFIED

# cosign names signatures by the sha256 they sign (sha256-<hex>.sig: a sha512 one would not
# fit a tag's 128 characters), so an artifact is signed by its sha256, which it is always
# known by; and verdicts are kept under the digest it was first pushed under.
_ARTIFACT = (
    "SELECT r.id, p.id, p.name, m.media_type, m.size, m.digest, (SELECT a.digest"
    " FROM manifest_digest a WHERE a.manifest_id = m.id AND a.digest LIKE 'sha256:%')"
    " FROM manifest_digest d"
    " JOIN manifest m ON m.id = d.manifest_id JOIN repository r ON r.id = d.repository_id"
    " JOIN project p ON p.id = r.project_id WHERE r.name = ? AND d.digest = ?"
)
_SIG_CONTENT = (
    "SELECT m.content FROM tag t JOIN manifest m ON m.id = t.manifest_id"
    " WHERE t.repository_id = ? AND t.name = ?"
)
SIGNER = "berth-signer"  # the operator of the pushes that store Berth's signatures


@dataclass(frozen=True, slots=True)
class Signed:
    digest: str  # the artifact's
    signature_manifest: str | None  # None when the key had signed it already
    key_id: str


async def sign(registry: Registry, repository: str, digest: str, identity: str) -> Signed:
    """Sign repository@digest (by its sha256, when digest is another of its digests) with
    its project's active key (made on first use). identity: the docker-reference the
    payload names (host/repository[:tag]). Safe to repeat: an artifact the key has signed
    already is left as it is. Raises ManifestUnknown."""
    row = await fetch(_ARTIFACT, repository, digest)
    if not row:
        raise ManifestUnknown(digest)
    repo_id, project_id, project, media_type, size, first, sha256 = row[0]
    digest = str(sha256 or digest)
    key = await signing_key(int(project_id), registry.sealed())  # type: ignore[call-overload]
    if await _signed_by(int(repo_id), str(first), key.key_id):  # type: ignore[call-overload]
        return Signed(digest, None, key.key_id)
    payload = cosign.payload(identity, digest)
    signature = base64.b64encode(keys.sign(key.private, payload)).decode()
    existing = await fetch(_SIG_CONTENT, repo_id, signatures.sig_tag(digest))
    subject = {"mediaType": str(media_type), "digest": digest, "size": int(size)}  # type: ignore[call-overload]
    image = cosign.signature_image(
        payload,
        signature,
        subject,
        bytes(existing[0][0]) if existing else None,  # type: ignore[call-overload]
    )
    for blob_digest, data in image.blobs.items():
        await registry.uploads.upload_whole(
            repository, str(project), blob_digest, _once(data), len(data)
        )
    pushed = await registry.manifests.put(
        repository, str(project), signatures.sig_tag(digest), image.manifest,
        mediatypes.OCI_MANIFEST, SIGNER,
    )  # fmt: skip
    event = audit.Event(audit.CREATE, audit.SIGNATURE, f"{repository}@{digest}", str(project))
    event.project_id = int(project_id)  # type: ignore[call-overload]
    event.description = f"signed with {key.key_id} (cosign, as {pushed.digest})"
    await audit.record(event)
    return Signed(digest, pushed.digest, key.key_id)


def identity_of(host: str, repository: str, reference: str) -> str:
    """The docker-reference a signature names: host/repository, with the tag it was pushed
    by (a policy that matches the exact reference then accepts a pull by that tag)."""
    name = f"{host}/{repository}" if host else repository
    return name if not reference or is_digest(reference) else f"{name}:{reference}"


async def _signed_by(repo_id: int, digest: str, key_id: str) -> bool:
    return await Signature.filter(
        repository_id=repo_id, subject_digest=digest, key_id=key_id, status=VERIFIED
    ).exists()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
