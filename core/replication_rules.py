"""What a replication policy says: its body checked (`parse_policy`), and the rules the engine
applies (`Rules`): which repositories, tags, labels and kinds of artifact to copy, and where
each repository goes at the destination. Pure: no database, no network.

Harbor's meanings throughout (src/pkg/reg/model/policy.go, src/pkg/reg/filter,
src/controller/replication/model and flow/stage.go). A policy has exactly one remote side:
push mode names dest_registry (the source is this Berth), pull mode src_registry.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from core import mediatypes
from core.names import MAX_NAME_LENGTH, is_path
from core.replication_globs import PatternInvalid, check, literal_paths, match
from core.replication_platforms import PLATFORM, Platform, PlatformInvalid, parse_platforms, spelled
from core.schedules import harbor_cron
from models import ReplicationPolicy
from models.errors import InvalidInput
from models.values import ParameterInvalid, check_text, parse_bool

NAME, TAG, LABEL, RESOURCE = "name", "tag", "label", "resource"
FILTER_TYPES = (NAME, TAG, LABEL, RESOURCE, PLATFORM)  # platform: Berth's own
MATCHES, EXCLUDES = "matches", "excludes"
IMAGE, ARTIFACT = "image", "artifact"
MANUAL, SCHEDULED, EVENT_BASED = "manual", "scheduled", "event_based"
TRIGGER_TYPES = (MANUAL, SCHEDULED, EVENT_BASED)
HARBOR = "harbor"  # a registry type whose repositories need at least two path parts
MAX_FILTERS, MAX_PATTERN, MAX_LABELS = 20, 512, 50
MAX_DESCRIPTION = 2000
MAX_REPLACE_COUNT = 127  # Harbor keeps it in an int8
MAX_ID = 2**31 - 1
MAX_SPEED = 2**31 - 1  # KB/s
_IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)


class PolicyInvalid(ParameterInvalid):
    """A policy body the service cannot accept; parameter names the field."""


class NamespaceTooDeep(InvalidInput):
    """dest_namespace_replace_count is larger than the repository has path parts before its
    name (the last part, which is never replaced)."""

    def __init__(self, repository: str, count: int) -> None:
        before = repository.split("/")[:-1]
        super().__init__(
            f"the repository {repository!r} has only {len(before)} path part(s) before its"
            f" name ({'/'.join(before) or 'none'}), but dest_namespace_replace_count is {count}"
        )
        self.repository = repository
        self.count = count


class DestinationInvalid(InvalidInput):
    """The destination name would not be a repository the destination can hold."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"the destination repository {name!r} {reason}")


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A checked ReplicationPolicy body. Registry ids: None is this Berth. filters and
    trigger in Harbor's JSON ({type, value[, decoration]}, {type, trigger_settings: {cron}});
    schedule_cron: croniter's spelling of a scheduled trigger's cron, else None."""

    name: str
    description: str
    src_registry_id: int | None
    dest_registry_id: int | None
    dest_namespace: str
    dest_namespace_replace_count: int
    filters: list[dict[str, Any]]
    trigger: dict[str, Any]
    override: bool
    replicate_deletion: bool
    enabled: bool
    speed: int
    copy_by_chunk: bool
    single_active_replication: bool
    schedule_cron: str | None

    @property
    def remote_registry_id(self) -> int:
        """The other side's registry (exactly one side is remote)."""
        return int(self.src_registry_id or self.dest_registry_id or 0)

    def columns(self) -> dict[str, Any]:
        """The replication_policy columns this spec sets."""
        return {
            "name": self.name,
            "description": self.description,
            "src_registry_id": self.src_registry_id,
            "dest_registry_id": self.dest_registry_id,
            "dest_namespace": self.dest_namespace,
            "dest_namespace_replace_count": self.dest_namespace_replace_count,
            "filters": self.filters,
            "trigger": self.trigger,
            "override": self.override,
            "replicate_deletion": self.replicate_deletion,
            "enabled": self.enabled,
            "speed": self.speed,
            "copy_by_chunk": self.copy_by_chunk,
            "single_active_replication": self.single_active_replication,
        }


