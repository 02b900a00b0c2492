"""Tortoise models of Docker Content Trust: the Notary v1 trust data Berth serves (every
version of every role's signed metadata, per GUN), its change feed, the keys Berth holds
for the roles it signs (timestamp, and snapshot where the server manages it), and the
signed tags derived from trust data that verified, which the pull path reads."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class TrustFile(Model):
    """One version of one role's signed metadata for a GUN, byte for byte as served (its
    sha256 is of these bytes). role: root, targets, targets/<delegation>, snapshot,
    timestamp. Nothing is overwritten: a newer version is a new row."""

    id = fields.IntField(primary_key=True)
    gun = fields.CharField(max_length=255)
    role = fields.CharField(max_length=255)
    version = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    data = fields.BinaryField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "trust_file"
        unique_together = (("gun", "role", "version"),)
        indexes = (("gun", "role", "sha256"),)


class TrustChange(Model):
    """The change feed: one row per new timestamp of a GUN (category update) and one per
    deletion of its trust data (category deletion), as notary-server records them."""

    id = fields.IntField(primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    gun = fields.CharField(max_length=255, db_index=True)
    version = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    category = fields.CharField(max_length=16)

    class Meta:
        table = "trust_change"


class TrustKey(Model):
    """A key Berth signs a GUN's timestamp or snapshot with (ECDSA P-256), its private
    half sealed with the settings' key-encryption key. key_id: the TUF key id (sha256 hex
    of the canonical JSON of the public key). The newest of a GUN's role is the one a
    client is given; the one its root names is the one that signs."""

    id = fields.IntField(primary_key=True)
    gun = fields.CharField(max_length=255)
    role = fields.CharField(max_length=16)
    key_id = fields.CharField(max_length=64)
    public = fields.TextField()  # base64 of the SubjectPublicKeyInfo DER, as TUF carries it
    private_sealed = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "trust_key"
        unique_together = (("gun", "role", "key_id"),)


class TrustTarget(Model):
    """A tag signed in a repository's trust data (targets or a delegation) that verified
    from root down when it was stored. repository: the GUN without its host part, as
    Berth names it. expires: the soonest expiry (epoch seconds) of the chain that signs
    it; past it, the tag counts as unsigned."""

    id = fields.IntField(primary_key=True)
    repository = fields.CharField(max_length=255)
    gun = fields.CharField(max_length=255)
    tag = fields.CharField(max_length=255)
    digest = fields.CharField(max_length=80)
    length = fields.BigIntField()
    role = fields.CharField(max_length=255)
    expires = fields.BigIntField()

    class Meta:
        table = "trust_target"
        indexes = (("repository", "tag"), ("repository", "digest"), ("gun",))
