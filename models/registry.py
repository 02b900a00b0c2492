"""Tortoise models of the registry: projects, repositories, blobs, manifests, tags, uploads."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Project(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=255, unique=True)
    public = fields.BooleanField(default=False)
    owner_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "project"


class Repository(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=255, unique=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="repositories", on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "repository"


class RepositoryDetail(Model):
    """What the repositories API tells of a repository beyond its name: the description a
    user sets, when it was last changed, and how many times its manifests were pulled. A
    table of its own, written by the pull log's flush (core.audit) and by updates, so the
    repository row the pull path reads is never rewritten."""

    repository: fields.OneToOneRelation[Repository] = fields.OneToOneField(
        "models.Repository", related_name="detail", on_delete=fields.CASCADE, primary_key=True
    )
    description = fields.TextField(default="")
    pull_count = fields.BigIntField(default=0)
    updated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "repository_detail"


class Blob(Model):
    """One stored blob, shared by every repository that links it.

    status/version move only by compare-and-set: none -> delete -> deleting (online GC,
    core/gc.py). Every push that uses the blob (an upload commit, a mount, a HEAD, a manifest
    naming it) puts it back to none and bumps version, so a collection's compare-and-set on
    the version it saw fails. touched_ms: the last such use (or, while deleting, when the
    collection claimed it), in epoch milliseconds; gc_run: the collection that marked it.
    """

    id = fields.IntField(primary_key=True)
    digest = fields.CharField(max_length=200, unique=True)
    size = fields.BigIntField()
    status = fields.CharField(max_length=16, default="none")
    version = fields.IntField(default=0)
    touched_ms = fields.BigIntField(default=0)
    gc_run = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "blob"  # the (status, touched_ms) index: models/db.py _EXTRA_SCHEMA


class RepositoryBlob(Model):
    """A blob is visible in a repository only through this link."""

    id = fields.IntField(primary_key=True)
    repository: fields.ForeignKeyRelation[Repository] = fields.ForeignKeyField(
        "models.Repository", related_name="blob_links", on_delete=fields.CASCADE
    )
    digest = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "repository_blob"
        unique_together = (("repository", "digest"),)


class Manifest(Model):
    """A manifest's exact bytes and what was read from them at push time."""

    id = fields.IntField(primary_key=True)
    repository: fields.ForeignKeyRelation[Repository] = fields.ForeignKeyField(
        "models.Repository", related_name="manifests", on_delete=fields.CASCADE
    )
    digest = fields.CharField(max_length=200)
    media_type = fields.CharField(max_length=255)
    artifact_type = fields.CharField(max_length=255, null=True)
    subject_digest = fields.CharField(max_length=200, null=True, db_index=True)
    annotations: fields.Field[dict[str, str] | None] = fields.JSONField(null=True)
    size = fields.BigIntField()
    content = fields.BinaryField()
    # deep verification by the push pipeline: pending | verified | failed
    verification = fields.CharField(max_length=16, default="pending")
    verification_reason = fields.TextField(null=True)
    verified_at = fields.DatetimeField(null=True)
    # signature trust (core/signatures.py): pending | verified | exempt | refused, the
    # reason when refused; trust_seq moves on each change that may alter it, so an
    # evaluation writes its result only over the state it read.
    trust = fields.CharField(max_length=16, default="pending")
    trust_reason = fields.TextField(null=True)
    trust_seq = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "manifest"
        unique_together = (("repository", "digest"),)


class ManifestDigest(Model):
    """A digest a manifest of the repository is known by: the one it was first pushed under
    (also Manifest.digest), any other a client pushed the same bytes under (sha512 and
    sha256), and always its sha256, the key that keeps one row per manifest. Every lookup
    by digest goes through here; deleting the manifest removes its digests."""

    id = fields.IntField(primary_key=True)
    repository: fields.ForeignKeyRelation[Repository] = fields.ForeignKeyField(
        "models.Repository", related_name="manifest_digests", on_delete=fields.CASCADE
    )
    digest = fields.CharField(max_length=200)
    manifest: fields.ForeignKeyRelation[Manifest] = fields.ForeignKeyField(
        "models.Manifest", related_name="digests", on_delete=fields.CASCADE, db_index=True
    )

    class Meta:
        table = "manifest_digest"
        unique_together = (("repository", "digest"),)


class ManifestReference(Model):
    """What a manifest names: blobs (config, layers) and child manifests (index entries)."""

    id = fields.IntField(primary_key=True)
    manifest: fields.ForeignKeyRelation[Manifest] = fields.ForeignKeyField(
        "models.Manifest", related_name="references", on_delete=fields.CASCADE
    )
    digest = fields.CharField(max_length=200, db_index=True)
    kind = fields.CharField(max_length=16)  # "blob" | "manifest"

    class Meta:
        table = "manifest_reference"


class ManifestPull(Model):
    """When a manifest was last pulled (the artifacts API's pull_time). A table of its own,
    written by the pull log's flush, so the pull path never writes and the manifest row
    (read on every pull) is never rewritten by one."""

    manifest: fields.OneToOneRelation[Manifest] = fields.OneToOneField(
        "models.Manifest", related_name="pull", on_delete=fields.CASCADE, primary_key=True
    )
    pulled_at = fields.DatetimeField()

    class Meta:
        table = "manifest_pull"


class Tag(Model):
    id = fields.IntField(primary_key=True)
    repository: fields.ForeignKeyRelation[Repository] = fields.ForeignKeyField(
        "models.Repository", related_name="tags", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=128)
    manifest: fields.ForeignKeyRelation[Manifest] = fields.ForeignKeyField(
        "models.Manifest", related_name="tags", on_delete=fields.CASCADE
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "tag"
        unique_together = (("repository", "name"),)


class UploadSession(Model):
    """An upload in progress; its bytes live at storage key uploads/<id>."""

    id = fields.CharField(max_length=64, primary_key=True)
    repository = fields.CharField(max_length=255)
    offset = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "upload_session"
