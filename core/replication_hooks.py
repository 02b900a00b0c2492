"""The CI webhook trigger of a replication policy: who may call it and what a delivery asks.

A delivery to /hooks/replication/{policy_id} carries no Berth credentials; it proves itself
with the policy's trigger secret, in one of three ways:

- GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`;
- Berth's own: `X-Berth-Signature: sha256=<hex>`, the same signature Berth's outgoing
  webhooks carry (core.webhooks.signature);
- GitLab: `X-Gitlab-Token: <the secret itself>` (GitLab sends the token, not a signature).

The first of these headers present decides; each is compared in constant time. The delivery
id (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID` or `Idempotency-Key`) makes a repeat start
nothing. A JSON body naming a repository (and a tag or a digest) narrows the run to that
artifact; any other body (GitHub's or GitLab's own push payloads, whose `repository` is an
object) runs the whole policy.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.digests import parse_digest
from core.names import validate_name, validate_path, validate_tag
from core.webhooks import SIGNATURE_HEADER, signature_matches
from models.errors import BerthError, InvalidInput, Unauthorized
from models.values import check_text

MAX_BODY = 1 << 20  # a delivery's body: GitHub caps its payloads at 25 MB, ours are small
GITHUB_SIGNATURE = "X-Hub-Signature-256"
GITLAB_TOKEN = "X-Gitlab-Token"
DELIVERY_HEADERS = ("X-GitHub-Delivery", "X-Gitlab-Event-UUID", "Idempotency-Key")
MAX_DELIVERY_ID = 255  # the column
SECRET_BYTES = 32
HOOK_PATH = "/hooks/replication/{}"


class HookRefused(Unauthorized):
    """A delivery that does not prove itself. The caller learns nothing more (no policy,
    no secret, a wrong signature all look alike); reason is for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__("the delivery's signature does not verify")
        self.reason = reason


class ScopeInvalid(InvalidInput):
    def __init__(self, reason: str) -> None:
        super().__init__(f"the delivery's body: {reason}")


def new_secret() -> str:
    """A fresh trigger secret (shown once to whoever made it; stored sealed)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def hook_path(policy_id: int) -> str:
    return HOOK_PATH.format(policy_id)


def verify(secret: str | None, body: bytes, headers: Mapping[str, str]) -> str:
    """Which sender's proof holds ("berth", "github", "gitlab"); HookRefused otherwise.
    secret None: the policy is unknown or has no trigger secret. headers: names in lower
    case (HTTP's are not case-sensitive)."""
    for header, source in ((SIGNATURE_HEADER, "berth"), (GITHUB_SIGNATURE, "github")):
        given = headers.get(header.lower())
        if given is not None:
            if secret is None:
                raise HookRefused("the policy is unknown or has no trigger secret")
            if not signature_matches(secret, body, given):
                raise HookRefused(f"{header} does not match the body")
            return source
    token = headers.get(GITLAB_TOKEN.lower())
    if token is not None:
        if secret is None:
            raise HookRefused("the policy is unknown or has no trigger secret")
        if not hmac.compare_digest(token.encode(), secret.encode()):
            raise HookRefused(f"{GITLAB_TOKEN} is not the trigger secret")
        return "gitlab"
    raise HookRefused(f"no {SIGNATURE_HEADER}, {GITHUB_SIGNATURE} or {GITLAB_TOKEN} header")


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """The delivery's id, from the first of DELIVERY_HEADERS present; None without one.
    headers: names in lower case."""
    for header in DELIVERY_HEADERS:
        value = headers.get(header.lower())
        if value is not None and value.strip():
            return check_text(header, value.strip(), MAX_DELIVERY_ID)
    return None


@dataclass(frozen=True, slots=True)
class HookScope:
    repository: str
    reference: str | None  # a tag or a digest; None: every artifact of the repository

    def as_dict(self) -> dict[str, Any]:
        return {"repository": self.repository, "reference": self.reference}


def parse_scope(body: bytes, local_repository: bool) -> HookScope | None:
    """What a delivery's body narrows the run to; None for the whole policy. ScopeInvalid
    for a body that names a repository, tag or digest badly. local_repository: the name is
    this registry's (push mode: it must name a project)."""
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        return None  # not JSON: the sender's own format, the whole policy
    if not isinstance(data, dict) or not isinstance(data.get("repository"), str):
        return None  # GitHub's / GitLab's payloads name the repository by an object
    try:
        return _scope(data, local_repository)
    except ScopeInvalid:
        raise
    except BerthError as exc:  # a name, tag or digest the grammar refuses
        raise ScopeInvalid(exc.message) from None


def _scope(data: dict[str, Any], local_repository: bool) -> HookScope:
    repository = check_text("repository", str(data["repository"]).strip(), 255)
    (validate_name if local_repository else validate_path)(repository)
    tag, digest = data.get("tag"), data.get("digest")
    if tag is not None and digest is not None:
        raise ScopeInvalid("name a tag or a digest, not both")
    if tag is not None:
        if not isinstance(tag, str):
            raise ScopeInvalid("tag must be a string")
        return HookScope(repository, validate_tag(tag))
    if digest is not None:
        if not isinstance(digest, str):
            raise ScopeInvalid("digest must be a string")
        return HookScope(repository, str(parse_digest(digest)))
    return HookScope(repository, None)
