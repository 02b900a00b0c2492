"""Who may do what on a repository. The access issue fills in the permission table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of a request; username None is anonymous."""

    username: str | None = None
    address: str | None = None


def check_repository(identity: Identity, repository: str, action: Action) -> bool:
    """True when identity may perform action on repository.

    Until users, roles and tokens land, the registry is open: every caller may do everything.
    """
    return True
