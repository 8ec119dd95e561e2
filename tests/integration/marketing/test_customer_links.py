"""Marketing in merges (static memberships and tag history follow the person, and come back on
undo) and in the customer 360 (segments and merges as sections)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from guanxi.customers import merge, notes, timeline
from guanxi.customers.tag_history import CustomerTagHistory
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.marketing import segments
from guanxi.marketing.models import SegmentMember
from guanxi.marketing.schemas import SegmentIn
from tests.factories import create_customer

VIP = {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]}


def _members(db: Database) -> set[tuple[str, str]]:
    with db.unit_of_work(read_only=True) as session:
        return set(session.execute(select(SegmentMember.segment_id, SegmentMember.customer_id)).tuples())


def _history_owners(db: Database) -> list[tuple[str, str]]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(
            select(CustomerTagHistory.tag, CustomerTagHistory.customer_id).order_by(CustomerTagHistory.id)
        )
        return list(rows.tuples())


def _setup(db: Database) -> dict[str, Any]:
    with db.unit_of_work() as session:
        keep = create_customer(session, name="张伟", phone="13800138000").id
        gone = create_customer(session, name="张伟", email="z@example.com").id
        notes.add_tag(session, SYSTEM, gone, "VIP")
        notes.add_tag(session, SYSTEM, keep, "VIP")
        both = segments.create_segment(session, SYSTEM, SegmentIn(name="VIP 快照", kind="static", conditions=VIP)).id
        notes.add_tag(session, SYSTEM, gone, "母婴")
        only_gone = segments.create_segment(
            session,
            SYSTEM,
            SegmentIn(
                name="母婴快照", kind="static", conditions={"rules": [{"field": "tag", "op": "has", "value": "母婴"}]}
            ),
        ).id
    return {"keep": keep, "gone": gone, "both": both, "only_gone": only_gone}


def test_memberships_and_tag_history_follow_a_merge_and_come_back_on_undo(db: Database) -> None:
    ids = _setup(db)
    keep, gone = ids["keep"], ids["gone"]
    before_members = _members(db)
    before_history = _history_owners(db)
    assert before_members == {(ids["both"], keep), (ids["both"], gone), (ids["only_gone"], gone)}
    with db.unit_of_work() as session:
        record = merge.merge_customers(session, SYSTEM, survivor_id=keep, merged_id=gone, reason="manual")
        merge_id = record.id
        assert record.summary["segment_members"] == 1 and record.summary["segment_members.same"] == 1
    assert _members(db) == {(ids["both"], keep), (ids["only_gone"], keep)}
    assert {owner for _tag, owner in _history_owners(db)} == {keep}
    with db.unit_of_work() as session:
        merge.undo_merge(session, SYSTEM, merge_id)
    assert _members(db) == before_members
    assert _history_owners(db) == before_history


def test_the_360_sections_name_segments_and_merges(db: Database) -> None:
    ids = _setup(db)
    with db.unit_of_work() as session:
        merge.merge_customers(session, SYSTEM, survivor_id=ids["keep"], merged_id=ids["gone"], reason="manual")
    with db.unit_of_work() as session:
        found = timeline.sections(session, SYSTEM, ids["keep"])
        assert sorted(s["name"] for s in found["segments"]) == ["VIP 快照", "母婴快照"]
        assert [(m["merged_id"], m["reason"], m["status"]) for m in found["merges"]] == [
            (ids["gone"], "manual", "merged")
        ]
        items = timeline.timeline(session, SYSTEM, ids["keep"], kinds_wanted=["merge", "tag"]).items
        assert items[0].kind == "merge"
        assert sorted(i.title for i in items if i.kind == "tag") == ["+VIP", "+VIP", "+母婴"]
