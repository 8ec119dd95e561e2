"""Every input of the API follows the shared input rules, so a new route cannot forget them.

Read from the OpenAPI document and the routes themselves: each date or date-time a caller sends
is bounded to 1900-2200, each free-form JSON object is bounded in depth and size, each request body
refuses control characters, and each PATCH body refuses null where null means nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from guanxi.kit.inputs import PatchInput
from guanxi.kit.text import StorableInput


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    resolved: dict[str, Any] = node
    return resolved


def _walk(
    document: dict[str, Any], schema: dict[str, Any], where: str, found: list[tuple[str, dict[str, Any]]]
) -> None:
    """Every sub-schema reachable from this one, with a readable path (each $ref followed once)."""
    stack = [(schema, where, frozenset[str]())]
    while stack:
        node, path, refs = stack.pop()
        ref = node.get("$ref")
        if ref is not None:
            if ref in refs:
                continue
            refs = refs | {ref}
            node = _resolve(document, node)
        found.append((path, node))
        for name, child in node.get("properties", {}).items():
            stack.append((child, f"{path}.{name}", refs))
        for key in ("anyOf", "oneOf", "allOf"):
            stack.extend((child, path, refs) for child in node.get(key, []))
        if isinstance(node.get("items"), dict):
            stack.append((node["items"], f"{path}[]", refs))
        if isinstance(node.get("additionalProperties"), dict):
            stack.append((node["additionalProperties"], f"{path}{{}}", refs))


def _inputs(app: FastAPI) -> list[tuple[str, dict[str, Any]]]:
    document = app.openapi()
    found: list[tuple[str, dict[str, Any]]] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                _walk(document, parameter["schema"], f"{where} {parameter['in']}:{parameter['name']}", found)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _walk(document, media["schema"], f"{where} body", found)
    return found


def test_every_date_input_is_bounded(app: FastAPI) -> None:
    unbounded = [
        where
        for where, schema in _inputs(app)
        if schema.get("format") in ("date", "date-time") and "formatMinimum" not in schema
    ]
    assert unbounded == []


def test_every_free_form_json_input_is_bounded(app: FastAPI) -> None:
    unbounded = [
        where
        for where, schema in _inputs(app)
        if schema.get("type") == "object"
        and not schema.get("properties")
        and schema.get("additionalProperties", True) is True
        and "x-max-depth" not in schema
    ]
    assert unbounded == []


def _contexts(routes: list[Any]) -> list[Any]:
    """Each route as served (routers included into routers are flattened)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "effective_route_contexts"):
            found.extend(route.effective_route_contexts())
    return found


def _body_models(app: FastAPI) -> list[tuple[str, str, type[BaseModel]]]:
    models = []
    for route in _contexts(app.routes):
        for param in route.dependant.body_params:
            annotation = param.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                models.extend((method, route.path, annotation) for method in route.methods)
    return models


def test_every_json_body_refuses_control_characters(app: FastAPI) -> None:
    models = _body_models(app)
    assert models
    unchecked = [f"{method} {path}" for method, path, model in models if not issubclass(model, StorableInput)]
    assert unchecked == []


def test_every_patch_body_refuses_meaningless_nulls(app: FastAPI) -> None:
    patches = [(path, model) for method, path, model in _body_models(app) if method == "PATCH"]
    assert len(patches) >= 8
    assert [path for path, model in patches if not issubclass(model, PatchInput)] == []
    for path, model in patches:
        assert issubclass(model, PatchInput) and set(model.clearable) <= set(model.model_fields), path
