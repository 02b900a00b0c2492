"""The OpenAPI document of /api/v2.0, generated from the routes, and the body check it implies.

Annotate every /api/v2.0 route with `operation`, under the route decorator:

    from web.api.openapi import operation
    from web.api.schemas.common import ListQuery
    from web.api.schemas.repositories import Repository, RepositoryUpdate

    @api.route("/projects/<ref>/repositories/<path:name>", methods=["PUT"])
    @operation("updateRepository", "repository", body=RepositoryUpdate, responses={200: None})
    async def update_repository(ref: str, name: str) -> Response: ...

    @api.route("/projects/<ref>/repositories", methods=["GET"])
    @operation("listRepositories", "repository", query=ListQuery,
               responses={200: list[Repository]})
    async def list_repositories(ref: str) -> Response: ...

- `operation_id` and `tag`: Harbor's (notes/harbor-swagger.yaml) where Harbor has the
  operation; a Berth-only route takes a Berth id and the tag "berth".
- `body`: the request's pydantic model (subclass schemas.common.RequestBody), or None.
  `web.api.common.json_body()` — so every service's `call.body()` — checks the body against it
  and answers 400 naming the field ("storage_limit: Input should be a valid integer"); it still
  returns the plain dict, so services read what was sent.
- `query`: a pydantic model whose fields are the query parameters (subclass
  schemas.common.Query, PageQuery or ListQuery). They are documented, not checked here: the
  handler parses them with web.params.
- `responses`: status -> the body's type: a model (subclass schemas.common.Closed: exact fields,
  additionalProperties false), `list[Model]`, any type pydantic can describe, or None for no
  body. Describe exactly what the handler returns: a fuzzer checks every answer against it.
- Path parameters come from the route rule (`<int:id>` is an integer, others strings).
- Harbor's error body (schemas.common.Errors) is documented for every status in ERROR_STATUSES.
- One function serving several methods (GET and HEAD) stacks one `operation` per method, each
  with `method=`; without `method` it covers every method of the rule.
- Models live in web/api/schemas/<resource>.py, one module per resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from quart import Quart, current_app, request

from models.values import MAX_NAME, ParameterInvalid
from web.api.schemas.common import Errors

F = TypeVar("F", bound=Callable[..., Any])

PREFIX = "/api/v2.0"
ATTRIBUTE = "__berth_operations__"
# The statuses every operation may answer with Harbor's error body (web/errors.py STATUS).
ERROR_STATUSES = (400, 401, 403, 404, 405, 409, 412, 413, 415, 429, 503)
_IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
_DESCRIPTIONS = {
    200: "Success",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request entity too large",
    415: "Unsupported media type",
    429: "Too many requests",
    503: "Service unavailable",
}


@dataclass(frozen=True)
class Operation:
    """One documented operation of a route."""

    operation_id: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, Any] = field(default_factory=dict)
    method: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class Content:
    """A response body in other media types than JSON, or in several: media type -> the body's
    type (`str` for text). `responses={200: Content({"text/plain": str})}`."""

    types: dict[str, Any]


def operation(
    operation_id: str,
    tag: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, Any] | None = None,
    method: str | None = None,
    summary: str | None = None,
) -> Callable[[F], F]:
    """Document the decorated handler as operation_id (see the module docstring)."""
    op = Operation(operation_id, tag, body, query, dict(responses or {200: None}), method, summary)

    def annotate(handler: F) -> F:
        setattr(handler, ATTRIBUTE, [*getattr(handler, ATTRIBUTE, []), op])
        return handler

    return annotate


def operations_of(handler: Any, method: str) -> Operation | None:
    """The operation documented for method on handler, if any."""
    ops: list[Operation] = getattr(handler, ATTRIBUTE, [])
    return next((o for o in ops if o.method == method), None) or next(
        (o for o in ops if o.method is None), None
    )


def current_operation() -> Operation | None:
    """The operation of the request being handled."""
    rule = request.url_rule
    if rule is None or rule.endpoint is None:
        return None
    return operations_of(current_app.view_functions.get(rule.endpoint), request.method)


def check_body(raw: str | bytes) -> None:
    """Check a request's JSON body against its operation's model: 400 naming the field."""
    op = current_operation()
    if op is None or op.body is None:
        return
    try:
        op.body.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ParameterInvalid(where, first["msg"], f"{where}: {first['msg']}") from None


def build_document(app: Quart) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every annotated /api/v2.0 route of app."""
    found: list[tuple[str, str, Any, Operation]] = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        handler = app.view_functions.get(rule.endpoint)
        for method in sorted(rule.methods or ()):
            op = operations_of(handler, method)
            # HEAD and OPTIONS come with every GET: documented only where an operation says so
            if op is not None and (method not in _IMPLICIT_METHODS or op.method == method):
                found.append((rule.rule, method.lower(), rule, op))
    schemas, refs = _schemas(op for _, _, _, op in found)
    paths: dict[str, dict[str, Any]] = {}
    for _, method, rule, op in found:
        template, parameters = _path(rule)
        entry = _operation(op, parameters, refs)
        paths.setdefault(template[len(PREFIX) :], {})[method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Berth API (Harbor API v2.0)", "version": "2.0"},
        "servers": [{"url": PREFIX}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}, {}],
    }


