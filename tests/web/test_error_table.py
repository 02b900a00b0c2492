"""Every domain error names exactly one kind, and both surfaces have a code for it."""

from __future__ import annotations

import pytest

import web.app  # noqa: F401  (imports every room, so every error class is defined)
from models import errors as kinds
from models.errors import BerthError
from web.errors import HARBOR_CODES, OCI_CODES, STATUS

KINDS = {
    kinds.InvalidInput, kinds.NotFound, kinds.AlreadyExists, kinds.Denied, kinds.Unauthorized,
    kinds.Throttled, kinds.Unavailable, kinds.Unsupported, kinds.PreconditionFailed,
    kinds.TooLarge,
}  # fmt: skip


def every_error() -> list[type[BerthError]]:
    found, todo = [], list(BerthError.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__name__}")


@pytest.mark.parametrize("error", every_error(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_each_error_is_of_exactly_one_kind(error: type[BerthError]) -> None:
    assert len(KINDS & set(error.__mro__)) == 1, error.__mro__


def test_both_tables_cover_every_kind() -> None:
    assert set(STATUS) == set(OCI_CODES) == set(HARBOR_CODES) == set(kinds.Kind)
