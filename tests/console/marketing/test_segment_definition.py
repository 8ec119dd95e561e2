"""The builder's plain-data helpers: the live count's pruned definition and its paths (no UI)."""

from __future__ import annotations

from guanxi.console.pages.segment_definition import completed, unpruned
from guanxi.kit.errors import FieldError


def test_rules_waiting_for_a_value_are_left_out_and_paths_map_back() -> None:
    definition = {
        "match": "all",
        "rules": [{"field": "city", "op": "eq"}, {"field": "age", "op": "gte", "value": "abc"}],
        "groups": [
            {"match": "any", "rules": [{"field": "city", "op": "eq", "value": ""}], "groups": []},
            {"match": "any", "rules": [{"field": "tag", "op": "is_set"}], "groups": []},
        ],
    }
    pruned, paths, waiting = completed(definition)
    assert pruned == {
        "match": "all",
        "rules": [{"field": "age", "op": "gte", "value": "abc"}],
        "groups": [{"match": "any", "rules": [{"field": "tag", "op": "is_set"}], "groups": []}],
    }
    assert waiting == ["conditions.rules[0]", "conditions.groups[0].rules[0]"]
    moved = unpruned(FieldError("conditions.rules[0].value", "must be a whole number", "not_an_integer"), paths)
    assert moved.field == "conditions.rules[1].value"
    inner = unpruned(FieldError("conditions.groups[0].rules[0].op", "x", "unknown_operator"), paths)
    assert inner.field == "conditions.groups[1].rules[0].op"
    assert unpruned(FieldError("conditions", "x", "empty_group"), paths).field == "conditions"


def test_nothing_complete_leaves_nothing_to_count() -> None:
    pruned, _, waiting = completed({"match": "all", "rules": [{"field": "city", "op": "eq"}], "groups": []})
    assert pruned is None
    assert waiting == ["conditions.rules[0]"]
