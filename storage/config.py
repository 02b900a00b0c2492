"""What a driver needs to know beyond its name (plain data: built from the settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class S3Config:
    """Where the bucket is and how to sign (no key: botocore's usual credential chain)."""

    bucket: str
    endpoint: str | None = None
    region: str = "us-east-1"
    path_style: bool = False
    access_key: str | None = None
    secret_key: str | None = None
