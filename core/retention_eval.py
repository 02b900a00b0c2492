"""Which artifacts of a repository a retention policy keeps: pure, no database.

Harbor's semantics (src/pkg/retention): a policy's algorithm is "or" — an artifact stays
when any enabled rule retains it, and every other artifact of a repository the policy looks
at is deleted, with all of its tags. A rule looks at the repositories its scope selectors
match (the name inside the project, "app/web" of "library/app/web") and, of their
artifacts, those its tag selectors match; of those its template keeps:

    latestPushedK       the K most recently pushed
    latestPulledN       the N most recently pulled (never pulled counts as pulled at 0)
    nDaysSinceLastPush  those pushed within the last N days
    nDaysSinceLastPull  those pulled within the last N days
    always              all of them

An artifact's push time is the latest of its own and its tags' push times, its pull time
its last pull. A tag selector "matches" takes an artifact when any of its tags matches the
pattern, "excludes" when any of its tags does not; an untagged artifact is taken when the
selector's `untagged` extra says so (Harbor's default: yes for matches, no for excludes).
Ties in the latest-K templates go to the artifact whose digest sorts first, so a run is
repeatable. A repository no enabled rule looks at is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.replication_globs import match

LATEST_PUSHED, LATEST_PULLED = "latestPushedK", "latestPulledN"
DAYS_SINCE_PUSH, DAYS_SINCE_PULL, ALWAYS = "nDaysSinceLastPush", "nDaysSinceLastPull", "always"
TEMPLATES = (LATEST_PUSHED, LATEST_PULLED, DAYS_SINCE_PUSH, DAYS_SINCE_PULL, ALWAYS)
MATCHES, EXCLUDES = "matches", "excludes"
REPO_MATCHES, REPO_EXCLUDES = "repoMatches", "repoExcludes"
_NEVER = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True, slots=True)
class Selector:
    """A doublestar selector: decoration matches | excludes (tags) or repoMatches |
    repoExcludes (repositories); untagged: whether a tag selector takes untagged artifacts."""

    decoration: str
    pattern: str
    untagged: bool = True

    def takes_repository(self, name: str) -> bool:
        return match(self.pattern, name) != (self.decoration == REPO_EXCLUDES)

    def takes_tags(self, tags: tuple[str, ...]) -> bool:
        if not tags:
            return self.untagged
        if self.decoration == EXCLUDES:
            return any(not match(self.pattern, t) for t in tags)
        return any(match(self.pattern, t) for t in tags)


@dataclass(frozen=True, slots=True)
class Rule:
    """One retention rule; n: its template's parameter (unused by always)."""

    template: str
    n: int = 0
    tag_selectors: tuple[Selector, ...] = ()
    scope_selectors: tuple[Selector, ...] = ()
    disabled: bool = False

    def looks_at(self, repository: str) -> bool:
        return not self.disabled and all(
            s.takes_repository(repository) for s in self.scope_selectors
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One artifact of a repository: its digest, tags and times (None: never pulled)."""

    repository: str
    digest: str
    tags: tuple[str, ...] = ()
    push_time: datetime = _NEVER
    pull_time: datetime | None = None


@dataclass(slots=True)
class Verdict:
    """What a policy does to one repository's artifacts (in the order given)."""

    retained: list[Candidate] = field(default_factory=list)
    deleted: list[Candidate] = field(default_factory=list)


def rules_for(rules: Iterable[Rule], repository: str) -> list[Rule]:
    """The enabled rules whose scope takes the repository (its name inside the project)."""
    return [r for r in rules if r.looks_at(repository)]


def evaluate(rules: Iterable[Rule], candidates: list[Candidate], now: datetime) -> Verdict:
    """Split one repository's artifacts into retained and deleted under the rules (the
    repository's name inside its project is each candidate's). No rule looks at it: all
    retained."""
    kept: set[str] = set()
    looking = False
    for rule in rules:
        if not candidates or not rule.looks_at(candidates[0].repository):
            continue
        looking = True
        taken = [c for c in candidates if all(s.takes_tags(c.tags) for s in rule.tag_selectors)]
        kept |= {c.digest for c in _kept_by(rule, taken, now)}
    if not looking:
        return Verdict(retained=list(candidates))
    verdict = Verdict()
    for c in candidates:
        (verdict.retained if c.digest in kept else verdict.deleted).append(c)
    return verdict


def _kept_by(rule: Rule, taken: list[Candidate], now: datetime) -> list[Candidate]:
    if rule.template == ALWAYS:
        return taken
    if rule.template == LATEST_PUSHED:
        return _latest(taken, lambda c: c.push_time, rule.n)
    if rule.template == LATEST_PULLED:
        return _latest(taken, _pulled, rule.n)
    since = now - timedelta(days=rule.n)
    if rule.template == DAYS_SINCE_PUSH:
        return [c for c in taken if c.push_time >= since]
    if rule.template == DAYS_SINCE_PULL:
        return [c for c in taken if _pulled(c) >= since]
    raise ValueError(f"unknown retention template {rule.template!r}")


def _latest(
    taken: list[Candidate], time_of: Callable[[Candidate], datetime], n: int
) -> list[Candidate]:
    by_digest = sorted(taken, key=lambda c: c.digest)
    return sorted(by_digest, key=time_of, reverse=True)[:n]  # stable: digest breaks ties


def _pulled(c: Candidate) -> datetime:
    return c.pull_time or _NEVER
