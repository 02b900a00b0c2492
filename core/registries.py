"""The other registries replication copies to and from (Harbor's Registry): checked bodies,
the rows, and the endpoint a client reaches one by.

A registry's access_secret is sealed at rest (signer.sealing) and opened only to build an
`Endpoint` for a request to that registry; an answer shows it as MASK, and a change that
sends MASK, or no secret, keeps the stored one — unless the URL changes, which drops it
(Harbor's rule: otherwise whoever may edit a registry could point it at their own server
and collect the password).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from core.remote import Endpoint, RemoteClient, RemoteError
from models import RemoteRegistry, ReplicationPolicy
from models.errors import AlreadyExists, NotFound, PreconditionFailed
from models.values import ParameterInvalid, check_text, parse_bool
from signer.sealing import SealBroken, Sealer

DOCKER_REGISTRY, HARBOR = "docker-registry", "harbor"
TYPES = (DOCKER_REGISTRY, HARBOR)  # Harbor's adapter names; "harbor" is also a Berth
BASIC, OAUTH = "basic", "oauth"
CREDENTIAL_TYPES = (BASIC, OAUTH)
HEALTHY, UNHEALTHY, UNKNOWN = "healthy", "unhealthy", "unknown"
MASK = "*****"  # a stored secret, as answers show it
MAX_NAME = 64  # Harbor's limit
MAX_URL, MAX_KEY, MAX_SECRET = 2048, 255, 8192
MAX_DESCRIPTION, MAX_CA = 2000, 64 * 1024
MAX_RATE = 10_000  # requests per second
PING_STALL = 15.0  # seconds a ping waits for an answer
_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


class RegistryUnknown(NotFound):
    def __init__(self, registry_id: int) -> None:
        super().__init__(f"registry {registry_id} not found")


class RegistryNameTaken(AlreadyExists):
    def __init__(self, name: str) -> None:
        super().__init__(f"a registry named {name!r} exists already")


class RegistryInUse(PreconditionFailed):
    """Harbor's 412: a policy still copies to or from the registry."""

    def __init__(self, registry_id: int, policies: list[str]) -> None:
        shown = ", ".join(repr(p) for p in policies[:5])
        super().__init__(
            f"the registry {registry_id} is used by replication policies ({shown}):"
            " delete or change them first"
        )


