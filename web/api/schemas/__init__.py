"""Pydantic models of Harbor's API v2.0 bodies: one module per resource.

Request models subclass `common.RequestBody` (unknown fields ignored, types strict, as Harbor's
Go decoder is); response models subclass `common.Closed` (no field beyond those declared, so the
OpenAPI document says additionalProperties: false and a fuzzer catches any drift).
"""
