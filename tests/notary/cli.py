"""A driver for the real `notary` CLI (Debian's notary 0.7.0).

Each client has its own trust dir (keys and cached trust data) and HOME, so nothing is
shared between tests or read from the machine's ~/.notary. Passphrases come from the
environment variables the CLI reads (NOTARY_ROOT_PASSPHRASE, ...). Credentials for the
token flow come from NOTARY_AUTH, base64 of `user:password`, which the CLI's password store
reads before it would prompt on the terminal; without credentials, standard input is
empty, so a prompt reads end-of-file and the CLI goes on as an anonymous caller.

The tables the CLI prints (`list`, `delegation list`, `key list`) are read by the columns
their dashed header line marks out, as a person reads them.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import require_tool

PASSPHRASES = {
    "NOTARY_ROOT_PASSPHRASE": "root-Passphrase-1",
    "NOTARY_TARGETS_PASSPHRASE": "targets-Passphrase-1",
    "NOTARY_SNAPSHOT_PASSPHRASE": "snapshot-Passphrase-1",
    "NOTARY_DELEGATION_PASSPHRASE": "delegation-Passphrase-1",
}
TIMEOUT = 120  # seconds for one command; the CLI's own HTTP timeouts are shorter


@dataclass(frozen=True)
class Outcome:
    """What one command showed: its exit code and output."""

    code: int
    stdout: str
    stderr: str

    @property
    def fatal(self) -> str:
        """The CLI's error line (`* fatal: ...`, on either stream), or "" without one."""
        found = re.findall(r"^\* fatal: (.*)$", self.stdout + self.stderr, re.MULTILINE)
        return found[-1] if found else ""

    def describe(self) -> str:
        return f"exit {self.code}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


@dataclass(frozen=True, order=True)
class Target:
    name: str
    digest: str  # hex sha256
    size: int
    role: str


@dataclass(frozen=True, order=True)
class Delegation:
    role: str
    paths: str
    key_ids: str
    threshold: str


class NotaryClient:
    """One user's notary CLI against one trust server."""

    def __init__(
        self,
        server: str,
        home: Path,
        tlscacert: Path | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.binary = require_tool("notary")
        self.server = server
        self.home = home
        self.trust_dir = home / "trust"
        self.tlscacert = tlscacert
        self.credentials = credentials
        home.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            **PASSPHRASES,
        }
        if self.credentials is not None:
            plain = ":".join(self.credentials).encode()
            env["NOTARY_AUTH"] = base64.b64encode(plain).decode()
        return env

    def run(self, *args: str, stdin: str = "") -> Outcome:
        """Run `notary -s SERVER -d TRUSTDIR [--tlscacert CA] ARGS...` to its end."""
        cmd = [self.binary, "-s", self.server, "-d", str(self.trust_dir)]
        if self.tlscacert is not None:
            cmd += ["--tlscacert", str(self.tlscacert)]
        done = subprocess.run(
            [*cmd, *args],
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=self.home,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> Outcome:
        """Run a command that must succeed; fail the test with its output otherwise."""
        outcome = self.run(*args)
        assert outcome.code == 0, (
            f"`notary {' '.join(args)}` against {self.server}: {outcome.describe()}"
        )
        return outcome


def targets_of(outcome: Outcome) -> list[Target]:
    """The rows of `notary list GUN`, sorted by name."""
    return sorted(Target(r[0], r[1], int(r[2]), r[3]) for r in table(outcome.stdout))


def delegations_of(outcome: Outcome) -> list[Delegation]:
    """The rows of `notary delegation list GUN`."""
    return sorted(Delegation(*r) for r in table(outcome.stdout))


def key_roles_of(outcome: Outcome) -> list[tuple[str, str]]:
    """`notary key list` as (role, gun) pairs: the key ids are the trust dir's own."""
    return sorted((r[0], r[1]) for r in table(outcome.stdout))


def table(output: str) -> list[list[str]]:
    """The rows of a table the CLI printed, cut at the columns its dashed line marks out;
    [] when it printed none (as for "No targets present in this repository.")."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(r"-+(\s+-+)*\s*", line) and i > 0:
            starts = [m.start() for m in re.finditer(r"-+", line)]
            bounds = [*starts[1:], None]
            rows = []
            for row in lines[i + 1 :]:
                if not row.strip():
                    break
                rows.append([row[a:b].strip() for a, b in zip(starts, bounds, strict=True)])
            return rows
    return []
