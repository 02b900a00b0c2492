"""Tortoise ORM models and database start-up; no business logic here."""

from models.db import close_database, fetch, open_database
from models.registry import (
    Blob,
    Manifest,
    ManifestReference,
    Project,
    Repository,
    RepositoryBlob,
    Tag,
    UploadSession,
)

__all__ = [
    "Blob",
    "Manifest",
    "ManifestReference",
    "Project",
    "Repository",
    "RepositoryBlob",
    "Tag",
    "UploadSession",
    "close_database",
    "fetch",
    "open_database",
]