class RegistrySecretUnreadable(PreconditionFailed):
    """No configured secret key opens the stored secret (a key was removed from the
    settings): the registry needs its secret given again."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"the stored access secret of registry {name!r} cannot be opened with the"
            " configured secret keys: give it again (PUT access_secret)"
        )


@dataclass(frozen=True, slots=True)
class RegistrySpec:
    """A checked registry body. access_secret: None keeps the stored one ("" on creation)."""

    name: str
    url: str
    type: str
    description: str
    credential_type: str
    access_key: str
    access_secret: str | None
    insecure: bool
    ca_certificate: str
    requests_per_second: float = 0.0  # Berth's own: a cap on requests to it, 0 none


def parse_registry(body: dict[str, Any], current: RemoteRegistry | None = None) -> RegistrySpec:
    """Harbor's Registry body (POST: name, url, type, credential {type, access_key,
    access_secret}, insecure, ca_certificate, description) or RegistryUpdate (PUT: the same
    with credential_type / access_key / access_secret at the top; a field left out keeps
    current's value). ParameterInvalid naming the field."""
    credential = body.get("credential")
    if credential is not None and not isinstance(credential, dict):
        raise ParameterInvalid("credential", "must be an object {type, access_key, access_secret}")
    credential = credential or {}

    def given(key: str, flat: str, default: object) -> object:
        if key in credential:
            return credential[key]
        return body.get(flat, default)

    old = current
    kind = body.get("type", old.type if old else None)
    if kind not in TYPES:
        raise ParameterInvalid("type", f"must be one of {', '.join(TYPES)}")
    key = given("access_key", "access_key", old.access_key if old else "")
    credential_type = given("type", "credential_type", old.credential_type if old else BASIC)
    return RegistrySpec(
        name=_name(body.get("name", old.name if old else None)),
        url=normalize_url(body.get("url", old.url if old else None)),
        type=str(kind),
        description=_text("description", body.get("description", old.description if old else "")),
        credential_type=_credential_type(credential_type),
        access_key=_bounded("credential.access_key", key, MAX_KEY),
        access_secret=_secret(given("access_secret", "access_secret", None)),
        insecure=parse_bool("insecure", body.get("insecure", old.insecure if old else False)),
        ca_certificate=check_ca_certificate(
            body.get("ca_certificate", old.ca_certificate if old else "")
        ),
        requests_per_second=_rate(
            body.get("requests_per_second", old.requests_per_second if old else 0)
        ),
    )


def _rate(value: object) -> float:
    """Requests per second to the registry (0: no cap), for one that limits its callers."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ParameterInvalid("requests_per_second", "must be a number (0: no limit)")
    if not 0 <= value <= MAX_RATE:
        raise ParameterInvalid("requests_per_second", f"must be 0..{MAX_RATE}")
    return float(value)


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ParameterInvalid("name", "is required")
    return check_text("name", value.strip(), MAX_NAME)


def _text(field: str, value: object) -> str:
    return _bounded(field, value, MAX_DESCRIPTION)


def _bounded(field: str, value: object, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParameterInvalid(field, "must be a string")
    return check_text(field, value, limit)


def _credential_type(value: object) -> str:
    if value in (None, ""):
        return BASIC
    if value not in CREDENTIAL_TYPES:
        raise ParameterInvalid("credential.type", f"must be one of {', '.join(CREDENTIAL_TYPES)}")
    return str(value)


def _secret(value: object) -> str | None:
    if value is None or value == MASK:
        return None
    return _bounded("credential.access_secret", value, MAX_SECRET)


def normalize_url(value: object) -> str:
    """scheme://host[:port][/path] of an http or https URL, without a trailing "/" (an
    address without a scheme is http://, as in Harbor); ParameterInvalid for anything else,
    credentials, a query or a fragment included."""
    if not isinstance(value, str) or not value.strip():
        raise ParameterInvalid("url", "is required")
    check_text("url", value, MAX_URL)
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    text = text.rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ParameterInvalid("url", f"is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ParameterInvalid("url", "must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ParameterInvalid("url", "must not carry credentials: use credential instead")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ParameterInvalid("url", "must not have a query or a fragment")
    host = parts.hostname or ""
    if not _valid_host(host):
        raise ParameterInvalid("url", "must name a host")
    if port == 0:
        raise ParameterInvalid("url", "must not name port 0")
    if any(c.isspace() for c in parts.path):
        raise ParameterInvalid("url", "must not contain spaces")
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}{'' if port is None else f':{port}'}{parts.path}"


def _valid_host(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def check_ca_certificate(value: object) -> str:
    """ "" (trust the system's CAs) or PEM certificates cryptography can read."""
    pem = _bounded("ca_certificate", value, MAX_CA).strip()
    if not pem:
        return ""
    try:
        x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ParameterInvalid("ca_certificate", "is not a PEM-encoded certificate") from None
    return pem + "\n"


# --- rows ------------------------------------------------------------------------------------


async def create(spec: RegistrySpec, sealer: Sealer) -> RemoteRegistry:
    """Store a registry; RegistryNameTaken when the name is in use."""
    await _name_free(spec.name)
    try:
        return await RemoteRegistry.create(
            **_columns(spec), access_secret=_sealed(spec.access_secret or "", sealer)
        )
    except IntegrityError:
        raise RegistryNameTaken(spec.name) from None


async def update(registry: RemoteRegistry, spec: RegistrySpec, sealer: Sealer) -> bool:
    """Change registry as spec says; whether the stored secret changed (a new one given, or
    the old one dropped because the URL changed). The status is unknown again when the
    address or the credentials change."""
    if spec.name != registry.name:
        await _name_free(spec.name, registry.id)
    secret = spec.access_secret
    if secret is None and spec.url != registry.url:
        secret = ""
    reached_anew = (spec.url, spec.access_key, spec.insecure, spec.ca_certificate) != (
        registry.url, registry.access_key, registry.insecure, registry.ca_certificate
    ) or secret is not None  # fmt: skip
    changes: dict[str, Any] = _columns(spec) | {"updated_at": datetime.now(UTC)}
    if secret is not None:
        changes["access_secret"] = _sealed(secret, sealer)
    if reached_anew:
        changes["status"] = UNKNOWN
    try:
        await RemoteRegistry.filter(id=registry.id).update(**changes)
    except IntegrityError:
        raise RegistryNameTaken(spec.name) from None
    had_one = registry.access_secret != ""
    return secret is not None and (secret != "" or had_one)


async def delete(registry_id: int) -> RemoteRegistry:
    """Delete a registry no policy uses; RegistryUnknown, RegistryInUse."""
    registry = await get(registry_id)
    users = await ReplicationPolicy.filter(
        Q(src_registry_id=registry_id) | Q(dest_registry_id=registry_id)
    ).values_list("name", flat=True)
    if users:
        raise RegistryInUse(registry_id, [str(name) for name in users])
    await RemoteRegistry.filter(id=registry_id).delete()
    return registry


async def get(registry_id: int) -> RemoteRegistry:
    registry = await RemoteRegistry.get_or_none(id=registry_id)
    if registry is None:
        raise RegistryUnknown(registry_id)
    return registry


async def listing(
    filters: dict[str, Any], order: list[str], offset: int, limit: int
) -> tuple[list[RemoteRegistry], int]:
    """Registries matching filters (Tortoise keyword filters), in order (by id if none)."""
    query = RemoteRegistry.filter(**filters)
    rows = await query.order_by(*(order or ["id"])).offset(offset).limit(limit)
    return list(rows), await query.count()


async def set_status(registry_id: int, status: str) -> None:
    """Record what the last ping found (healthy / unhealthy)."""
    await RemoteRegistry.filter(id=registry_id).update(status=status)


async def reach(target: Endpoint) -> str | None:
    """Why the registry at target does not answer /v2/ with its credentials (one line, as a
    RemoteError says it), or None when it does. One attempt, no retries: a ping answers
    now."""
    try:
        async with RemoteClient(target, retries=0, stall=PING_STALL) as client:
            await client.ping()
    except RemoteError as exc:
        return str(exc) or type(exc).__name__
    return None


def endpoint(registry: RemoteRegistry, sealer: Sealer, **overrides: Any) -> Endpoint:
    """How a client reaches registry (its secret opened; RegistrySecretUnreadable when no
    key opens it); overrides replace fields of the Endpoint (a ping trying other
    credentials)."""
    try:
        password = sealer.unseal(registry.access_secret) if registry.access_secret else ""
    except SealBroken:
        raise RegistrySecretUnreadable(registry.name) from None
    reached = Endpoint(
        url=registry.url,
        username=registry.access_key,
        password=password,
        insecure=registry.insecure,
        ca_certificate=registry.ca_certificate,
        requests_per_second=registry.requests_per_second,
    )
    return replace(reached, **overrides) if overrides else reached


def ping_registry_id(body: dict[str, Any]) -> int | None:
    """The stored registry a RegistryPing body names by id, or None (a full address)."""
    value = body.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise ParameterInvalid("id", "must be a registry id")
    return value


def ping_endpoint(
    body: dict[str, Any], registry: RemoteRegistry | None, sealer: Sealer
) -> tuple[Endpoint, bool]:
    """What a RegistryPing body asks to reach, and whether that is the stored registry with
    its own credentials. For a stored registry only the credentials may differ (Harbor: its
    stored address is not to be redirected with its secret); MASK is the stored secret.
    Otherwise type and url are required."""
    key, secret = body.get("access_key"), body.get("access_secret")
    if secret == MASK:
        secret = None
    if registry is not None:
        overrides: dict[str, Any] = {}
        if key is not None:
            overrides["username"] = _bounded("access_key", key, MAX_KEY)
        if secret is not None:
            overrides["password"] = _bounded("access_secret", secret, MAX_SECRET)
        return endpoint(registry, sealer, **overrides), not overrides
    if body.get("type") not in TYPES:
        raise ParameterInvalid("type", f"must be one of {', '.join(TYPES)}")
    target = Endpoint(
        url=normalize_url(body.get("url")),
        username=_bounded("access_key", key, MAX_KEY),
        password=_bounded("access_secret", secret, MAX_SECRET),
        insecure=parse_bool("insecure", body.get("insecure") or False),
        ca_certificate=check_ca_certificate(body.get("ca_certificate")),
    )
    return target, False


def _columns(spec: RegistrySpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "url": spec.url,
        "type": spec.type,
        "description": spec.description,
        "credential_type": spec.credential_type,
        "access_key": spec.access_key,
        "insecure": spec.insecure,
        "ca_certificate": spec.ca_certificate,
        "requests_per_second": spec.requests_per_second,
    }


def _sealed(secret: str, sealer: Sealer) -> str:
    return sealer.seal(secret) if secret else ""


async def _name_free(name: str, own_id: int | None = None) -> None:
    taken = await RemoteRegistry.filter(name=name).exclude(id=own_id or 0).exists()
    if taken:
        raise RegistryNameTaken(name)
