"""Tag immutability: a project's rules (Harbor's ImmutableRule) and what they refuse.

A rule names repositories by a doublestar pattern (repoMatches / repoExcludes, matched on the
name after the project, as Harbor does) and tags by another (matches / excludes). A tag an
enabled rule selects cannot be moved to another digest, nor deleted, nor can the artifact
that carries it; a first push of the tag, or a push of the same content again, is allowed.

    await immutable_tags(project_id, "library/app", ["v1", "latest"])   # {"v1"}

The push and delete paths of both APIs call the `refuse_*` checks (core/registry.py,
core/artifacts.py, services/artifacts.py); retention and tag listings call immutable_tags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core import replication_globs as globs
from core.errors import TagImmutable
from models import ImmutableRule, Manifest, Tag, fetch
from models.errors import InvalidInput, NotFound

MAX_RULES = 15  # per project, as Harbor
MAX_PATTERN = 256
ACTION, TEMPLATE, KIND = "immutable", "immutable_template", "doublestar"
TAG_DECORATIONS = ("matches", "excludes")
REPOSITORY_DECORATIONS = ("repoMatches", "repoExcludes")
_MAX_INT = 2**31 - 1

# cosign's accessory tags (a signature, attestation or SBOM of sha256:<hex>): Harbor keeps
# them as accessories, not tags, so no rule makes them immutable (a re-signing moves one)
_ACCESSORY_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(sig|att|sbom)$")
_RULES = (
    "SELECT tag_selectors, scope_selectors FROM immutable_rule"
    " WHERE project_id = ? AND NOT disabled ORDER BY priority, id"
)


class RuleInvalid(InvalidInput):
    """An ImmutableRule body the service cannot accept; the reason names the field."""


class RuleUnknown(NotFound):
    def __init__(self, rule_id: int) -> None:
        super().__init__(f"immutable tag rule {rule_id} not found")


class TooManyRules(InvalidInput):
    def __init__(self) -> None:
        super().__init__(f"a project has at most {MAX_RULES} immutable tag rules")


@dataclass(frozen=True, slots=True)
class Selector:
    decoration: str
    pattern: str
    extras: str | None = None

    def selects(self, value: str) -> bool:
        """Whether value passes: a match for matches / repoMatches, none for the excludes."""
        matched = globs.match(self.pattern, value)
        return matched != (self.decoration in ("excludes", "repoExcludes"))

    def shown(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": KIND, "decoration": self.decoration}
        out["pattern"] = self.pattern
        if self.extras is not None:
            out["extras"] = self.extras
        return out


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A validated ImmutableRule body."""

    priority: int
    disabled: bool
    tag: Selector
    repository: Selector
    params: dict[str, Any]


def parse_rule(body: dict[str, Any]) -> RuleSpec:
    """Check a Harbor ImmutableRule body; RuleInvalid naming the field otherwise."""
    if body.get("action", ACTION) != ACTION:
        raise RuleInvalid(f"action must be {ACTION!r}")
    if body.get("template", TEMPLATE) != TEMPLATE:
        raise RuleInvalid(f"template must be {TEMPLATE!r}")
    priority = body.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= _MAX_INT:
        raise RuleInvalid(f"priority must be a whole number 0..{_MAX_INT}")
    disabled = body.get("disabled", False)
    if not isinstance(disabled, bool):
        raise RuleInvalid("disabled must be a boolean")
    params = body.get("params")
    params = {} if params is None else params
    if not isinstance(params, dict) or len(json.dumps(params)) > 4096:
        raise RuleInvalid("params must be an object (at most 4096 bytes as JSON)")
    scopes = body.get("scope_selectors")
    if not isinstance(scopes, dict) or set(scopes) != {"repository"}:
        raise RuleInvalid('scope_selectors must be {"repository": [one selector]}')
    tag = _selector("tag_selectors", body.get("tag_selectors"), TAG_DECORATIONS)
    repository = _selector(
        "scope_selectors.repository", scopes["repository"], REPOSITORY_DECORATIONS
    )
    return RuleSpec(priority, disabled, tag, repository, params)


