"""Blob storage drivers behind one Protocol, and the factory that picks one."""

from __future__ import annotations

from pathlib import Path

from storage.base import Appender, StorageDriver, StorageKeyMissing
from storage.filesystem import FilesystemDriver

__all__ = ["Appender", "StorageDriver", "StorageKeyMissing", "build_driver"]


def build_driver(driver: str, root: Path) -> StorageDriver:
    """Build the configured driver; the only place that looks at the driver's name."""
    drivers = {"filesystem": FilesystemDriver}
    if driver not in drivers:
        raise ValueError(f"unknown storage driver {driver!r}; known: {', '.join(drivers)}")
    return drivers[driver](root)
