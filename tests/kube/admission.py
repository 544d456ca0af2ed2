"""What the API server does to a custom resource before storing it: prune fields the CRD's
structural schema does not declare, apply its defaults, then validate (the OpenAPI schema and
every CEL rule, evaluated with cel-python)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "manifests" / "crd" / "asoud.io_asoudstores.yaml"


def crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_PATH.read_text())  # type: ignore[no-any-return]


def schema(definition: dict[str, Any] | None = None) -> dict[str, Any]:
    version = (definition or crd())["spec"]["versions"][0]
    return version["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def prune(node_schema: dict[str, Any], value: Any) -> Any:
    """Drop what the structural schema does not declare (as a real API server does)."""
    if node_schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict) and node_schema.get("type") == "object":
        properties = node_schema.get("properties") or {}
        extra = node_schema.get("additionalProperties")
        result = {}
        for key, item in value.items():
            if key in properties:
                result[key] = prune(properties[key], item)
            elif isinstance(extra, dict):
                result[key] = prune(extra, item)
        return result
    if isinstance(value, list) and isinstance(node_schema.get("items"), dict):
        return [prune(node_schema["items"], item) for item in value]
    return value


def default(node_schema: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict):
        result = dict(value)
        for key, child in (node_schema.get("properties") or {}).items():
            if key not in result and "default" in child:
                result[key] = copy.deepcopy(child["default"])
            if key in result:
                result[key] = default(child, result[key])
        return result
    if isinstance(value, list) and isinstance(node_schema.get("items"), dict):
        return [default(node_schema["items"], item) for item in value]
    return value


def _cel_rules(
    node_schema: dict[str, Any], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], str, str]]:
    found = [
        (path, rule["rule"], rule["message"])
        for rule in node_schema.get("x-kubernetes-validations", [])
    ]
    for name, child in (node_schema.get("properties") or {}).items():
        found += _cel_rules(child, (*path, name))
    return found


_CEL = celpy.Environment()


def errors(body: dict[str, Any], definition: dict[str, Any] | None = None) -> list[str]:
    """What the API server would refuse: the OpenAPI schema, then every CEL rule."""
    root = schema(definition)
    found = [e.message for e in jsonschema.Draft202012Validator(root).iter_errors(body)]
    if found:
        return found  # CEL runs only on objects that pass the schema
    for path, rule, message in _cel_rules(root):
        node: Any = body
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        program = _CEL.program(_CEL.compile(rule))
        if not program.evaluate({"self": celpy.json_to_cel(node)}):
            found.append(message)
    return found


def admit(body: dict[str, Any], definition: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pruned and defaulted; raises ValueError with the server's messages when refused."""
    root = schema(definition)
    result = default(root, prune(root, body))
    result["metadata"] = body.get("metadata", {})  # metadata is the server's, never pruned
    problems = errors(result, definition)
    if problems:
        raise ValueError("; ".join(problems))
    return result  # type: ignore[no-any-return]
