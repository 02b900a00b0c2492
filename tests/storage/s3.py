"""The S3 driver on the session's SeaweedFS, on a bucket of the contract suite's own, emptied
before each test (a bucket per test would make weed grow volumes for each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import S3Config, build_driver
from storage.s3 import S3Driver
from tests.peers import SeaweedS3

BUCKET = "contract"


def s3_config(store: SeaweedS3, bucket: str | None = None, **changes: str) -> S3Config:
    fields = {
        "bucket": bucket or store.bucket,
        "endpoint": store.endpoint,
        "region": "us-east-1",
        "path_style": True,
        "access_key": store.access_key,
        "secret_key": store.secret_key,
        **changes,
    }
    return S3Config(**fields)  # type: ignore[arg-type]


def s3_driver(_root: Path, request: pytest.FixtureRequest) -> S3Driver:
    """A driver on an empty bucket of the session's SeaweedFS (skipped without weed)."""
    store: SeaweedS3 = request.getfixturevalue("seaweedfs")
    store.empty_bucket(BUCKET)
    driver = build_driver("s3", _root, s3_config(store, BUCKET))
    assert isinstance(driver, S3Driver)
    return driver
