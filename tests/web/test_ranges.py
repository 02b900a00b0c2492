from __future__ import annotations

import pytest

from core.errors import RangeInvalid
from web.v2.blobs import parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-9", (0, 9), id="first-ten"),
        pytest.param("bytes=5-", (5, 99), id="open-ended"),
        pytest.param("bytes=-10", (90, 99), id="suffix"),
        pytest.param("bytes=90-500", (90, 99), id="end-clamped"),
        pytest.param("bytes=-500", (0, 99), id="suffix-longer-than-blob"),
    ],
)
def test_satisfiable_ranges(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_ranges_outside_the_blob_are_416(header: str) -> None:
    with pytest.raises(RangeInvalid):
        parse_range(header, 100)


@pytest.mark.parametrize(
    "header", ["items=0-1", "bytes=0-1,5-6", "bytes=abc", "bytes=-", "bytes=50-10"]
)
def test_ranges_to_ignore_give_the_whole_blob(header: str) -> None:
    assert parse_range(header, 100) is None
