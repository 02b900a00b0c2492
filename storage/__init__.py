"""Blob storage drivers behind one Protocol, and the factory that picks one."""

from __future__ import annotations

from pathlib import Path

from storage.base import Appender, StorageDriver, StorageKeyMissing, StorageUnavailable
from storage.config import S3Config
from storage.filesystem import FilesystemDriver

__all__ = [
    "Appender",
    "S3Config",
    "StorageDriver",
    "StorageKeyMissing",
    "StorageUnavailable",
    "build_driver",
]

DRIVERS = ("filesystem", "s3")


def build_driver(driver: str, root: Path, s3: S3Config | None = None) -> StorageDriver:
    """Build the configured driver; the only place that looks at the driver's name."""
    if driver == "filesystem":
        return FilesystemDriver(root)
    if driver == "s3":
        if s3 is None:
            raise ValueError("the s3 storage driver needs its settings (storage.s3_bucket, ...)")
        from storage.s3 import S3Driver  # botocore loads in a second: only when it is used

        return S3Driver(s3)
    raise ValueError(f"unknown storage driver {driver!r}; known: {', '.join(DRIVERS)}")
