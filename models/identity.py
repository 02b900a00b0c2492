"""Tortoise models of identity: users, groups, project members, robots, settings, throttles."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class User(Model):
    """A person who logs in: local (password hash here) or from LDAP (ldap_dn set)."""

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=255, unique=True)
    email = fields.CharField(max_length=255, null=True, unique=True)
    realname = fields.CharField(max_length=255, default="")
    comment = fields.CharField(max_length=255, default="")
    password_hash = fields.CharField(max_length=255, null=True)
    sysadmin = fields.BooleanField(default=False)
    ldap_dn = fields.CharField(max_length=512, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "berth_user"


class UserGroup(Model):
    """A group whose members share a project role; LDAP groups are named by their DN."""

    id = fields.IntField(primary_key=True)
    group_name = fields.CharField(max_length=255)
    group_type = fields.IntField(default=1)  # Harbor: 1 LDAP, 2 HTTP, 3 OIDC
    ldap_group_dn = fields.CharField(max_length=512, null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "user_group"


class ProjectMember(Model):
    """A user ("u") or group ("g") with a role in a project."""

    id = fields.IntField(primary_key=True)
    project_id = fields.IntField(db_index=True)
    entity_type = fields.CharField(max_length=1)
    entity_id = fields.IntField()
    role = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "project_member"
        unique_together = (("project_id", "entity_type", "entity_id"),)


class Robot(Model):
    """A robot account: a secret and a list of permissions, system- or project-level."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=255, unique=True)  # full name, robot$...
    description = fields.CharField(max_length=1024, default="")
    secret_hash = fields.CharField(max_length=255)
    level = fields.CharField(max_length=16)  # "system" | "project"
    project_id = fields.IntField(null=True)
    disabled = fields.BooleanField(default=False)
    duration = fields.IntField(default=-1)  # days; -1 never expires
    expires_at = fields.DatetimeField(null=True)
    permissions: fields.Field[list[dict[str, object]]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "robot"


class ConfigEntry(Model):
    """One system configuration value (auth_mode, ldap_*, self_registration, ...)."""

    key = fields.CharField(max_length=128, primary_key=True)
    value: fields.Field[object] = fields.JSONField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "config_entry"


class LoginThrottle(Model):
    """Failed logins per user name or client address, shared by every replica."""

    key = fields.CharField(max_length=300, primary_key=True)  # "user:<name>" | "addr:<ip>"
    failures = fields.IntField(default=0)
    window_start = fields.DatetimeField()

    class Meta:
        table = "login_throttle"


class GroupMembership(Model):
    """A user's membership of a group, as the directory said at the user's last login."""

    id = fields.IntField(primary_key=True)
    user_id = fields.IntField(db_index=True)
    group_id = fields.IntField()

    class Meta:
        table = "group_membership"
        unique_together = (("user_id", "group_id"),)
