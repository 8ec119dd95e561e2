"""Demo behaviour and duplicates: what a brand's apps send, and the same people arriving twice.

1. Duplicates: about 3 % of customers arrive a second time through another channel: a
   mini-program sign-up with only an openid, a web shop account with an email, a store card typed
   in by staff. Same name, often the same birthday and city. A third of the mini-program ones are
   later tied to the original by a WeChat login that carries both the openid and the unionid:
   event ingestion merges those automatically. The rest stay for the duplicate review.
2. Events: 90 days of page and product views, searches, carts, app opens, logins, store visits,
   campaign clicks, shares, reviews and check-ins, sent through `customers.events.ingest` in
   batches of 1,000, as an app would; some visitors browse anonymously first and log in later,
   so their history is stitched.

Event ids are deterministic and the load is marked in the audit trail: a rerun adds nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.customers import events
from guanxi.customers import service as customer_service
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.schemas import CustomerCreate
from guanxi.demo.catalogue import CATALOGUE, PRODUCT_NAMES
from guanxi.demo.words import count, said
from guanxi.jobs import schedule
from guanxi.kit import clock, formatting
from guanxi.kit.crypto import get_cipher
from guanxi.kit.db import Database
from guanxi.kit.i18n import t
from guanxi.kit.principal import SYSTEM
from guanxi.privacy import audit
from guanxi.privacy.models import AuditRecord

AUDIT_ACTION = "demo.behaviour_loaded"
EVENTS_PER_CUSTOMER = 30
DUPLICATE_SHARE = 0.03
DAYS = 90
BATCH = 1000
MINI_APP = "wx-mini-shop"
Progress = Callable[[str], None]


@dataclass
class BehaviourSummary:
    duplicates: int = 0
    tied_by_unionid: int = 0
    events: int = 0
    merges: int = 0
    stitched: int = 0
    candidates: int = 0  # probable duplicate pairs waiting for review
    seconds: float = 0.0
    reused: bool = False
    kinds: dict[str, int] = field(default_factory=dict)

    def describe(self, language: str) -> list[str]:
        """The summary's lines in `language` (the CLI shows them to the operator)."""
        if self.reused:
            return [t("demo.cli.behaviour_reused", language)]

        def count(value: int) -> str:
            return formatting.number(value, language)

        return [
            t(
                "demo.cli.events",
                language,
                events=count(self.events),
                seconds=formatting.number(self.seconds, language, decimals=0),
                stitched=count(self.stitched),
            ),
            t(
                "demo.cli.duplicates",
                language,
                duplicates=count(self.duplicates),
                merges=count(self.merges),
                candidates=count(self.candidates),
            ),
        ]


@dataclass(frozen=True)
class Person:
    id: str
    unionid: str | None
    app_user: str | None


def _people(session: Session) -> list[Person]:
    c, i = Customer, CustomerIdentity
    rows = session.execute(
        select(c.id, i.kind, i.value_enc)
        .join(i, i.customer_id == c.id, isouter=True)
        .where(c.deleted_at.is_(None))
        .order_by(c.created_at, c.id)
    )
    cipher = get_cipher()
    found: dict[str, dict[str, str | None]] = {}
    for cid, kind, value_enc in rows:
        entry = found.setdefault(cid, {})
        if kind in ("wechat_unionid", "app_user_id") and value_enc is not None:
            entry[kind] = cipher.decrypt(value_enc, context=kind)
    return [Person(cid, ids.get("wechat_unionid"), ids.get("app_user_id")) for cid, ids in found.items()]


def _duplicate(session: Session, rng: random.Random, original: Customer, number: int, tie: bool) -> str:
    """The original's person signing up again through another channel (no shared identity)."""
    channel = "mini_program" if tie else rng.choice(("mini_program", "web", "store"))
    fields: dict[str, Any] = {
        "name": original.name,
        "gender": original.gender,
        "birthday": original.birthday if rng.random() < 0.85 else None,
        "city": original.city if rng.random() < 0.9 else None,
        "province": original.province,
        "source_channel": "wechat" if channel == "mini_program" else channel,
    }
    if channel == "mini_program":
        fields["identities"] = [{"kind": "wechat_openid", "value": f"oMiniDemo{number:06d}", "namespace": MINI_APP}]
    elif channel == "web":
        fields["email"] = f"shopper{number:05d}@example.cn"
    else:
        fields["member_card"] = f"DUP{number:07d}"
    return customer_service.create_customer(session, SYSTEM, CustomerCreate(**fields)).id