def _selector(field: str, value: object, decorations: tuple[str, ...]) -> Selector:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise RuleInvalid(f"{field} must be a list of one selector")
    given = value[0]
    if given.get("kind", KIND) != KIND:
        raise RuleInvalid(f"{field}: kind must be {KIND!r}")
    decoration = given.get("decoration")
    if decoration not in decorations:
        raise RuleInvalid(f"{field}: decoration must be one of {', '.join(decorations)}")
    pattern = given.get("pattern")
    if not isinstance(pattern, str) or not 1 <= len(pattern) <= MAX_PATTERN:
        raise RuleInvalid(f"{field}: pattern must be a string of 1..{MAX_PATTERN} characters")
    try:
        globs.check(pattern)
    except globs.PatternInvalid as exc:
        raise RuleInvalid(f"{field}: {exc.message}") from None
    extras = given.get("extras")
    if extras is not None and (not isinstance(extras, str) or len(extras) > 1024):
        raise RuleInvalid(f"{field}: extras must be a string of at most 1024 characters")
    return Selector(str(decoration), pattern, extras)


# --- the rules -----------------------------------------------------------------------------


def _fields(spec: RuleSpec) -> dict[str, Any]:
    return {
        "priority": spec.priority,
        "disabled": spec.disabled,
        "tag_selectors": [spec.tag.shown()],
        "scope_selectors": {"repository": [spec.repository.shown()]},
        "params": spec.params,
    }


async def list_rules(
    project_id: int, offset: int, limit: int, filters: dict[str, Any], order: list[str]
) -> tuple[list[ImmutableRule], int]:
    query = ImmutableRule.filter(project_id=project_id, **filters)
    total = await query.count()
    rows = await query.order_by(*order, "priority", "id").offset(offset).limit(limit)
    return list(rows), total


async def get_rule(project_id: int, rule_id: int) -> ImmutableRule:
    rule = await ImmutableRule.get_or_none(id=rule_id, project_id=project_id)
    if rule is None:
        raise RuleUnknown(rule_id)
    return rule


async def create_rule(project_id: int, spec: RuleSpec) -> int:
    """Store a rule (in the caller's transaction); TooManyRules past MAX_RULES."""
    if await ImmutableRule.filter(project_id=project_id).count() >= MAX_RULES:
        raise TooManyRules()
    rule = await ImmutableRule.create(project_id=project_id, **_fields(spec))
    return int(rule.id)


async def update_rule(project_id: int, rule_id: int, body: dict[str, Any]) -> str:
    """Apply an ImmutableRule body, as Harbor does: a body whose `disabled` differs from the
    rule's only switches it; any other replaces the rule's settings. What changed, for the
    audit."""
    if "id" in body and body["id"] != rule_id:
        raise RuleInvalid("id does not match the immutable_rule_id of the path")
    rule = await get_rule(project_id, rule_id)
    disabled = body.get("disabled", rule.disabled)
    if not isinstance(disabled, bool):
        raise RuleInvalid("disabled must be a boolean")
    if disabled != rule.disabled:
        await ImmutableRule.filter(id=rule_id).update(disabled=disabled)
        return "disabled" if disabled else "enabled"
    spec = parse_rule(body)
    await ImmutableRule.filter(id=rule_id).update(**_fields(spec))
    return f"{describe(rule_selectors(rule))} -> {describe((spec.repository, spec.tag))}"


async def delete_rule(project_id: int, rule_id: int) -> ImmutableRule:
    rule = await get_rule(project_id, rule_id)
    await ImmutableRule.filter(id=rule_id).delete()
    return rule


def rule_selectors(rule: ImmutableRule) -> tuple[Selector, Selector]:
    """A stored rule's (repository, tag) selectors."""
    return _stored(rule.scope_selectors, rule.tag_selectors)


