"""Field ownership and server-side apply, as the API server does it for our objects.

A *field path* is a tuple of map keys and, for associative lists (containers by name, env by
name, ports by port and protocol ...), ``("k", key)`` items. Each field manager owns a set
of paths. Applying a configuration as a manager:

1. conflicts: a path another manager owns with a different value refuses the apply (409)
   unless forced, in which case ownership moves to the applier;
2. removal: paths the manager owned before and no longer applies are removed from the
   object, unless another manager owns them too;
3. merge: the applied configuration is merged into the object (maps by key, associative
   lists by their keys, other lists replaced whole);
4. the manager now owns exactly the applied paths.

An update (create, merge patch, replace) gives the writer every path whose value it changed.
"""

from __future__ import annotations

import copy
from typing import Any

Path = tuple[Any, ...]

# Keys of associative lists (x-kubernetes-list-map-keys / patchMergeKey in the real schemas).
LIST_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumeMounts": ("mountPath",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "secretTargetRef": ("parameter",),
}
# Metadata fields a manager can own (the rest is identity or server-made).
OWNED_METADATA = ("labels", "annotations", "ownerReferences", "finalizers")
IGNORED_TOP = ("apiVersion", "kind", "status")


def _list_key(field: str, item: Any) -> tuple[Any, ...] | None:
    if not isinstance(item, dict):
        return None
    if field == "ports":
        port = "containerPort" if "containerPort" in item else "port"
        return (port, item.get(port), item.get("protocol", "TCP"))
    keys = LIST_KEYS.get(field)
    if keys is None:
        return None
    return tuple((key, item.get(key)) for key in keys)


def _associative(field: str, value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(_list_key(field, item) is not None for item in value)
    )


def fieldset(obj: dict[str, Any]) -> set[Path]:
    """The paths a configuration sets (metadata identity, apiVersion, kind, status excluded)."""
    result: set[Path] = set()
    for key, value in obj.items():
        if key in IGNORED_TOP:
            continue
        if key == "metadata":
            for meta_key in OWNED_METADATA:
                if meta_key in (value or {}):
                    _walk(meta_key, value[meta_key], ("metadata", meta_key), result)
            continue
        _walk(key, value, (key,), result)
    return result


# The last element of a path that marks a map's own existence (FieldsV1's "."): owning it
# means the map goes when the owner stops applying it; its value is never compared.
SELF = "."


def _walk(field: str, value: Any, path: Path, result: set[Path]) -> None:
    if isinstance(value, dict) and value:
        result.add((*path, SELF))
        for key, item in value.items():
            _walk(key, item, (*path, key), result)
    elif _associative(field, value):
        for item in value:
            item_path = (*path, ("k", _list_key(field, item)))
            result.add(item_path)
            for key, inner in item.items():
                _walk(key, inner, (*item_path, key), result)
    else:
        result.add(path)


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    """(present, value) at a path (for a map's own marker: present, and no value)."""
    if path and path[-1] == SELF:
        present, _ = get_path(obj, path[:-1])
        return present, None
    node = obj
    field = ""
    for element in path:
        if isinstance(element, tuple) and element and element[0] == "k":
            if not isinstance(node, list):
                return False, None
            found = [item for item in node if _list_key(field, item) == element[1]]
            if not found:
                return False, None
            node = found[0]
        else:
            if not isinstance(node, dict) or element not in node:
                return False, None
            field, node = element, node[element]
    return True, node


def remove_path(obj: dict[str, Any], path: Path) -> None:
    if path and path[-1] == SELF:
        path = path[:-1]  # the map itself
    node: Any = obj
    field = ""
    for element in path[:-1]:
        if _is_key(element):
            if not isinstance(node, list):
                return
            node = next((item for item in node if _list_key(field, item) == element[1]), None)
            if node is None:
                return
        else:
            if not isinstance(node, dict) or element not in node:
                return
            field, node = element, node[element]
    last = path[-1]
    if _is_key(last):
        if isinstance(node, list):
            node[:] = [item for item in node if _list_key(field, item) != last[1]]
    elif isinstance(node, dict):
        node.pop(last, None)


def _is_key(element: Any) -> bool:
    return isinstance(element, tuple) and bool(element) and element[0] == "k"


def merge(live: Any, applied: Any, field: str = "") -> Any:
    """Merge an applied configuration into the live object (maps and associative lists by
    key; scalars and atomic lists replaced)."""
    if isinstance(live, dict) and isinstance(applied, dict):
        result = dict(live)
        for key, value in applied.items():
            result[key] = merge(live.get(key), value, key) if key in live else copy.deepcopy(value)
        return result
    if _associative(field, applied) and isinstance(live, list):
        result_list = [copy.deepcopy(item) for item in live]
        for item in applied:
            key = _list_key(field, item)
            for index, existing in enumerate(result_list):
                if _list_key(field, existing) == key:
                    result_list[index] = merge(existing, item, field)
                    break
            else:
                result_list.append(copy.deepcopy(item))
        return result_list
    return copy.deepcopy(applied)


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[tuple[str, Path]]) -> None:
        super().__init__("; ".join(f"{manager} owns {render(path)}" for manager, path in conflicts))
        self.conflicts = conflicts


def render(path: Path) -> str:
    parts = []
    for element in path:
        if _is_key(element):
            parts.append(f"[{element[1]}]")
        else:
            parts.append(f".{element}")
    return "".join(parts)


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    managers: dict[str, set[Path]],
    manager: str,
    force: bool,
) -> dict[str, Any]:
    """The object after ``manager`` applies ``applied``; ``managers`` is updated in place."""
    new_fields = fieldset(applied)
    base: dict[str, Any] = copy.deepcopy(live) if live is not None else {}
    conflicts = []
    for other, owned in managers.items():
        if other == manager:
            continue
        for path in owned & new_fields:
            present, current = get_path(base, path)
            _, wanted = get_path(applied, path)
            if present and current != wanted and not _is_key(path[-1]) and path[-1] != SELF:
                conflicts.append((other, path))
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    for other, path in conflicts:
        managers[other].discard(path)
    others = set().union(*(owned for name, owned in managers.items() if name != manager))
    removed: set[Path] = set()
    for path in sorted(managers.get(manager, set()) - new_fields - others, key=len):
        container = path[:-1] if path[-1] == SELF else path
        if not any(  # gone with its parent already
            container[:n] in removed or (*container[:n], SELF) in removed
            for n in range(1, len(container))
        ):
            remove_path(base, path)
            removed.add(path)
    body = {key: value for key, value in applied.items() if key not in ("status",)}
    metadata = dict(body.pop("metadata", {}) or {})
    merged = merge(base, body)
    merged_meta = dict(merged.get("metadata") or {})
    for key in OWNED_METADATA:
        if key in metadata:
            merged_meta[key] = merge(merged_meta.get(key), metadata[key], key)
    merged["metadata"] = merged_meta
    managers[manager] = new_fields
    return merged


def record_update(
    before: dict[str, Any] | None,
    after: dict[str, Any],
    managers: dict[str, set[Path]],
    manager: str,
) -> None:
    """Ownership after a non-apply write: the writer owns what it changed; removed fields are
    owned by no one."""
    old_fields = fieldset(before) if before is not None else set()
    new_fields = fieldset(after)
    changed = {
        path
        for path in new_fields
        if before is None or get_path(before, path) != get_path(after, path)
    }
    gone = old_fields - new_fields
    for name in list(managers):
        managers[name] -= changed | gone
    managers.setdefault(manager, set()).update(changed)
    for name in [name for name, owned in managers.items() if not owned and name != manager]:
        del managers[name]
