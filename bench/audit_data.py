"""Realistic audit events for the audit benchmark, generated fast and reproducibly.

A registry's audit log is mostly pulls, then pushes, then logins; the rest (projects,
members, robots, users, webhooks, configuration) is a thin tail. A few hundred accounts and
robots, about fifty projects with their repositories and versions, client addresses and user
agents per account, times spread evenly over the last 90 days with ids in time order (as
events are written). The same seed gives the same events, so runs are comparable.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SEED = 2026


def _names(text: str) -> list[str]:
    return text.split()


DAYS = 90
FIRST_NAMES = _names(
    "alice bob carol dave erin frank grace heidi ivan judy karl laura mallory niaj olivia peggy "
    "quentin rupert sybil trent ursula victor walter xena yusuf zoe amara bruno chiara dmitri "
    "elena farid greta hiro ingrid jonas kenji leila mateo nadia"
)
LAST_NAMES = _names(
    "smith jones garcia miller davis martin lopez wilson moore taylor thomas white harris "
    "clark lewis walker young king wright scott green baker adams nelson hill campbell"
)
PROJECT_NAMES = _names(
    "library payments checkout search catalog identity billing ledger ml-models data-lake "
    "frontend mobile-api gateway platform infra observability logging metrics tracing "
    "security scanner ci-tools build-cache docs marketing analytics reporting warehouse "
    "inventory shipping notifications email sms chat media thumbnails recommendations "
    "ads fraud risk compliance hr finance legal sandbox staging edge iot firmware"
)
APPS = _names(
    "api worker web cron proxy db-migrate ingest exporter sidecar agent ui backend "
    "frontend scheduler consumer producer cache gateway auth admin"
)
FAILURES = (
    "blob unknown to registry",
    "denied: requested access to the resource is denied",
    "manifest invalid: layer digest mismatch",
    "unauthorized: authentication required",
    "project not found",
    "tag is immutable",
)
ROLES = ("projectAdmin", "maintainer", "developer", "guest", "limitedGuest")


def _docker(rng: random.Random) -> str:
    minor = rng.choice(("27.5.1", "28.0.4", "28.1.1", "28.2.2"))
    go = rng.choice(("go1.23.8", "go1.24.3", "go1.24.4"))
    kernel = rng.choice(("6.8.0-60-generic", "6.1.0-37-amd64", "5.15.0-139-generic"))
    return (
        f"docker/{minor} go/{go} git-commit/{rng.getrandbits(28):07x} kernel/{kernel} "
        f"os/linux arch/amd64 UpstreamClient(Docker-Client/{minor} \\(linux\\))"
    )


def _user_agents(rng: random.Random) -> list[str]:
    pool = [_docker(rng) for _ in range(12)]
    pool += [f"containerd/v1.7.{n}" for n in (22, 24, 27)] + ["containerd/v2.0.5"]
    pool += [f"skopeo/1.{n}.0" for n in (13, 15, 18)] + ["podman/5.2.2", "podman/4.9.3"]
    pool += ["cri-o/1.30.4 go/go1.22.5 os/linux arch/amd64", "helm/v3.16.3", "oras/1.2.2"]
    return pool


BROWSERS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/137.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:139.0) Gecko/20100101 Firefox/139.0",
    "python-httpx/0.28.1",
    "curl/8.14.1",
)


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    addresses: tuple[str, ...]
    agents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Artifact:
    project: str
    repository: str
    tag: str
    digest: str


class World:
    """Accounts, projects, repositories and artifacts the events are about."""

    def __init__(self, rng: random.Random, users: int = 300, artifacts: int = 20_000) -> None:
        self.projects = list(PROJECT_NAMES)
        agents = _user_agents(rng)
        self.humans = self._humans(rng, users, agents)
        self.robots = [
            Account(f"robot${p}+ci", (self._address(rng),), (rng.choice(agents),))
            for p in self.projects
        ]
        # A few heavy accounts (CI robots, deploy bots) do most of the work: Zipf weights.
        everyone = self.robots + self.humans
        rng.shuffle(everyone)
        self.accounts = everyone
        self.account_weights = list(
            itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(len(everyone)))
        )
        self.artifacts = self._artifacts(rng, artifacts)
        # Recent and popular versions are pulled most.
        self.artifact_weights = list(
            itertools.accumulate(1 / (i + 1) ** 0.6 for i in range(len(self.artifacts)))
        )

    @staticmethod
    def _address(rng: random.Random) -> str:
        if rng.random() < 0.05:
            return f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def _humans(self, rng: random.Random, count: int, agents: list[str]) -> list[Account]:
        names = [f"{f}.{last}" for f in FIRST_NAMES for last in LAST_NAMES]
        rng.shuffle(names)
        humans = []
        for name in names[:count]:
            addresses = tuple(self._address(rng) for _ in range(rng.randint(1, 3)))
            tools = tuple(rng.sample(agents, 2)) + (rng.choice(BROWSERS),)
            humans.append(Account(name, addresses, tools))
        return humans

    def _artifacts(self, rng: random.Random, count: int) -> list[Artifact]:
        repositories = [
            (project, f"{project}/{app}")
            for project in self.projects
            for app in rng.sample(APPS, rng.randint(3, 12))
        ]
        artifacts = []
        for _ in range(count):
            project, repository = rng.choice(repositories)
            tag = f"{rng.randint(0, 3)}.{rng.randint(0, 30)}.{rng.randint(0, 60)}"
            artifacts.append(
                Artifact(project, repository, tag, f"sha256:{rng.getrandbits(256):064x}")
            )
        return artifacts


# (operation, resource type, share of all events)
MIX: tuple[tuple[str, str, float], ...] = (
    ("pull", "artifact", 0.72),
    ("create", "artifact", 0.12),
    ("login", "user", 0.05),
    ("create", "tag", 0.03),
    ("delete", "tag", 0.015),
    ("delete", "artifact", 0.02),
    ("logout", "user", 0.01),
    ("create", "repository", 0.008),
    ("delete", "repository", 0.004),
    ("create", "project_member", 0.003),
    ("update", "project_member", 0.002),
    ("delete", "project_member", 0.002),
    ("create", "robot", 0.002),
    ("update", "robot", 0.001),
    ("delete", "robot", 0.001),
    ("update", "user", 0.002),
    ("create", "user", 0.001),
    ("create", "project", 0.001),
    ("update", "project", 0.001),
    ("delete", "project", 0.0005),
    ("create", "webhook_policy", 0.0005),
    ("update", "webhook_policy", 0.0005),
    ("update", "configuration", 0.0003),
)
KINDS = [(op, kind) for op, kind, _ in MIX]
KIND_WEIGHTS = list(itertools.accumulate(share for _, _, share in MIX))


class EventSource:
    """Yields batches of event rows (dicts of AuditEvent fields) in id and time order."""

    def __init__(
        self, total: int, end: datetime | None = None, seed: int = SEED, days: float = DAYS
    ) -> None:
        self.rng = random.Random(seed)
        self.world = World(self.rng)
        self.total = total
        self.end = (end or datetime.now(UTC)).replace(microsecond=0)
        self.start = self.end - timedelta(days=days)
        self.step = (self.end - self.start).total_seconds() / max(total, 1)
        self.made = 0

    def batches(self, size: int, until: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """Batches of at most size rows, until `until` rows (default: total) were made."""
        stop = min(until if until is not None else self.total, self.total)
        while self.made < stop:
            count = min(size, stop - self.made)
            yield self.batch(count)

    def batch(self, count: int) -> list[dict[str, Any]]:
        rng, world = self.rng, self.world
        kinds = rng.choices(KINDS, cum_weights=KIND_WEIGHTS, k=count)
        accounts = rng.choices(world.accounts, cum_weights=world.account_weights, k=count)
        artifacts = rng.choices(world.artifacts, cum_weights=world.artifact_weights, k=count)
        rows = []
        for (operation, kind), account, artifact in zip(kinds, accounts, artifacts, strict=True):
            moment = self.start + timedelta(seconds=(self.made + rng.random()) * self.step)
            self.made += 1
            rows.append(self._row(moment, operation, kind, account, artifact))
        return rows

    def _row(
        self, moment: datetime, operation: str, kind: str, account: Account, artifact: Artifact
    ) -> dict[str, Any]:
        rng = self.rng
        resource, project, description = self._resource(operation, kind, account, artifact)
        success = rng.random() >= 0.02
        if not success:
            reason = rng.choice(FAILURES)
            description = f"{description}: {reason}" if description else reason
        return {
            "occurred_at": moment,
            "username": account.name,
            "operation": operation,
            "resource_type": kind,
            "resource": resource,
            "project": project,
            "success": success,
            "client_address": rng.choice(account.addresses),
            "user_agent": rng.choice(account.agents),
            "description": description,
        }

    def _resource(
        self, operation: str, kind: str, account: Account, artifact: Artifact
    ) -> tuple[str, str, str]:
        """(resource, project, description) as Berth's own recording writes them."""
        a, rng = artifact, self.rng
        if kind == "artifact":
            if operation == "pull" and rng.random() < 0.3:  # pinned by digest (Kubernetes)
                return f"{a.repository}@{a.digest}", a.project, ""
            if operation == "delete":
                return f"{a.repository}@{a.digest}", a.project, ""
            return f"{a.repository}:{a.tag}@{a.digest}", a.project, ""
        if kind == "tag":
            return f"{a.repository}:{rng.choice(('latest', 'stable', a.tag))}", a.project, ""
        if kind == "repository":
            return a.repository, a.project, ""
        if kind == "project":
            return a.project, a.project, f"public: {str(rng.random() < 0.3).lower()}"
        if kind == "project_member":
            who = rng.choice(self.world.humans).name
            return f"user {who}", a.project, f"role: {rng.choice(ROLES)}"
        if kind == "robot":
            return f"robot${a.project}+{rng.choice(APPS)}", a.project, "level: project"
        if kind == "webhook_policy":
            return f"{a.project}-hooks", a.project, "event_types: PUSH_ARTIFACT, DELETE_ARTIFACT"
        if kind == "configuration":
            return "configuration", "", "auth_mode: db_auth -> ldap_auth"
        if kind == "user" and operation in ("update", "create"):
            return rng.choice(self.world.humans).name, "", "email changed"
        return account.name, "", ""  # login, logout