def _schemas(ops: Iterable[Operation]) -> tuple[dict[str, Any], dict[tuple[Any, str], Any]]:
    """components/schemas and, per (type, mode), the schema that refers into it."""
    wanted: dict[tuple[Any, str], TypeAdapter[Any]] = {
        (Errors, "serialization"): TypeAdapter(Errors)
    }
    for op in ops:
        if op.body is not None:
            wanted.setdefault((op.body, "validation"), TypeAdapter(op.body))
        for kind in op.responses.values():
            inner = kind.types.values() if isinstance(kind, Content) else [kind]
            for one in inner:
                if one is not None:
                    wanted.setdefault((_key(one), "serialization"), TypeAdapter(one))
    inputs = [(key, mode, adapter) for (key, mode), adapter in wanted.items()]
    mapping, defs = TypeAdapter.json_schemas(
        inputs,  # type: ignore[arg-type]
        ref_template="#/components/schemas/{model}",
    )
    return dict(sorted(defs.get("$defs", {}).items())), dict(mapping)


def _key(kind: Any) -> Any:
    return kind if isinstance(kind, type) else repr(kind)


def _operation(op: Operation, parameters: list[dict[str, Any]], refs: dict[Any, Any]) -> Any:
    entry: dict[str, Any] = {"operationId": op.operation_id, "tags": [op.tag]}
    if op.summary:
        entry["summary"] = op.summary
    entry["parameters"] = parameters + _query(op.query)
    if op.body is not None:
        schema = refs[(op.body, "validation")]
        entry["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    responses: dict[str, Any] = {}
    for status, kind in sorted(op.responses.items()):
        answer: dict[str, Any] = {"description": _DESCRIPTIONS.get(status, "Success")}
        types = kind.types if isinstance(kind, Content) else {"application/json": kind}
        if kind is not None:
            answer["content"] = {
                media: {"schema": refs[(_key(one), "serialization")]}
                for media, one in types.items()
            }
        responses[str(status)] = answer
    errors = refs[(Errors, "serialization")]
    for status in ERROR_STATUSES:
        if status not in op.responses:
            responses[str(status)] = {
                "description": _DESCRIPTIONS[status],
                "content": {"application/json": {"schema": errors}},
            }
    entry["responses"] = responses
    return entry


def _path(rule: Any) -> tuple[str, list[dict[str, Any]]]:
    """The rule as an OpenAPI path template, and its path parameters."""
    parts: list[str] = []
    parameters: list[dict[str, Any]] = []
    for converter, _arguments, variable in _parse_rule(rule):
        if converter is None:
            parts.append(variable)
            continue
        parts.append("{" + variable + "}")
        if converter == "int":
            schema: dict[str, Any] = {"type": "integer", "minimum": 0}
        else:
            schema = {"type": "string", "minLength": 1}
            if converter != "path":
                schema["maxLength"] = MAX_NAME
                schema["pattern"] = "^[^/]+$"
        parameters.append({"name": variable, "in": "path", "required": True, "schema": schema})
    return "".join(parts), parameters


_VARIABLE = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<args>.*?)\))?:)?"
    r"(?P<variable>[a-zA-Z_][a-zA-Z0-9_]*)>"
)


def _parse_rule(rule: Any) -> Iterable[tuple[str | None, Any, str]]:
    """(converter, arguments, variable) per variable of a werkzeug rule, (None, None, text)
    per static part."""
    position = 0
    text: str = rule.rule
    for match in _VARIABLE.finditer(text):
        if match.start() > position:
            yield None, None, text[position : match.start()]
        yield match.group("converter") or "default", match.group("args"), match.group("variable")
        position = match.end()
    if position < len(text):
        yield None, None, text[position:]


def _query(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, spec in schema.get("properties", {}).items():
        spec = {k: v for k, v in spec.items() if k not in ("title", "description")}
        spec = _without_null(spec)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        description = schema["properties"][name].get("description")
        if description:
            parameter["description"] = description
        parameter["schema"] = spec
        parameters.append(parameter)
    return parameters


def _without_null(spec: dict[str, Any]) -> dict[str, Any]:
    """`X | None` in a query model: a parameter is absent rather than null."""
    options = spec.get("anyOf")
    if options is None:
        return spec
    kept = [o for o in options if o.get("type") != "null"]
    rest = {k: v for k, v in spec.items() if k not in ("anyOf", "default")}
    return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}
