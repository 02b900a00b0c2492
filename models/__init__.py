"""Tortoise ORM models and database start-up; no business logic here."""

from models.audit import AuditEvent
from models.db import close_database, execute, fetch, open_database, refresh_statistics
from models.gc import GcRun, JobRun, PurgeRun
from models.identity import (
    ConfigEntry,
    GroupMembership,
    LoginThrottle,
    ProjectMember,
    Robot,
    User,
    UserGroup,
)
from models.immutability import ImmutableRule
from models.jobs import Job, JobQueueState, Lease, Schedule, WorkerPool
from models.labels import ArtifactLabel, Label
from models.quota import ProjectBlob, Quota
from models.registry import (
    Blob,
    Manifest,
    ManifestDigest,
    ManifestPull,
    ManifestReference,
    Project,
    Repository,
    RepositoryBlob,
    RepositoryDetail,
    Tag,
    UploadSession,
)
from models.replication import (
    RemoteRegistry,
    ReplicationExecution,
    ReplicationPolicy,
    ReplicationTask,
)
from models.retention import RetentionExecution, RetentionPolicy, RetentionTask
from models.signing import ProjectKey, ProjectMetadata, Signature
from models.trust import TrustChange, TrustFile, TrustKey, TrustTarget
from models.webhooks import WebhookExecution, WebhookPolicy

__all__ = [
    "AuditEvent",
    "ConfigEntry",
    "GcRun",
    "JobRun",
    "PurgeRun",
    "GroupMembership",
    "Job",
    "Lease",
    "Schedule",
    "LoginThrottle",
    "ProjectMember",
    "Robot",
    "User",
    "UserGroup",
    "Blob",
    "Manifest",
    "ManifestDigest",
    "ManifestPull",
    "RepositoryDetail",
    "ManifestReference",
    "Project",
    "Repository",
    "RepositoryBlob",
    "Tag",
    "UploadSession",
    "TrustChange",
    "TrustFile",
    "TrustKey",
    "TrustTarget",
    "RemoteRegistry",
    "ReplicationExecution",
    "ReplicationPolicy",
    "ReplicationTask",
    "ProjectKey",
    "ProjectMetadata",
    "Signature",
    "WebhookExecution",
    "WebhookPolicy",
    "ProjectBlob",
    "Quota",
    "RetentionExecution",
    "RetentionPolicy",
    "RetentionTask",
    "ArtifactLabel",
    "ImmutableRule",
    "Label",
    "close_database",
    "execute",
    "fetch",
    "open_database",
    "refresh_statistics",
    "JobQueueState",
    "WorkerPool",
]