def parse_policy(body: dict[str, Any], current: ReplicationPolicy | None = None) -> PolicySpec:
    """Harbor's ReplicationPolicy body. Creating (current None): name and a registry side
    are required, the rest takes Harbor's defaults (override and enabled on). Updating: a
    field the body leaves out keeps current's value; naming either registry side replaces
    both. PolicyInvalid naming the field; whether the registry exists is the caller's check."""
    old = _current_fields(current)
    name = _name(body.get("name", old.get("name")))
    description = _text("description", body.get("description", old.get("description", "")))
    src, dest = _sides(body, old)
    namespace = _namespace(body.get("dest_namespace", old.get("dest_namespace", "")))
    count = _replace_count(
        body.get("dest_namespace_replace_count", old.get("dest_namespace_replace_count", -1))
    )
    filters = _filters(body.get("filters", old.get("filters", [])))
    trigger, cron = _trigger(body.get("trigger", old.get("trigger")))
    deletion_key = "replicate_deletion" if "replicate_deletion" in body else "deletion"
    single = _flag(body, "single_active_replication", old, False)
    if trigger["type"] == EVENT_BASED and dest is None:
        raise PolicyInvalid(
            "trigger.type",
            "event_based fires on this registry's own pushes and deletions: only a push"
            " policy (one with dest_registry) can have it",
        )
    if single and trigger["type"] == EVENT_BASED:
        raise PolicyInvalid(
            "single_active_replication", "is not allowed with an event_based trigger"
        )
    spec = PolicySpec(
        name=name,
        description=description,
        src_registry_id=src,
        dest_registry_id=dest,
        dest_namespace=namespace,
        dest_namespace_replace_count=count,
        filters=filters,
        trigger=trigger,
        override=_flag(body, "override", old, True),
        replicate_deletion=_flag(body, deletion_key, old, False, "replicate_deletion"),
        enabled=_flag(body, "enabled", old, True),
        speed=_speed(body.get("speed", old.get("speed", 0))),
        copy_by_chunk=_flag(body, "copy_by_chunk", old, False),
        single_active_replication=single,
        schedule_cron=cron,
    )
    check_destinations(spec)
    return spec


def _current_fields(current: ReplicationPolicy | None) -> dict[str, Any]:
    if current is None:
        return {}
    return {
        "name": current.name,
        "description": current.description,
        "src_registry": {"id": current.src_registry_id or 0},
        "dest_registry": {"id": current.dest_registry_id or 0},
        "dest_namespace": current.dest_namespace,
        "dest_namespace_replace_count": current.dest_namespace_replace_count,
        "filters": current.filters,
        "trigger": current.trigger,
        "override": current.override,
        "replicate_deletion": current.replicate_deletion,
        "enabled": current.enabled,
        "speed": current.speed,
        "copy_by_chunk": current.copy_by_chunk,
        "single_active_replication": current.single_active_replication,
    }


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyInvalid("name", "is required")
    return check_text("name", value.strip(), MAX_NAME_LENGTH)


