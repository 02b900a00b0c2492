"""Harbor's REST API v2.0 under /api/v2.0: one module per resource, one blueprint.

Each resource module defines its routes on `api` and is imported at the bottom of this file.
"""

from __future__ import annotations

from quart import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v2.0")

# Resource modules register their routes on `api` when imported (one line each).
from web.api import (  # noqa: E402
    accessories,  # noqa: F401
    artifacts,  # noqa: F401
    audit,  # noqa: F401
    configurations,  # noqa: F401
    docs,  # noqa: F401
    gc,  # noqa: F401
    health,  # noqa: F401
    immutable_rules,  # noqa: F401
    jobservice,  # noqa: F401
    labels,  # noqa: F401
    ldap,  # noqa: F401
    members,  # noqa: F401
    project_extras,  # noqa: F401
    projects,  # noqa: F401
    purgeaudit,  # noqa: F401
    quotas,  # noqa: F401
    registries,  # noqa: F401
    replication_executions,  # noqa: F401
    replication_policies,  # noqa: F401
    repositories,  # noqa: F401
    retentions,  # noqa: F401
    robots,  # noqa: F401
    schedules,  # noqa: F401
    search,  # noqa: F401
    sessions,  # noqa: F401
    signing_keys,  # noqa: F401
    systeminfo,  # noqa: F401
    usergroups,  # noqa: F401
    users,  # noqa: F401
    webhooks,  # noqa: F401
)
