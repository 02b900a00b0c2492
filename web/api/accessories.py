"""An artifact's accessories (Harbor's /artifacts/{reference}/accessories): the signatures,
SBOMs and other referrers that hang on it, each with Berth's verdict on the signatures it
holds (`verification`), and the artifact's own trust (`X-Berth-Trust` header and, per
accessory, what its signatures proved)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from quart import Response, current_app

from core import artifacts, manifest_digests, signatures
from core.service import Registry
from models import Manifest, Signature, fetch
from models.errors import NotFound
from web.api import api
from web.api.artifacts import BASE, _repository
from web.api.common import paged_response, paging
from web.api.openapi import operation
from web.api.schemas.artifacts import Accessory
from web.api.schemas.common import PageQuery
from web.params import api_time

_SIG_TAGGED = "SELECT manifest_id FROM tag WHERE repository_id = ? AND name = ?"
_TYPES = {
    signatures.NOTATION_TYPE: "signature.notation",
    signatures.COSIGN_SIG_TYPE: "signature.cosign",
}


@api.route(f"{BASE}/<reference>/accessories", methods=["GET"])
@operation("listAccessories", "artifact", query=PageQuery, responses={200: list[Accessory]})
async def list_accessories(project_name: str, repository_name: str, reference: str) -> Response:
    repo = await _repository(project_name, repository_name)
    found = await artifacts.artifact_ref(repo, unquote(reference))
    if found is None:
        raise NotFound(f"artifact {reference} not found")
    registry: Registry = current_app.extensions["registry"]
    trust = await signatures.trust_of(registry.blobs, repo.id, found.digest)
    rows = await _accessories(repo.id, found.id, found.digest)
    verdicts = await signatures.verdicts_of(repo.id, found.digest)
    name = f"{project_name}/{unquote(repository_name)}"
    items = [_render(row, found.id, name, verdicts) for row in rows]
    pages = paging()
    response = paged_response(
        items[pages.offset : pages.offset + pages.page_size], len(items), pages
    )
    response.headers["X-Berth-Trust"] = trust.state
    return response


async def _accessories(repo_id: int, artifact_id: int, digest: str) -> list[Manifest]:
    """The referrers of the artifact (by any of its digests) and its cosign .sig image,
    oldest first."""
    tagged = [int(r[0]) for r in await fetch(_SIG_TAGGED, repo_id, signatures.sig_tag(digest))]  # type: ignore[call-overload]
    subjects = await manifest_digests.digests_of(artifact_id)
    query = Manifest.filter(repository_id=repo_id, subject_digest__in=subjects)
    rows = {m.id: m for m in await query}
    for m in await Manifest.filter(id__in=tagged):
        rows.setdefault(m.id, m)
    return [rows[k] for k in sorted(rows)]


def _render(
    row: Manifest, subject_id: int, repository: str, verdicts: list[Signature]
) -> dict[str, Any]:
    held = [v for v in verdicts if v.manifest_id == row.id]
    kind = _TYPES.get(row.artifact_type or "", "")
    if not kind:
        kind = _kind_of(row, held)
    return {
        "id": row.id,
        "artifact_id": row.id,
        "subject_artifact_id": subject_id,
        "subject_artifact_digest": row.subject_digest or "",
        "subject_artifact_repo": repository,
        "size": row.size,
        "digest": row.digest,
        "type": kind,
        "icon": "",
        "creation_time": api_time(row.created_at),
        "verification": [
            {
                "format": v.format,
                "layer": v.layer,
                "key_id": v.key_id,
                "verified": v.status == "verified",
                "status": v.status,
                "reason": v.reason,
                "checked_time": api_time(v.checked_at),
            }
            for v in held
        ],
    }


def _kind_of(row: Manifest, held: list[Signature]) -> str:
    if held:
        return "signature.notation" if held[0].format == "notation" else "signature.cosign"
    if row.artifact_type and "sbom" in row.artifact_type.lower():
        return "harbor.sbom"
    return "subject.accessory"
