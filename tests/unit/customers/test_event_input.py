"""`event_input.plain_event` accepts only events the `EventIn` model accepts, and gives the same
values; everything else goes to the model. And the events API's hand-written answer is the JSON
of its `IngestOut` model."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from guanxi.customers import event_input, events, events_api
from guanxi.customers.events import EventIn, _fields_of
from guanxi.kit.errors import FieldError

GOOD_TEXTS = ["a", "x" * 26, "tab\there", "é中文", "a\nb", " "]
BAD_TEXTS = ["", "x" * 27, "x" * 65, "ok\x00", "\ud800", 5, None]
GOOD_TIMES = ["2026-11-20T12:00:00+08:00", "2026-11-20T12:00:00Z", "2026-11-20T12:00:00.123456-05:30"]
BAD_TIMES: list[Any] = [
    "2026-11-20T12:00:00.1234567+00:00",
    "2026-11-20T12:00:00",
    "2026-11-20 12:00:00+08:00",
    "2026-13-01T00:00:00Z",
    "1899-12-31T23:00:00+00:00",
    "2201-01-01T00:00:00+00:00",
    "1700000000",
    1700000000,
    None,
]
GOOD_VALUES: list[Any] = [None, True, 0, 1.5, float("nan"), "s", 10**30, "中文"]
BAD_VALUES: list[Any] = ["bad\x07", [], {}, {"a": 1}]


def pick(rng: random.Random, good: list[Any], bad: list[Any]) -> Any:
    return rng.choice(good) if rng.random() < 0.9 else rng.choice(bad)


def _identity(rng: random.Random) -> Any:
    item: dict[str, Any] = {
        "kind": pick(rng, ["phone", "app_user_id", "wechat_openid", "resident_id"], ["nonsense", 3, None]),
        "value": pick(rng, [*GOOD_TEXTS, "13800138000", "x" * 254], [*BAD_TEXTS, "x" * 255]),
    }
    if rng.random() < 0.5:
        item["namespace"] = pick(rng, ["", "wx", "x" * 64], ["x" * 65, "a\x01", None])
    if rng.random() < 0.5:
        item["verified"] = pick(rng, [True, False], ["true", 1, None])
    if rng.random() < 0.03:
        item["extra"] = 1
    return item if rng.random() < 0.97 else rng.choice(["phone", None, []])


def _event(rng: random.Random) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "event_id": pick(rng, ["e-1", "e.1:a_b", "x" * 64], ["x" * 65, "", "e 1", "e\n", "e1\n", 5]),
        "type": pick(rng, ["page_view", "x" * 40], ["x" * 41, "", "a\x00", 7]),
        "occurred_at": pick(rng, GOOD_TIMES, BAD_TIMES),
    }
    for name, good, bad in (
        ("customer_id", [*GOOD_TEXTS, None], BAD_TEXTS),
        ("anonymous_id", ["dev-1", "x" * 64, None], ["x" * 65, "dev 1", "", 5]),
        ("channel", [*GOOD_TEXTS, None], BAD_TEXTS),
    ):
        if rng.random() < 0.5:
            raw[name] = pick(rng, good, bad)
    if rng.random() < 0.6:
        raw["identities"] = [_identity(rng) for _ in range(pick(rng, [0, 1, 2, 5], [6]))]
    if rng.random() < 0.03:
        raw["identities"] = rng.choice([None, "phone", {}])
    if rng.random() < 0.8:
        size = pick(rng, [0, 1, 3, 50], [51])
        raw["properties"] = {f"p{i}": pick(rng, GOOD_VALUES, BAD_VALUES) for i in range(size)}
        if rng.random() < 0.03:
            raw["properties"] = rng.choice([None, [], "x", {"k\x00": 1}, {1: 2}])
    if rng.random() < 0.02:
        raw["unknown"] = 1
    if rng.random() < 0.02:
        del raw[rng.choice(["event_id", "type", "occurred_at"])]
    return raw


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, default=repr, sort_keys=True) == json.dumps(b, default=repr, sort_keys=True)


def test_plain_events_are_exactly_what_the_model_accepts() -> None:
    rng = random.Random(20261120)
    plain = 0
    for _ in range(6000):
        raw = _event(rng)
        fast = event_input.plain_event(raw)
        try:
            model = _fields_of(EventIn.model_validate(raw))
        except ValidationError:
            assert fast is None, raw
            continue
        if fast is None:
            continue
        plain += 1
        assert fast.occurred_at == model.occurred_at and fast.occurred_at.utcoffset() == model.occurred_at.utcoffset()
        fast.occurred_at = model.occurred_at
        assert _same(fast, model), raw
    assert plain > 300  # the fuzzing reaches the plain path often


def test_the_answer_is_the_json_of_its_model() -> None:
    results = [
        events.ItemResult(0, "e1", "accepted", "01CUSTOMER"),
        events.ItemResult(1, None, "rejected", errors=[FieldError("events[1].type", '不是 "x"', "unknown_type")]),
        events.ItemResult(2, "e3", "duplicate", warnings=[FieldError("events[2].identities[0].value", "w", "c")]),
    ]
    result = events.IngestResult(results, merges=["01MERGE"], linked=2, stitched=1)
    body = events_api.ingest_answer(result).body
    model = events_api.IngestOut(
        accepted=1,
        duplicates=1,
        rejected=1,
        identities_linked=2,
        stitched=1,
        merges=["01MERGE"],
        results=[
            events_api.EventResultOut(
                index=r.index,
                event_id=r.event_id,
                status=r.status,
                customer_id=r.customer_id,
                errors=[events_api.Problem(field=e.field, message=e.message, code=e.code) for e in r.errors],
                warnings=[events_api.Problem(field=e.field, message=e.message, code=e.code) for e in r.warnings],
            )
            for r in results
        ],
    )
    expected = json.dumps(model.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")).encode()
    assert body == expected
    assert datetime.now(UTC)  # the answer carries no time: nothing to normalise
