"""Saved segments: dynamic vs static, counts, masked samples and pages, memberships, audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from guanxi.customers import notes
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, PermissionDenied, ValidationFailed
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.marketing import segments
from guanxi.marketing.models import SegmentMember
from guanxi.marketing.schemas import SegmentIn, SegmentUpdate
from guanxi.privacy.models import AuditRecord
from tests.integration.marketing.planted import EAST, frozen, plant

__all__ = ["frozen"]

VIP = {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]}
MARKETER = Principal(id="mk", name="市场", role="marketing", scope="all")
ANALYST = Principal(id="an", name="分析", role="analyst", scope="all")


def _create(db: Database, actor: Principal = SYSTEM, **data: Any) -> str:
    with db.unit_of_work() as session:
        return segments.create_segment(session, actor, SegmentIn(**data)).id


def _count(db: Database, segment_id: str, actor: Principal = SYSTEM) -> int:
    with db.unit_of_work() as session:
        return segments.count_segment(session, actor, segment_id)


def test_preview_counts_and_samples_masked_per_role(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    with db.unit_of_work() as session:
        preview = segments.preview(session, MARKETER, VIP, sample=20)
    assert preview.count == 2
    assert {c.name for c in preview.sample} == {"张伟", "王芳"}
    zhang = next(c for c in preview.sample if c.id == planted.ids["张伟"])
    assert zhang.phone == "138****8001"
    assert zhang.tags == ["VIP"]
    with db.unit_of_work() as session:
        hidden = segments.preview(session, ANALYST, VIP, sample=1)
    assert hidden.count == 2 and len(hidden.sample) == 1
    assert hidden.sample[0].phone is None and hidden.sample[0].name.endswith("*")
    with db.unit_of_work() as session:
        east = segments.preview(session, EAST, {"rules": [{"field": "city", "op": "is_set"}]}, sample=0)
    assert (east.count, east.sample) == (2, [])


def test_a_full_view_sample_is_audited_as_a_reveal(db: Database, frozen: clock.FrozenClock) -> None:
    plant(db)
    with db.unit_of_work() as session:
        before = session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "customer.reveal")
        )
        segments.preview(session, SYSTEM, VIP)
        after = session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "customer.reveal")
        )
    assert (before, after) == (0, 1)


def test_dynamic_segments_follow_the_data_static_ones_keep_their_snapshot(
    db: Database, frozen: clock.FrozenClock
) -> None:
    planted = plant(db)
    dynamic = _create(db, name="VIP 动态", conditions=VIP)
    static = _create(db, name="VIP 快照", kind="static", conditions=VIP)
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(SegmentMember)) == 2
    assert (_count(db, dynamic), _count(db, static)) == (2, 2)
    with db.unit_of_work() as session:
        notes.add_tag(session, SYSTEM, planted.ids["李娜"], "VIP")
        notes.remove_tag(session, SYSTEM, planted.ids["王芳"], "VIP")
    assert (_count(db, dynamic), _count(db, static)) == (2, 2)
    with db.unit_of_work() as session:
        page = segments.members(session, MARKETER, static, limit=10)
        assert {c.name for c in page.items} == {"张伟", "王芳"}
        page = segments.members(session, MARKETER, dynamic, limit=10)
        assert {c.name for c in page.items} == {"张伟", "李娜"}
    frozen.advance(timedelta(minutes=1))
    with db.unit_of_work() as session:
        snap = segments.snapshot(session, SYSTEM, static)
        assert (snap.id, snap.snapshot_count, snap.snapshot_at) == (static, 2, clock.now())
        assert {c.name for c in segments.members(session, MARKETER, static).items} == {"张伟", "李娜"}
        copy = segments.snapshot(session, SYSTEM, dynamic)
        assert (copy.kind, copy.snapshot_count) == ("static", 2)
        assert copy.name == "VIP 动态 @ 2026-11-20 02:01:00"


def test_members_page_through_in_id_order_within_scope(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    everyone = _create(db, name="全部", conditions={"rules": [{"field": "gender", "op": "is_set"}]})
    seen: list[str] = []
    cursor = None
    with db.unit_of_work() as session:
        while True:
            page = segments.members(session, MARKETER, everyone, limit=3, cursor=cursor)
            seen += [c.id for c in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == sorted(planted.ids[n] for n in ("张伟", "李娜", "王芳", "赵强"))
        assert [c.name for c in segments.members(session, EAST, everyone).items] == sorted(
            ["张伟", "王芳"], key=lambda n: planted.ids[n]
        )
    assert _count(db, everyone, EAST) == 2


def test_memberships_of_one_customer(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    vip = _create(db, name="A VIP", conditions=VIP)
    logins = _create(db, name="B 登录", conditions={"rules": [{"field": "event", "op": "did", "value": "login"}]})
    frozen_vip = _create(db, name="C 快照", kind="static", conditions=VIP)
    _create(db, name="D 北京", conditions={"rules": [{"field": "city", "op": "eq", "value": "北京"}]})
    with db.unit_of_work() as session:
        notes.remove_tag(session, SYSTEM, planted.ids["张伟"], "VIP")
    with db.unit_of_work() as session:
        refs = segments.memberships(session, MARKETER, planted.ids["张伟"])
        assert [(r.id, r.kind) for r in refs] == [(logins, "dynamic"), (frozen_vip, "static")]
        assert [r.id for r in segments.memberships(session, MARKETER, planted.ids["王芳"])] == [vip, frozen_vip]
        assert segments.memberships(session, MARKETER, planted.ids["赵强"]) == []


def test_definitions_are_validated_with_paths_and_nothing_is_saved(db: Database, frozen: clock.FrozenClock) -> None:
    plant(db)
    bad = {"groups": [{"rules": [{"field": "event", "op": "did", "value": "teleport"}]}]}
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as session:
        segments.create_segment(session, SYSTEM, SegmentIn(name="x", conditions=bad))
    assert [(e.field, e.code) for e in info.value.errors] == [
        ("conditions.groups[0].rules[0].value", "unknown_event_type")
    ]
    sid = _create(db, name="VIP", conditions=VIP)
    with pytest.raises(Conflict), db.unit_of_work() as session:
        segments.create_segment(session, SYSTEM, SegmentIn(name="VIP", conditions=VIP))
    with pytest.raises(ValidationFailed) as info, db.unit_of_work() as session:
        segments.update_segment(session, SYSTEM, sid, SegmentUpdate(conditions={"rules": [{"field": "age"}]}))
    assert [e.field for e in info.value.errors] == ["conditions.rules[0].op"]
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        segments.create_segment(session, ANALYST, SegmentIn(name="y", conditions=VIP))
    with db.unit_of_work() as session:
        assert [s.name for s in segments.list_segments(session, ANALYST, segments.PageRequest()).items] == ["VIP"]


def test_create_update_delete_are_audited(db: Database, frozen: clock.FrozenClock) -> None:
    plant(db)
    sid = _create(db, MARKETER, name="VIP", kind="static", conditions=VIP)
    with db.unit_of_work() as session:
        segments.update_segment(session, MARKETER, sid, SegmentUpdate(name="VIP 会员", description="重点"))
        segments.delete_segment(session, MARKETER, sid)
        assert session.scalar(select(func.count()).select_from(SegmentMember)) == 0
        rows = session.execute(
            select(AuditRecord.action, AuditRecord.fields)
            .where(AuditRecord.entity_type == "segment")
            .order_by(AuditRecord.seq)
        ).all()
    assert [(a, list(f)) for a, f in rows] == [
        ("segment.create", ["conditions", "kind", "name"]),
        ("segment.update", ["description", "name"]),
        ("segment.delete", []),
    ]