def _plant_duplicates(database: Database, rng: random.Random, people: list[Person]) -> list[tuple[str, str]]:
    """Create the duplicates; returns (openid, unionid) pairs for the logins that will tie them."""
    chosen = rng.sample(people, max(1, int(len(people) * DUPLICATE_SHARE))) if people else []
    ties: list[tuple[str, str]] = []
    with database.unit_of_work() as session:
        for number, person in enumerate(chosen):
            original = session.get(Customer, person.id)
            if original is None:
                continue
            tie = person.unionid is not None and number % 3 == 0
            _duplicate(session, rng, original, number, tie)
            if tie and person.unionid:
                ties.append((f"oMiniDemo{number:06d}", person.unionid))
    return ties


_ITEMS = [(sku, category, float(price)) for sku, category, price, _months, _most in CATALOGUE]
_SEARCHES = ("奶粉", "纸尿裤", "面霜", "精华", "T恤", "跑鞋", "茶叶", "保温杯", "礼盒", "防晒")
# type -> relative frequency
_MIX = {
    "page_view": 30,
    "product_view": 25,
    "search": 10,
    "add_to_cart": 8,
    "app_open": 10,
    "login": 3,
    "store_visit": 4,
    "campaign_click": 4,
    "share": 2,
    "review": 2,
    "check_in": 2,
}


def _properties(rng: random.Random, kind: str) -> dict[str, Any]:
    sku, category, price = rng.choice(_ITEMS)
    if kind == "page_view":
        return {"url": rng.choice(("/", "/new", "/sale", f"/c/{sku.split('-')[0].lower()}")), "title": "商城"}
    if kind in ("product_view", "add_to_cart"):
        props: dict[str, Any] = {"sku": sku, "name": PRODUCT_NAMES[sku], "category": category, "price": price}
        if kind == "add_to_cart":
            props["quantity"] = rng.choice((1, 1, 2))
        return props
    if kind == "search":
        return {"query": rng.choice(_SEARCHES), "results": rng.randint(0, 60)}
    if kind == "app_open":
        return {"app_version": rng.choice(("5.2.0", "5.3.1")), "os": rng.choice(("iOS", "Android", "HarmonyOS"))}
    if kind == "login":
        return {"method": rng.choice(("微信授权", "短信验证码", "密码"))}
    if kind == "store_visit":
        return {"store": rng.choice(("SH-01", "SH-02", "BJ-01", "GZ-01")), "minutes": rng.randint(5, 90)}
    if kind == "campaign_click":
        return {"campaign": rng.choice(("双11狂欢节", "春季上新", "会员日")), "url": "/sale"}
    if kind == "share":
        return {"target": rng.choice(("微信好友", "朋友圈")), "sku": sku}
    if kind == "review":
        return {"sku": sku, "rating": rng.choice((3, 4, 5, 5, 5))}
    return {"streak": rng.randint(1, 12)}


def _stream(
    rng: random.Random, people: list[Person], ties: list[tuple[str, str]], now: datetime
) -> Iterator[dict[str, Any]]:
    kinds, weights = list(_MIX), list(_MIX.values())
    start = now - timedelta(days=DAYS)
    for n, person in enumerate(people):
        count = max(1, int(rng.expovariate(1 / EVENTS_PER_CUSTOMER)))
        anonymous = f"demo-dev-{n:06d}" if person.app_user and rng.random() < 0.2 else None
        moments = sorted(start + timedelta(seconds=rng.uniform(0, DAYS * 86400)) for _ in range(count))
        for k, at in enumerate(moments):
            kind = rng.choices(kinds, weights)[0]
            event: dict[str, Any] = {
                "event_id": f"demo-{n}-{k}",
                "type": kind,
                "occurred_at": at.isoformat(),
                "channel": rng.choice(("app", "mini_program", "web", "store" if kind == "store_visit" else "app")),
                "properties": _properties(rng, kind),
            }
            if anonymous and k < count // 2:
                event["anonymous_id"] = anonymous  # browsing before logging in
            elif anonymous and k == count // 2:
                event["type"], event["properties"] = "login", {"method": "password"}
                event["identities"] = [{"kind": "app_user_id", "value": person.app_user}]
                event["anonymous_id"] = anonymous
            else:
                event["customer_id"] = person.id
            yield event
    for number, (openid, unionid) in enumerate(ties):
        yield {
            "event_id": f"demo-tie-{number}",
            "type": "login",
            "occurred_at": (now - timedelta(hours=rng.randint(1, 240))).isoformat(),
            "channel": "mini_program",
            "identities": [
                {"kind": "wechat_openid", "value": openid, "namespace": MINI_APP},
                {"kind": "wechat_unionid", "value": unionid},
            ],
            "properties": {"method": "wechat"},
        }


