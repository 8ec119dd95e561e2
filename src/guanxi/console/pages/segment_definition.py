"""The definitions the segment builder edits, as plain data: what a typed text becomes in the
definition's JSON, which rules are still waiting for a value, and the definition without them for
the live count (with the paths of the pruned copy mapped back to the definition's own). No UI here.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from guanxi.kit.errors import FieldError
from guanxi.marketing import conditions

LIST_OPS = conditions.LIST_OPS
NUMERIC = ("integer", "decimal")
ROOT = "conditions"


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _number(text: str) -> Any:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text  # the service names the problem
    return int(number) if number == number.to_integral_value() else text


def value_from_text(spec: conditions.FieldSpec, op: str, text: str) -> Any:
    """What the user typed, in the JSON shape the definition takes (lists comma-separated)."""
    text = text.strip()
    if op in conditions.NO_VALUE_OPS:
        return None
    if op in LIST_OPS or op == "between":
        parts = [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]
        if spec.value_type in NUMERIC or spec.kind in ("age", "birthday_month"):
            return [_number(p) for p in parts]
        return parts
    if op == "within_last_days" or spec.value_type in NUMERIC or spec.kind in ("age", "birthday_month"):
        return _number(text) if text else None
    return text or None


def is_waiting(rule: dict[str, Any]) -> bool:
    """A rule the user has not finished: its operator needs a value and none is given yet."""
    spec = conditions.FIELDS.get(rule.get("field", ""))
    if spec is None or rule.get("op") in conditions.NO_VALUE_OPS:
        return False
    return rule.get("value") in (None, "", [])


def completed(definition: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str], list[str]]:
    """The definition without the rules still waiting for a value (None if nothing is left), the
    paths of the pruned copy mapped to the definition's, and the paths of the rules left out."""
    paths: dict[str, str] = {ROOT: ROOT}
    waiting: list[str] = []

    def prune(group: dict[str, Any], path: str, out: str) -> dict[str, Any] | None:
        rules: list[dict[str, Any]] = []
        for i, rule in enumerate(group.get("rules") or []):
            if is_waiting(rule):
                waiting.append(f"{path}.rules[{i}]")
                continue
            paths[f"{out}.rules[{len(rules)}]"] = f"{path}.rules[{i}]"
            rules.append(copy.deepcopy(rule))
        groups: list[dict[str, Any]] = []
        for i, sub in enumerate(group.get("groups") or []):
            kept = prune(sub, f"{path}.groups[{i}]", f"{out}.groups[{len(groups)}]")
            if kept is not None:
                paths[f"{out}.groups[{len(groups)}]"] = f"{path}.groups[{i}]"
                groups.append(kept)
        if not rules and not groups:
            return None
        return {**{k: v for k, v in group.items() if k not in ("rules", "groups")}, "rules": rules, "groups": groups}

    return prune(definition, ROOT, ROOT), paths, waiting


_STEP = re.compile(r"\.(?:rules|groups)\[\d+\]")


def unpruned(error: FieldError, paths: dict[str, str]) -> FieldError:
    """A problem found in the pruned copy, named by the definition's own path."""
    field = error.field
    cut = [m.end() for m in _STEP.finditer(field)]
    for end in reversed(cut):
        head = field[:end]
        if head in paths:
            return FieldError(paths[head] + field[end:], error.message, error.code)
    return error
