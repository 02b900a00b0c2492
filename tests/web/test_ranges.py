from __future__ import annotations

import pytest

from core.errors import RangeInvalid
from web.v2.blobs import parse_range


@pytest.mark.parametrize(("header", "expected"), [
    pytest.param("bytes=0-9", (0, 9), id="first-ten"),
    pytest.param("bytes=5-", (5, 99), id="open-ended"),
    pytest.param("bytes=-10", (90, 99), id="suffix"),
    pytest.param("bytes=90-500", (90, 99), id="end-clamped"),
    pytest.param("bytes=-500", (0, 99), id="suffix-longer-than-blob"),
])
def test_satisfiable_ranges(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=50-10", "bytes=-", "items=0-1",
                                    "bytes=0-1,5-6", "bytes=abc"])
def test_unsatisfiable_or_malformed_ranges_are_416(header: str) -> None:
    with pytest.raises(RangeInvalid):
        parse_range(header, 100)