# Audiences a marketer would build first: saved segments and rule-based tags over the demo data.
_SEGMENTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "上海活跃会员",
        "上海的会员，30 天内打开过应用",
        {
            "rules": [
                {"field": "city", "op": "eq", "value": "上海市"},
                {"field": "event", "op": "did", "value": "app_open", "window": {"last_days": 30}},
            ]
        },
    ),
    (
        "母婴兴趣未购买",
        "90 天内看过母婴商品、但 90 天内没有买过母婴",
        {
            "rules": [
                {
                    "field": "event",
                    "op": "did",
                    "value": "product_view",
                    "window": {"last_days": 90},
                    "where": {"category": "母婴"},
                },
                {
                    "field": "orders.count",
                    "op": "eq",
                    "value": 0,
                    "window": {"last_days": 90},
                    "where": {"category": "母婴"},
                },
            ]
        },
    ),
    (
        "高价值或常到店",
        "累计消费 5000 元以上，或 90 天内到店 3 次以上",
        {
            "match": "any",
            "rules": [
                {"field": "orders.total", "op": "gte", "value": 5000},
                {"field": "event", "op": "did", "value": "store_visit", "window": {"last_days": 90}, "min_count": 3},
            ],
        },
    ),
)
_TAG_RULES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "mother_baby_regular",
        "母婴常客",
        {
            "rules": [
                {
                    "field": "orders.count",
                    "op": "gte",
                    "value": 2,
                    "window": {"last_days": 90},
                    "where": {"category": "母婴"},
                }
            ]
        },
    ),
    (
        "searcher",
        "爱搜索",
        {"rules": [{"field": "event", "op": "did", "value": "search", "window": {"last_days": 30}, "min_count": 3}]},
    ),
)


def _audiences(database: Database) -> None:
    from guanxi.marketing import segments, tag_rules
    from guanxi.marketing.schemas import SegmentIn, TagRuleIn

    with database.unit_of_work() as session:
        for name, description, conditions in _SEGMENTS:
            data = SegmentIn(name=name, description=description, kind="dynamic", conditions=conditions)
            segments.create_segment(session, SYSTEM, data)
        for code, tag, conditions in _TAG_RULES:
            tag_rules.create_rule(session, SYSTEM, TagRuleIn(code=code, tag=tag, conditions=conditions))


def load_behaviour(database: Database, *, seed: int, progress: Progress | None = None) -> BehaviourSummary:
    say: Progress = progress or (lambda _message: None)
    with database.unit_of_work(read_only=True) as session:
        marker = session.scalar(select(AuditRecord.seq).where(AuditRecord.action == AUDIT_ACTION).limit(1))
        if marker is not None:
            return BehaviourSummary(reused=True)
        people = _people(session)
    started = time.perf_counter()
    rng = random.Random(seed + 4)
    summary = BehaviourSummary()
    say(said("demo.progress.duplicates", count=count(int(len(people) * DUPLICATE_SHARE))))
    ties = _plant_duplicates(database, rng, people)
    summary.duplicates = max(1, int(len(people) * DUPLICATE_SHARE)) if people else 0
    summary.tied_by_unionid = len(ties)
    now = clock.now()
    batch: list[dict[str, Any]] = []
    next_report = time.perf_counter() + 5

    def send() -> None:
        with database.unit_of_work() as session:
            result = events.ingest(session, SYSTEM, batch, partial=True, source="demo")
        summary.events += result.count("accepted")
        summary.merges += len(result.merges)
        summary.stitched += result.stitched
        batch.clear()

    for event in _stream(rng, people, ties, now):
        batch.append(event)
        if len(batch) == BATCH:
            send()
            if time.perf_counter() >= next_report:
                rate = summary.events / (time.perf_counter() - started)
                say(said("demo.progress.events", count=count(summary.events), rate=count(rate)))
                next_report = time.perf_counter() + 5
    if batch:
        send()
    _audiences(database)
    say(said("demo.progress.night"))
    night = schedule.run_daily(database, steps=("analytics", "tag_rules", "duplicates", "customer_data"))
    summary.candidates = night.duplicates.created if night.duplicates else 0
    summary.seconds = time.perf_counter() - started
    with database.unit_of_work() as session:
        detail = {"events": summary.events, "duplicates": summary.duplicates, "merges": summary.merges}
        audit.record(session, SYSTEM, AUDIT_ACTION, entity_type="demo", detail=detail)
    return summary
