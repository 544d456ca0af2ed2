"""Category trees from files, for `asoud categories import`: YAML (nested) or CSV (flat).

YAML: a list of groups (or a mapping with ``items``), each ``slug``, ``names`` (en, fa, ar,
tr), optional ``subscription_fee`` (``{amount, currency}``, leaves only), ``position`` and
``children``. CSV: a header ``slug,parent,en,fa,ar,tr`` and optionally ``fee,currency,position``;
``parent`` names a slug of the file (empty for a group); rows may come in any order.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml

from asoud.taxonomy.schemas import CategoryImport

CSV_COLUMNS = ("slug", "parent", "en", "fa", "ar", "tr")


class TreeFileError(ValueError):
    """The file cannot be read as a tree (the message says where)."""


def _from_csv(text: str) -> dict[str, Any]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise TreeFileError(f"CSV header lacks {', '.join(missing)}")
    nodes: dict[str, dict[str, Any]] = {}
    parents: dict[str, str] = {}
    order: list[str] = []
    for line, row in enumerate(reader, start=2):
        slug = (row.get("slug") or "").strip()
        if not slug:
            raise TreeFileError(f"line {line}: empty slug")
        node: dict[str, Any] = {
            "slug": slug,
            "names": {lang: (row.get(lang) or "").strip() for lang in ("en", "fa", "ar", "tr")},
            "children": [],
        }
        if (row.get("fee") or "").strip():
            node["subscription_fee"] = {
                "amount": row["fee"].strip(),
                "currency": (row.get("currency") or "IRT").strip(),
            }
        if (row.get("position") or "").strip():
            node["position"] = row["position"].strip()
        if slug in nodes:
            raise TreeFileError(f"line {line}: slug {slug} appears twice")
        nodes[slug] = node
        order.append(slug)
        if (row.get("parent") or "").strip():
            parents[slug] = row["parent"].strip()
    roots = []
    for slug in order:
        parent = parents.get(slug)
        if parent is None:
            roots.append(nodes[slug])
        elif parent in nodes:
            nodes[parent]["children"].append(nodes[slug])
        else:
            raise TreeFileError(f"{slug}: parent {parent} is not in the file")
    return {"items": roots}


def read_tree(path: Path) -> CategoryImport:
    """The file as an import body; pydantic's ValidationError names what is wrong where."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        data: Any = _from_csv(text)
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise TreeFileError(f"not valid YAML: {exc}") from None
        if isinstance(data, list):
            data = {"items": data}
    return CategoryImport.model_validate(data)
