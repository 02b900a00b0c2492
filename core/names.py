"""Repository names and tags, by the distribution spec's grammar."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.digests import is_digest
from core.errors import NameInvalid, TagInvalid, TooManyTags
from models.values import ParameterInvalid

MAX_NAME_LENGTH = 255
MAX_TAG_LENGTH = 128  # the grammar below
# Tags one manifest PUT may set with `tag` parameters: the spec asks for at least 10; the
# one OCI-Tag answer line stays well under every client's header limit.
MAX_PUSH_TAGS = 50
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


def validate_path(name: str) -> str:
    """A repository name by the spec's grammar, with or without a project (another
    registry's may have none); NameInvalid otherwise."""
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(name[:64] + "...", f"longer than {MAX_NAME_LENGTH} characters")
    if not _NAME_RE.match(name):
        raise NameInvalid(name, "must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/...)*")
    return name


def validate_name(name: str) -> str:
    """Return the project (first path component); raise NameInvalid otherwise."""
    validate_path(name)
    project, sep, _rest = name.partition("/")
    if not sep:
        raise NameInvalid(name, "a repository lives in a project: use <project>/<name>")
    return project


def is_path(value: str) -> bool:
    """Whether value is a path of the grammar's components, of one part or more (a
    namespace such as a replication destination's)."""
    return len(value) <= MAX_NAME_LENGTH and _NAME_RE.match(value) is not None


def validate_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise TagInvalid(tag)
    return tag


def push_tags(reference: str, tags: Sequence[str]) -> list[str]:
    """The tags a manifest PUT sets with `tag` parameters (the distribution spec's tag
    parameters), each checked, in order, without repeats. Only a PUT by digest takes them:
    the spec defines them for it alone, and a PUT by tag naming other tags is refused
    rather than half understood. TagInvalid, TooManyTags, ParameterInvalid."""
    if not tags:
        return []
    if not is_digest(reference):
        raise ParameterInvalid("tag", f"is for a PUT by digest; this PUT names tag {reference}")
    wanted = list(dict.fromkeys(tags))
    if len(wanted) > MAX_PUSH_TAGS:
        raise TooManyTags(len(wanted), MAX_PUSH_TAGS)
    return [validate_tag(tag) for tag in wanted]
