"""Tortoise models of signing: a project's settings, the keys it signs with or trusts, and
the signatures Berth holds with their verdicts."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.registry import Manifest, Repository


class ProjectMetadata(Model):
    """One of a project's settings, as Harbor keeps them: a name and a string value
    ("true"/"false" for switches). Names: public is on the project row itself; here
    enable_content_trust_cosign, enable_content_trust, sign_on_push (Berth's)."""

    id = fields.IntField(primary_key=True)
    project_id = fields.IntField(db_index=True)
    name = fields.CharField(max_length=64)
    value = fields.CharField(max_length=255)

    class Meta:
        table = "project_metadata"
        unique_together = (("project_id", "name"),)


class ProjectKey(Model):
    """A key a project signs with (kind signing: ECDSA P-256, its private half sealed) or
    trusts for signatures made elsewhere (kind cosign: a public key; kind notation-root: an
    X.509 root certificate). status: active (the one signing key that signs now), retired
    (a former signing key, still trusted until removed), trusted (an uploaded key).
    key_id: sha256:<hex> of the public key's SubjectPublicKeyInfo (of the certificate's DER
    for a root)."""

    id = fields.IntField(primary_key=True)
    project_id = fields.IntField(db_index=True)
    key_id = fields.CharField(max_length=80)
    kind = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16)
    name = fields.CharField(max_length=128, default="")
    public_pem = fields.TextField()
    private_sealed = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    retired_at = fields.DatetimeField(null=True)

    class Meta:
        table = "project_key"
        unique_together = (("project_id", "key_id"),)


class Signature(Model):
    """One signature Berth holds over one artifact, and its verdict against the project's
    keys as they were at checked_at. manifest: the signature's own manifest (a cosign .sig
    image, a Sigstore bundle or a notation referrer); layer: which of its layers (a .sig
    holds one signature per layer). format: cosign | sigstore-bundle | notation. status:
    verified | untrusted | mismatch | invalid (signer.verdicts)."""

    id = fields.IntField(primary_key=True)
    repository: fields.ForeignKeyRelation[Repository] = fields.ForeignKeyField(
        "models.Repository", related_name="signatures", on_delete=fields.CASCADE
    )
    subject_digest = fields.CharField(max_length=200)
    manifest: fields.ForeignKeyRelation[Manifest] = fields.ForeignKeyField(
        "models.Manifest", related_name="signature_rows", on_delete=fields.CASCADE
    )
    signature_digest = fields.CharField(max_length=200)
    manifest_id: int
    repository_id: int
    layer = fields.IntField(default=0)
    format = fields.CharField(max_length=32)
    key_id = fields.CharField(max_length=80, default="")
    status = fields.CharField(max_length=16)
    reason = fields.TextField(default="")
    checked_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "signature"
        unique_together = (("manifest", "layer"),)
        indexes = (("repository_id", "subject_digest"),)
