"""``/api/v1/openapi.json``: an OpenAPI 3.1 document built from the route table.

The schemas are those of the pydantic models that validate the requests and
render the answers (``models_json_schema`` with
``ref_template="#/components/schemas/{model}"``), so the document cannot drift
from the code; ``docs/openapi.json`` is a committed copy and a test fails when
they differ (regenerate with ``python -m regauth.web.api > docs/openapi.json``).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from regauth.web.api.dispatch import PREFIX
from regauth.web.api.table import Operation

REF = "#/components/schemas/{model}"
VERSION = "1.0.0"
SECURITY: list[dict[str, list[str]]] = [{"basic": []}, {"bearer": []}, {"apiKey": []}]
SECURITY_SCHEMES = {
    "basic": {"type": "http", "scheme": "basic", "description": "A local account or a PAT"},
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal access token, an API key or an OIDC access token",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
}
ERROR_STATUSES = {
    "400": "Malformed request",
    "401": "Missing or invalid credentials",
    "403": "The caller lacks the permission",
    "404": "Not found",
    "409": "Conflicts with the current state",
    "412": "The rule list changed since it was read (If-Match)",
    "422": "Invalid input; `errors` names each field",
    "429": "Too many failed logins from this account or address",
    "503": "An identity backend is unavailable",
}
Mode = Literal["validation", "serialization"]


class FieldProblem(BaseModel):
    field: str = Field(description="the field at fault: `a.b[0]`; query and path ones prefixed")
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    code: str = Field(description="a stable machine code, e.g. `admin.not_found`")
    detail: str
    error: str | None = None
    error_description: str | None = None
    errors: list[FieldProblem] | None = None


def document(operations: tuple[Operation, ...]) -> dict[str, Any]:
    pairs = _model_pairs(operations)
    refs, top = models_json_schema(pairs, ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    inline = {m for op in operations for m in (op.params, op.query) if m is not None}

    def ref(model: type[BaseModel], mode: Mode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item = paths.setdefault(PREFIX + op.path, {})
        item[op.method.lower()] = _operation(op, ref, schemas)
    for model in inline:
        schemas.pop(model.__name__, None)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "regauth admin API",
            "version": VERSION,
            "description": "Users, groups, rules, tokens, keys, audit, check and configuration "
            "of a regauth token server. Errors are RFC 9457 problem documents.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": _problem_responses(ref),
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": SECURITY,
    }


def _model_pairs(operations: tuple[Operation, ...]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Problem, "serialization"): None}
    for op in operations:
        for model in (op.params, op.query, op.body):
            if model is not None:
                seen[(model, "validation")] = None
        if op.out is not None:
            seen[(op.out, "serialization")] = None
    return list(seen)


def _operation(op: Operation, ref: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        out["description"] = op.description
    out["x-permission"] = op.permission.value if op.permission else "self-service"
    parameters = _parameters(op, ref, schemas)
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        content = {"application/json": {"schema": ref(op.body, "validation")}}
        out["requestBody"] = {"required": True, "content": content}
    out["responses"] = _responses(op, ref)
    out["security"] = [] if op.public else SECURITY
    return out


def _parameters(op: Operation, ref: Any, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for where, model in (("path", op.params), ("query", op.query)):
        if model is None:
            continue
        schema = _resolve(ref(model, "validation"), schemas)
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            param: dict[str, Any] = {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
                "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
            }
            if "description" in prop:
                param["description"] = prop["description"]
            found.append(param)
    if op.etag and op.method != "GET":
        found.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "the ETag of the rule list last read; 412 if it changed since",
                "schema": {"type": "string"},
            }
        )
    return found


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    target = schema.get("$ref", "")
    if target:
        resolved: dict[str, Any] = schemas[target.rsplit("/", 1)[-1]]
        return resolved
    return schema


def _responses(op: Operation, ref: Any) -> dict[str, Any]:
    success: dict[str, Any] = {"description": op.summary}
    if op.raw:
        success["content"] = {op.raw: {"schema": {"type": "string"}}}
    elif op.out is not None:
        success["content"] = {"application/json": {"schema": ref(op.out, "serialization")}}
    if op.etag:
        success["headers"] = {
            "ETag": {"description": "version of the rule list", "schema": {"type": "string"}}
        }
    if op.links:
        success["links"] = {
            name: {"operationId": link.operation_id, "parameters": dict(link.parameters)}
            for name, link in op.links.items()
        }
    responses: dict[str, Any] = {str(op.status if op.out or op.raw else 204): success}
    statuses = set() if op.public else set(ERROR_STATUSES) - {"404", "409", "412"}
    if op.params is not None or op.query is not None or op.self_service or op.names_owner:
        statuses.add("404")
    if op.method in ("POST", "PUT", "PATCH", "DELETE"):
        statuses.add("409")
    if op.etag and op.method != "GET":
        statuses.add("412")
    for status in sorted(statuses):
        responses[status] = {"$ref": f"#/components/responses/{status}"}
    return responses


def _problem_responses(ref: Any) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": ref(Problem, "serialization")}}
    return {
        status: {"description": description, "content": problem}
        for status, description in ERROR_STATUSES.items()
    }


def dumps(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