def _text(field: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PolicyInvalid(field, "must be a string")
    return check_text(field, value, MAX_DESCRIPTION)


def _sides(body: dict[str, Any], old: dict[str, Any]) -> tuple[int | None, int | None]:
    """(src_registry_id, dest_registry_id): exactly one of them names a registry."""
    named = "src_registry" in body or "dest_registry" in body
    source = body if named else old
    src = _registry_id("src_registry", source.get("src_registry"))
    dest = _registry_id("dest_registry", source.get("dest_registry"))
    if (src is None) == (dest is None):
        raise PolicyInvalid(
            "src_registry",
            "or dest_registry must name a registry, and the other one be empty (this Berth)",
            "exactly one of src_registry and dest_registry must name a registry; the other"
            " side is this Berth",
        )
    return src, dest


def _registry_id(field: str, value: object) -> int | None:
    """A side's registry id; None (or 0) is this Berth."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PolicyInvalid(field, "must be an object with the registry's id")
    registry_id = value.get("id", 0)
    if registry_id is None:
        return None
    if isinstance(registry_id, bool) or not isinstance(registry_id, int):
        raise PolicyInvalid(f"{field}.id", "must be a number")
    if not 0 <= registry_id <= MAX_ID:
        raise PolicyInvalid(f"{field}.id", f"must be 0..{MAX_ID}")
    return registry_id or None


def _namespace(value: object) -> str:
    """Empty (keep the repository's own path) or a repository path (the name grammar)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise PolicyInvalid("dest_namespace", "must be a string")
    check_text("dest_namespace", value, MAX_NAME_LENGTH)
    if not is_path(value):
        raise PolicyInvalid(
            "dest_namespace",
            "must be a repository path: lower-case letters and digits, with . _ - inside a"
            " part and / between parts",
        )
    return value


def _replace_count(value: object) -> int:
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyInvalid("dest_namespace_replace_count", "must be a number")
    if not -1 <= value <= MAX_REPLACE_COUNT:
        raise PolicyInvalid(
            "dest_namespace_replace_count", f"must be -1 (legacy) or 0..{MAX_REPLACE_COUNT}"
        )
    return value


def _speed(value: object) -> int:
    """KB/s per task; a negative speed is 0, unlimited (Harbor)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyInvalid("speed", "must be a number of KB/s (0: unlimited)")
    if value > MAX_SPEED:
        raise PolicyInvalid("speed", f"must be at most {MAX_SPEED}")
    return max(value, 0)


def _flag(
    body: dict[str, Any], key: str, old: dict[str, Any], default: bool, field: str = ""
) -> bool:
    field = field or key
    value = body[key] if key in body else old.get(field, default)
    return default if value is None else parse_bool(field, value)


# --- filters ---------------------------------------------------------------------------------


def _filters(value: object) -> list[dict[str, Any]]:
    """Harbor's filters, each checked (type, value, decoration) and its pattern parsed."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PolicyInvalid("filters", "must be a list")
    if len(value) > MAX_FILTERS:
        raise PolicyInvalid("filters", f"may hold at most {MAX_FILTERS} filters")
    checked = [_filter(n, item) for n, item in enumerate(value)]
    if sum(f["type"] == PLATFORM for f in checked) > 1:
        raise PolicyInvalid("filters", "may hold one platform filter: list every platform in it")
    return checked


def _filter(n: int, item: object) -> dict[str, Any]:
    field = f"filters[{n}]"
    if not isinstance(item, dict):
        raise PolicyInvalid(field, "must be an object {type, value, decoration}")
    kind = item.get("type")
    if kind not in FILTER_TYPES:
        raise PolicyInvalid(f"{field}.type", f"must be one of {', '.join(FILTER_TYPES)}")
    decoration = item.get("decoration") or ""
    if decoration not in ("", MATCHES, EXCLUDES):
        raise PolicyInvalid(f"{field}.decoration", f"must be {MATCHES} or {EXCLUDES}")
    if decoration and kind in (NAME, RESOURCE, PLATFORM):
        raise PolicyInvalid(f"{field}.decoration", "only tag and label filters have one")
    checked: dict[str, Any] = {"type": kind, "value": _filter_value(field, kind, item)}
    if decoration:
        checked["decoration"] = decoration
    return checked


def _filter_value(field: str, kind: str, item: dict[str, Any]) -> object:
    value = item.get("value")
    if kind == LABEL:
        labels = [] if value is None else value
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            raise PolicyInvalid(f"{field}.value", "of a label filter must be a list of names")
        if len(labels) > MAX_LABELS:
            raise PolicyInvalid(f"{field}.value", f"may name at most {MAX_LABELS} labels")
        return [check_text(f"{field}.value", v) for v in labels]
    value = "" if value is None else value
    if not isinstance(value, str):
        raise PolicyInvalid(f"{field}.value", f"of a {kind} filter must be a string")
    check_text(f"{field}.value", value, MAX_PATTERN)
    if kind == RESOURCE:
        if value not in (IMAGE, ARTIFACT):
            raise PolicyInvalid(f"{field}.value", f"must be {IMAGE} or {ARTIFACT}")
        return value
    if kind == PLATFORM:
        try:
            return spelled(parse_platforms(value))
        except PlatformInvalid as exc:
            raise PolicyInvalid(f"{field}.value", exc.reason) from None
    try:
        check(value)
    except PatternInvalid as exc:
        raise PolicyInvalid(f"{field}.value", exc.reason) from None
    return value


# --- trigger ---------------------------------------------------------------------------------


def _trigger(value: object) -> tuple[dict[str, Any], str | None]:
    """Harbor's trigger, and croniter's spelling of its cron when it is scheduled."""
    if value is None:
        return {"type": MANUAL, "trigger_settings": {"cron": ""}}, None
    if not isinstance(value, dict):
        raise PolicyInvalid("trigger", "must be an object {type, trigger_settings}")
    kind = value.get("type") or MANUAL
    if kind not in TRIGGER_TYPES:
        raise PolicyInvalid("trigger.type", f"must be one of {', '.join(TRIGGER_TYPES)}")
    settings = value.get("trigger_settings") or {}
    if not isinstance(settings, dict):
        raise PolicyInvalid("trigger.trigger_settings", "must be an object {cron}")
    cron = settings.get("cron") or ""
    if not isinstance(cron, str):
        raise PolicyInvalid("trigger.trigger_settings.cron", "must be a string")
    if kind != SCHEDULED:
        return {"type": kind, "trigger_settings": {"cron": ""}}, None
    cron = " ".join(cron.split())
    return {"type": kind, "trigger_settings": {"cron": cron}}, schedule_cron(cron)


def schedule_cron(cron: str) -> str:
    """croniter's spelling of a scheduled trigger's cron. Harbor's rules: six fields,
    seconds first and 0, minutes not "*" (no replication every minute); and it must fire."""
    field = "trigger.trigger_settings.cron"
    if not cron:
        raise PolicyInvalid(field, "is required for a scheduled trigger")
    parts = cron.split()
    if len(parts) != 6:
        raise PolicyInvalid(field, "must have 6 fields, seconds first ('0 0 2 * * *')")
    if parts[0] != "0":
        raise PolicyInvalid(field, "must have 0 in its first field (the seconds)")
    if parts[1] == "*":
        raise PolicyInvalid(field, "must not have * in its minutes field")
    try:
        return harbor_cron(cron, field)
    except ParameterInvalid as exc:
        raise PolicyInvalid(field, exc.reason) from None


def check_destinations(spec: PolicySpec, destination_type: str | None = None) -> None:
    """The repositories a name filter names outright (no wildcard) are checked against the
    destination's rules now, as a 400, rather than as failed tasks later. parse_policy
    checks with the default destination type (Rules.of); a caller that knows the remote
    registry's type checks again with it."""
    rules = Rules.of_spec(spec, destination_type)
    for pattern in rules.names:
        for repository in literal_paths(pattern) or ():
            try:
                rules.destination(repository)
            except NamespaceTooDeep as exc:
                raise PolicyInvalid("dest_namespace_replace_count", exc.message) from None
            except DestinationInvalid as exc:
                raise PolicyInvalid("dest_namespace", exc.message) from None


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rules:
    """What a policy copies and where. names: name patterns, all of which a repository must
    match; tags and labels: (value, excludes) in the policy's order; resource: "" (any),
    IMAGE or ARTIFACT; platforms: the children of an index to copy (core.replication_platforms;
    () copies them all); min_parts: how many path parts a destination name needs (2 for a
    Harbor or Berth destination, whose repositories live in projects)."""

    names: tuple[str, ...] = ()
    tags: tuple[tuple[str, bool], ...] = ()
    labels: tuple[tuple[tuple[str, ...], bool], ...] = ()
    resource: str = ""
    platforms: tuple[Platform, ...] = ()
    namespace: str = ""
    replace_count: int = -1
    min_parts: int = 1

    @classmethod
    def of(cls, policy: ReplicationPolicy, destination_type: str | None = None) -> Rules:
        """The rules of a stored policy. destination_type: the destination registry's type;
        by default "harbor" in pull mode (this Berth) and "docker-registry" in push mode."""
        if destination_type is None:
            destination_type = HARBOR if policy.dest_registry_id is None else "docker-registry"
        return cls._build(
            policy.filters,
            policy.dest_namespace,
            policy.dest_namespace_replace_count,
            destination_type,
        )

    @classmethod
    def of_spec(cls, spec: PolicySpec, destination_type: str | None = None) -> Rules:
        """The rules of a checked body (before it is stored); destination_type as of()."""
        if destination_type is None:
            destination_type = HARBOR if spec.dest_registry_id is None else "docker-registry"
        return cls._build(
            spec.filters, spec.dest_namespace, spec.dest_namespace_replace_count, destination_type
        )

    @classmethod
    def _build(
        cls, filters: list[dict[str, Any]], namespace: str, count: int, destination_type: str
    ) -> Rules:
        def excludes(f: dict[str, Any]) -> bool:
            return f.get("decoration") == EXCLUDES

        resources = [str(f["value"]) for f in filters if f.get("type") == RESOURCE]
        platforms = [str(f["value"]) for f in filters if f.get("type") == PLATFORM]
        return cls(
            names=tuple(str(f.get("value") or "") for f in filters if f.get("type") == NAME),
            tags=tuple(
                (str(f.get("value") or ""), excludes(f)) for f in filters if f.get("type") == TAG
            ),
            labels=tuple(
                (tuple(f.get("value") or ()), excludes(f))
                for f in filters
                if f.get("type") == LABEL
            ),
            resource=resources[-1] if resources else "",
            platforms=parse_platforms(platforms[-1]) if platforms else (),
            namespace=namespace,
            replace_count=count,
            min_parts=2 if destination_type == HARBOR else 1,
        )

    def repository_matches(self, repository: str) -> bool:
        """Whether every name filter matches the repository's full name ("library/app")."""
        return all(match(pattern, repository) for pattern in self.names)

    def tag_matches(self, tags: list[str]) -> list[str] | bool:
        """An artifact's tags that the tag filters keep, applied one after the other as
        Harbor does (an empty list: the artifact is not copied). An artifact with no tag
        (tags == []): True or False — Harbor matches each filter's pattern against "" (so
        "*" or "" keeps it, "v*" does not; an "excludes" filter the other way round). An
        accessory (a signature...) is matched by its subject's tags: the caller passes those."""
        if not tags:
            return all(match(pattern, "") != excluded for pattern, excluded in self.tags)
        kept = list(tags)
        for pattern, excluded in self.tags:
            kept = [tag for tag in kept if match(pattern, tag) != excluded]
        return kept

    def label_matches(self, labels: Collection[str]) -> bool:
        """Harbor's label filter: an artifact matches when it has every label the filter
        names ("excludes": when it has not). Berth has no labels yet, so callers pass none:
        a filter naming labels then matches nothing, and its "excludes" form everything."""
        held = set(labels)
        return all(
            (set(names) <= held) != excluded if names else True for names, excluded in self.labels
        )

    def resource_matches(
        self, media_type: str, artifact_type: str = "", config_media_type: str = ""
    ) -> bool:
        """The resource filter: IMAGE keeps container images and indexes (a manifest or
        index with no artifactType whose config, if any, is an image config), ARTIFACT every
        other OCI artifact; no filter keeps both."""
        if not self.resource:
            return True
        return is_image(media_type, artifact_type, config_media_type) == (self.resource == IMAGE)

    def destination(self, repository: str) -> str:
        """The repository's name at the destination, Harbor's replaceNamespace (since
        v2.4.0, "flattening repository path components excepting the last one"): with no
        dest_namespace, unchanged; with one, the last part (the name) is kept and the parts
        before it are replaced: -1 (legacy) drops all of them (a/b/c/app -> ns/app), 0
        keeps them (ns/a/b/c/app), N drops the first N (1: ns/b/c/app; 3: ns/app); N
        larger than the parts before the name (4 here) is NamespaceTooDeep. (Harbor 2.3
        alone let N reach the name and answered the namespace by itself.)
        DestinationInvalid when the result has fewer parts than the destination needs (a
        project and a name on Harbor or Berth)."""
        if not self.namespace:
            return self._checked(repository)
        parts = repository.split("/")
        before, name = parts[:-1], parts[-1]
        if self.replace_count < 0:
            kept: list[str] = []
        elif self.replace_count > len(before):
            raise NamespaceTooDeep(repository, self.replace_count)
        else:
            kept = before[self.replace_count :]
        return self._checked("/".join([self.namespace, *kept, name]))

    def _checked(self, name: str) -> str:
        if len(name.split("/")) < self.min_parts:
            raise DestinationInvalid(name, "needs a project: <project>/<name>")
        if len(name) > MAX_NAME_LENGTH:
            raise DestinationInvalid(name[:64] + "...", f"is longer than {MAX_NAME_LENGTH}")
        return name


def is_image(media_type: str, artifact_type: str = "", config_media_type: str = "") -> bool:
    """A container image or an index of them, as opposed to another OCI artifact."""
    if artifact_type:
        return False
    if media_type in mediatypes.INDEXES:
        return True
    if media_type not in mediatypes.IMAGE_MANIFESTS:
        return False
    return not config_media_type or config_media_type in _IMAGE_CONFIGS