def describe(selectors: tuple[Selector, Selector]) -> str:
    repository, tag = selectors
    return (
        f"repositories {repository.decoration} {repository.pattern!r},"
        f" tags {tag.decoration} {tag.pattern!r}"
    )


def _stored(scopes: object, tags: object) -> tuple[Selector, Selector]:
    # a raw read returns JSON text
    scopes = json.loads(scopes) if isinstance(scopes, str | bytes) else scopes
    tags = json.loads(tags) if isinstance(tags, str | bytes) else tags
    repository = scopes["repository"][0]  # type: ignore[index]
    tag = tags[0]  # type: ignore[index]
    return (
        Selector(repository["decoration"], repository["pattern"]),
        Selector(tag["decoration"], tag["pattern"]),
    )


# --- what the rules protect ----------------------------------------------------------------


async def immutable_tags(project_id: int, repository: str, tags: Iterable[str]) -> set[str]:
    """Which of tags, in the repository (its full name, "library/app"), an enabled rule of
    the project protects: one query for the rules, matched here. For the push and delete
    checks, tag listings and retention (which must never delete one). cosign's
    sha256-<hex>.sig / .att / .sbom tags are accessories, never immutable."""
    wanted = [t for t in dict.fromkeys(tags) if not _ACCESSORY_TAG.match(t)]
    if not wanted:
        return set()
    rows = await fetch(_RULES, project_id)
    if not rows:
        return set()
    name = repository.split("/", 1)[1] if "/" in repository else repository
    protected: set[str] = set()
    for selected, scopes in rows:
        repo_selector, tag_selector = _stored(scopes, selected)
        if repo_selector.selects(name):
            protected.update(t for t in wanted if tag_selector.selects(t))
    return protected


async def refuse_moves(
    project_id: int, repository: str, repo_id: int, tags: list[str], manifest_id: int
) -> set[str]:
    """Raise TagImmutable when a push would move a protected tag to another manifest; the
    protected tags among those not there yet (their first push, which the caller must
    insert and never update, so a concurrent first push fails rather than moves it)."""
    protected = await immutable_tags(project_id, repository, tags)
    if not protected:
        return set()
    present = dict(
        await Tag.filter(repository_id=repo_id, name__in=sorted(protected)).values_list(
            "name", "manifest_id"
        )
    )
    for tag in sorted(protected):
        if tag in present and present[tag] != manifest_id:
            raise TagImmutable(repository, tag)
    return protected - set(present)


async def refuse_tag_delete(project_id: int | None, repository: str, tag: str) -> None:
    """Raise TagImmutable when a rule protects the tag (project_id None: the repository's)."""
    if await immutable_tags(await _project_of(project_id, repository), repository, [tag]):
        raise TagImmutable(repository, tag, "deleted")


async def refuse_artifact_delete(
    project_id: int | None, repository: str, manifest_ids: list[int]
) -> None:
    """Raise TagImmutable when a tag on one of the manifests is protected."""
    if not manifest_ids:
        return
    names = await Tag.filter(manifest_id__in=manifest_ids).values_list("name", flat=True)
    if not names:
        return
    project = await _project_of(project_id, repository)
    protected = await immutable_tags(project, repository, [str(n) for n in names])
    if protected:
        raise TagImmutable(repository, sorted(protected)[0], "deleted")


async def refuse_repository_delete(project_id: int, repository: str, repo_id: int) -> None:
    """Raise TagImmutable when a tag of the repository is protected."""
    if not await fetch(_RULES, project_id):
        return
    manifests = await Manifest.filter(repository_id=repo_id).values_list("id", flat=True)
    await refuse_artifact_delete(project_id, repository, [int(str(m)) for m in manifests])


async def _project_of(project_id: int | None, repository: str) -> int:
    if project_id is not None:
        return project_id
    rows = await fetch("SELECT project_id FROM repository WHERE name = ?", repository)
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]
