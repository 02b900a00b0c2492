"""A project's settings beyond its visibility, kept as Harbor keeps them: names with string
values (models.ProjectMetadata). The names Berth acts on are listed here with their check."""

from __future__ import annotations

from typing import Any

from models import ProjectMetadata, fetch
from models.errors import InvalidInput
from models.values import parse_bool

ENFORCE_COSIGN = "enable_content_trust_cosign"  # pulls need a verified signature
CONTENT_TRUST = "enable_content_trust"  # Docker Content Trust (Notary)
SIGN_ON_PUSH = "sign_on_push"  # Berth signs each new artifact with the project's key
# Berth's own: an image index may name children its repository lacks (core.registry)
SPARSE_INDEX = "sparse_index"
SWITCHES = (ENFORCE_COSIGN, CONTENT_TRUST, SIGN_ON_PUSH, SPARSE_INDEX)
# Harbor's other names: kept as sent, so its scripts keep working, acted on by nothing yet
KEPT = ("auto_scan", "auto_sbom_generation", "prevent_vul", "severity", "reuse_sys_cve_allowlist")

_ONE = "SELECT value FROM project_metadata WHERE project_id = ? AND name = ?"
_OF_REPOSITORY = (
    "SELECT pm.value FROM project_metadata pm JOIN repository r ON r.project_id = pm.project_id"
    " WHERE r.id = ? AND pm.name = ?"
)


def checked(metadata: dict[str, Any]) -> dict[str, str]:
    """The settings a ProjectReq's metadata sets (public excepted), as stored strings.
    An unknown name or a value that is no boolean is refused, naming it."""
    out = {}
    for name, value in metadata.items():
        if name in ("public", "retention_id"):  # retention_id: set by the retention API alone
            continue
        if name in KEPT:
            if not isinstance(value, str) or len(value) > 255:
                raise InvalidInput(f"metadata.{name} must be a string of at most 255 characters")
            out[name] = value
            continue
        if name not in SWITCHES:
            raise InvalidInput(f"metadata.{name} is not a project setting Berth knows")
        flag = value if isinstance(value, bool) else parse_bool(f"metadata.{name}", value)
        out[name] = "true" if flag else "false"
    return out


async def settings_of(project_id: int) -> dict[str, str]:
    rows = await ProjectMetadata.filter(project_id=project_id).values_list("name", "value")
    return {str(name): str(value) for name, value in rows}


async def switched_on(project_id: int, name: str) -> bool:
    rows = await fetch(_ONE, project_id, name)
    return bool(rows) and str(rows[0][0]) == "true"


async def switched_on_for(repository_id: int, name: str) -> bool:
    """switched_on for the project of a repository, in one indexed read."""
    rows = await fetch(_OF_REPOSITORY, repository_id, name)
    return bool(rows) and str(rows[0][0]) == "true"


async def store(project_id: int, values: dict[str, str]) -> dict[str, str]:
    """Set the settings (in the caller's transaction); the values they had before."""
    before = await settings_of(project_id)
    for name, value in values.items():
        updated = await ProjectMetadata.filter(project_id=project_id, name=name).update(value=value)
        if not updated:
            await ProjectMetadata.create(project_id=project_id, name=name, value=value)
    return {name: before.get(name, "false") for name in values}


# --- the metadatas API: one setting at a time, each value checked by its name -------------

PUBLIC = "public"
SEVERITIES = ("none", "unknown", "negligible", "low", "medium", "high", "critical")
_FLAGS = frozenset(
    {PUBLIC, *SWITCHES, "auto_scan", "auto_sbom_generation", "prevent_vul",
     "reuse_sys_cve_allowlist"}
)  # fmt: skip
_NUMBERS = frozenset({"retention_id", "proxy_speed_kb"})
METADATA_NAMES = tuple(sorted(_FLAGS | _NUMBERS | {"severity"}))


def checked_value(name: str, value: Any) -> str:
    """A metadata value as stored (a string): "true"/"false" for a switch, a whole number
    for retention_id and proxy_speed_kb, one of SEVERITIES for severity. InvalidInput
    naming the setting otherwise, or naming an unknown setting."""
    if name in _FLAGS:
        flag = value if isinstance(value, bool) else parse_bool(f"metadata.{name}", str(value))
        return "true" if flag else "false"
    if name in _NUMBERS:
        text = str(value).strip()
        if isinstance(value, bool) or not text.lstrip("-").isdigit() or len(text) > 10:
            raise InvalidInput(f"metadata.{name} must be a whole number")
        if not -1 <= int(text) < 2**31:
            raise InvalidInput(f"metadata.{name} must be -1..{2**31 - 1}")
        return str(int(text))
    if name == "severity":
        if value not in SEVERITIES:
            raise InvalidInput(f"metadata.severity must be one of {', '.join(SEVERITIES)}")
        return str(value)
    raise InvalidInput(
        f"metadata.{name[:64]} is not a project setting; known: {', '.join(METADATA_NAMES)}"
    )


async def remove(project_id: int, name: str) -> bool:
    """Delete one setting (in the caller's transaction); False when it was not set."""
    return bool(await ProjectMetadata.filter(project_id=project_id, name=name).delete())
