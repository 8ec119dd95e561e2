"""A search sorted by `match` is ordered by the key the text matched and pages through exactly
the customers the search finds (the same ones any other sort finds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guanxi.customers import listing
from guanxi.customers.models import Customer
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import BadRequest
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import SYSTEM
from tests.factories import create_customer

# Created in this order, so ids (ULIDs) ascend in it. 章伟 and 张伟 share the pinyin zhangwei.
NAMES = ["张伟", "赵文", "章伟", "张伟明", "张三", "周伟", "曾伟", "王芳", "汪芳", "王五", "李娜"]


@pytest.fixture
def ids(db: Database) -> dict[str, str]:
    created = {}
    with clock.frozen(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)) as frozen, db.unit_of_work() as session:
        for name in NAMES:
            created[name] = create_customer(session, name=name).id
            frozen.advance(timedelta(seconds=1))
    return created


def tie(ids: dict[str, str]) -> list[str]:
    """张伟 and 章伟 share their pinyin: the id decides."""
    return sorted(["张伟", "章伟"], key=ids.__getitem__)


def _page(db: Database, q: str, page: PageRequest) -> tuple[list[str], str | None]:
    with db.unit_of_work() as session:  # an admin's read writes a reveal record
        result = listing.list_customers(session, SYSTEM, listing.CustomerFilter(q=q), page)
    return [c.name or "" for c in result.items], result.next_cursor


def walk(db: Database, q: str, *, sort: str = "match", descending: bool = False, limit: int = 2) -> list[str]:
    """Every page of a search, following the cursors."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = _page(db, q, PageRequest(limit=limit, cursor=cursor, sort=sort, descending=descending))
        names += page
        if cursor is None:
            return names


def test_letters_are_ordered_by_pinyin_then_id(db: Database, ids: dict[str, str]) -> None:
    # zw matches no pinyin but six initials: 曾伟 reads zeng (surname table), 张伟 and 章伟 tie.
    assert walk(db, "zw") == ["曾伟", *tie(ids), "张伟明", "赵文", "周伟"]
    assert walk(db, "zw", limit=50) == walk(db, "zw", limit=1)
    assert walk(db, "zhang") == ["张三", *tie(ids), "张伟明"]
    assert walk(db, "wangf") == sorted(["王芳", "汪芳"], key=ids.__getitem__)
    assert walk(db, "zw", descending=True) == ["周伟", "赵文", "张伟明", *reversed(tie(ids)), "曾伟"]


def test_characters_are_ordered_by_the_name(db: Database, ids: dict[str, str]) -> None:
    assert walk(db, "张") == ["张三", "张伟", "张伟明"]
    assert walk(db, "王") == ["王五", "王芳"]  # 五 U+4E94 before 芳 U+82B3
    assert walk(db, "张", descending=True) == ["张伟明", "张伟", "张三"]


def test_match_finds_the_same_customers_as_any_other_sort(db: Database, ids: dict[str, str]) -> None:
    for q in ("zw", "z", "zhang", "张", "王", "wang", "w", "GX0010000002", "10000003", "li", "nobody", " zw "):
        by_match = walk(db, q)
        by_time = walk(db, q, sort="created_at", descending=True)
        assert sorted(by_match) == sorted(by_time), q
        assert len(by_match) == len(set(by_match)), q


def test_one_letter_finds_everyone_whose_pinyin_starts_with_it(db: Database, ids: dict[str, str]) -> None:
    assert walk(db, "z") == ["曾伟", "张三", *tie(ids), "张伟明", "赵文", "周伟"]


def test_an_explicit_sort_still_applies_to_a_search(db: Database, ids: dict[str, str]) -> None:
    assert walk(db, "zw", sort="created_at", descending=True) == ["曾伟", "周伟", "张伟明", "章伟", "赵文", "张伟"]
    assert walk(db, "zw", sort="member_no") == ["张伟", "赵文", "章伟", "张伟明", "周伟", "曾伟"]


def test_match_needs_a_search_text(db: Database, ids: dict[str, str]) -> None:
    for q in ("", "   "):
        with pytest.raises(BadRequest) as info, db.unit_of_work() as session:
            listing.list_customers(session, SYSTEM, listing.CustomerFilter(q=q), PageRequest(sort="match"))
        assert [e.field for e in info.value.errors] == ["sort"]


def test_match_column(ids: dict[str, str]) -> None:
    assert listing.match_column("张") is Customer.name
    assert listing.match_column("zhang wei") is Customer.name_pinyin
    assert listing.match_column("13800138000") is Customer.name
    assert listing.match_column("Иван") is Customer.name


def test_a_cursor_from_another_sort_is_refused(db: Database, ids: dict[str, str]) -> None:
    _, cursor = _page(db, "zw", PageRequest(limit=2, sort="created_at"))
    assert cursor is not None
    with pytest.raises(BadRequest) as info:
        _page(db, "zw", PageRequest(limit=2, sort="match", descending=False, cursor=cursor))
    assert [e.field for e in info.value.errors] == ["cursor"]
