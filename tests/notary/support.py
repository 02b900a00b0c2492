"""What the Notary tests share: the two trust servers a differential test drives (the
reference notary-server behind Berth's token service, and Berth's own Notary API), GUNs in
Berth's form, and the record of what a user saw, compared between the two.

A GUN is `127.0.0.1:PORT/library/<name>` with Berth's own address, on both servers: Berth's
token service strips the host part before it checks the rights, for the reference's tokens
as for its own.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.factories import unique
from tests.notary.cli import NotaryClient, Outcome, Target, delegations_of, key_roles_of, targets_of
from tests.notary.reference import ReferenceNotary
from tests.notary.updates import TrustApi, trust_token
from tests.support import ADMIN, RunningBerth

REFERENCE, BERTH = "reference", "berth"
FILES = {"v1": b"first release\n", "v2": b"second release, a little longer\n"}  # what tags sign


def target(tag: str, role: str = "targets") -> Target:
    """The row `notary list` shows for a tag signed for one of FILES."""
    return Target(tag, hashlib.sha256(FILES[tag]).hexdigest(), len(FILES[tag]), role)


def payload(home: Path, tag: str) -> str:
    """The file of FILES that tag signs, written under home; its path."""
    path = home / f"{tag}.txt"
    path.write_bytes(FILES[tag])
    return str(path)


@dataclass
class TrustServer:
    """One Notary v1 server under test, and the Berth whose token service guards it."""

    name: str  # REFERENCE or BERTH
    url: str
    berth: RunningBerth
    ca: Path | None = None  # the CAs a client trusts (its certificate's); None for plain HTTP

    @classmethod
    def reference(cls, notary: ReferenceNotary, berth: RunningBerth) -> TrustServer:
        """The reference, trusted with its CA and Berth's: a notary client takes one set of
        CAs for the trust server and the token service its challenge names."""
        cas = notary.ca.read_text() + (berth.ca.read_text() if berth.ca else "")
        bundle = notary.folder / "client-cas.crt"
        bundle.write_text(cas)
        return cls(REFERENCE, notary.url, berth, bundle)

    @classmethod
    def of_berth(cls, berth: RunningBerth) -> TrustServer:
        return cls(BERTH, berth.url, berth, berth.ca)

    def gun(self, project: str = "library") -> str:
        return f"{self.berth.host}/{project}/{unique('n')}"

    def client(self, home: Path, credentials: tuple[str, str] | None = ADMIN) -> NotaryClient:
        """A notary CLI with a trust dir of its own under home."""
        return NotaryClient(self.url, home, self.ca, credentials)

    @property
    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=str(self.ca)) if self.ca else True

    def api(self, gun: str) -> TrustApi:
        return TrustApi(self.url, gun, self.verify)

    def token(
        self, gun: str, actions: str = "push,pull", auth: tuple[str, str] | None = ADMIN
    ) -> str:
        return trust_token(self.berth, gun, actions, auth)


@dataclass(frozen=True)
class Ran:
    """A command's exit code and its error line (placeholders for GUN and server)."""

    code: int
    fatal: str = ""


OK = Ran(0)


@dataclass
class Seen:
    """What a user saw at each step of a scenario, in order: step -> value. Output is kept
    with the scenario's GUN and the server's address replaced by placeholders, so that the
    same steps on two servers give equal records."""

    server: TrustServer
    gun: str
    steps: dict[str, Any] = field(default_factory=dict)

    def note(self, step: str, value: Any) -> Any:
        assert step not in self.steps, f"step {step!r} noted twice"
        self.steps[step] = self.plain(value)
        return self.steps[step]

    def run(self, step: str, client: NotaryClient, *args: str, stdin: str = "") -> Outcome:
        """Run a command, noting its exit code and error line."""
        outcome = client.run(*args, stdin=stdin)
        self.note(step, Ran(outcome.code, outcome.fatal))
        return outcome

    def table(self, step: str, client: NotaryClient, *args: str) -> Any:
        """Run a command that prints a table (`list`, `delegation list`, `key list`) and note
        its rows, or its Ran when it failed."""
        outcome = client.run(*args)
        if outcome.code != 0:
            return self.note(step, Ran(outcome.code, outcome.fatal))
        read = {"list": targets_of, "delegation": delegations_of, "key": key_roles_of}[args[0]]
        return self.note(step, read(outcome))

    def plain(self, value: Any) -> Any:
        """value with the GUN and the server's address (host:port) replaced; a GUN the CLI
        cut short in a table ("..." and its end) counts as the GUN."""
        if isinstance(value, str) and value.startswith("...") and self.gun.endswith(value[3:]):
            return "<GUN>"
        if isinstance(value, str):
            host = self.server.url.split("://", 1)[1]
            return value.replace(self.gun, "<GUN>").replace(host, "<SERVER>")
        if isinstance(value, tuple | list):
            return type(value)(self.plain(v) for v in value)
        if hasattr(value, "__dataclass_fields__"):
            return type(value)(
                **{k: self.plain(getattr(value, k)) for k in value.__dataclass_fields__}
            )
        return value


def differences(reference: Seen, berth: Seen) -> str:
    """The steps where Berth showed something else than the reference, one block each;
    "" when there are none."""
    lines = []
    for step in dict.fromkeys([*reference.steps, *berth.steps]):
        want, got = (
            reference.steps.get(step, "<not reached>"),
            berth.steps.get(step, "<not reached>"),
        )
        if want != got:
            lines.append(f"step {step!r}:\n  reference: {want!r}\n  berth:     {got!r}")
    return "\n".join(lines)


class References:
    """The reference's record of each scenario, made once per session: the Berth side of a
    differential test compares with it (and makes it, when run on its own)."""

    def __init__(self, server: TrustServer, folder: Path) -> None:
        self.server = server
        self.folder = folder
        self._seen: dict[str, Seen] = {}

    def check(self, seen: Seen, scenario: str, run: Callable[[TrustServer, Path], Seen]) -> None:
        """Keep the reference's record; fail a Berth record that differs from it, naming
        each step where it does."""
        if seen.server.name == REFERENCE:
            self.keep(scenario, seen)
            return
        found = differences(self.of(scenario, run), seen)
        assert not found, f"Berth differs from the reference notary-server:\n{found}"

    def keep(self, scenario: str, seen: Seen) -> None:
        self._seen[scenario] = seen

    def of(self, scenario: str, run: Callable[[TrustServer, Path], Seen]) -> Seen:
        """The reference's record of scenario; run(server, home) makes it if none is kept."""
        if scenario not in self._seen:
            self._seen[scenario] = run(self.server, self.folder / unique(scenario))
        return self._seen[scenario]
