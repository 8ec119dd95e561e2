"""Composite-key lookups find exactly the keys asked for, through the index (SQLite scans a whole
table for a row-value IN list)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, UniqueConstraint, create_engine, insert, select, text

from guanxi.kit.models import keys_in

metadata = MetaData()
identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String),
    Column("namespace", String),
    Column("value", String),
    UniqueConstraint("kind", "namespace", "value"),
)
COLUMNS = (identities.c.kind, identities.c.namespace, identities.c.value)


def _engine():  # type: ignore[no-untyped-def]
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    rows = [
        {"id": n, "kind": kind, "namespace": ns, "value": f"v{n}"}
        for n, (kind, ns) in enumerate([("phone", ""), ("email", ""), ("openid", "wx1"), ("openid", "wx2")] * 25)
    ]
    with engine.begin() as conn:
        conn.execute(insert(identities), rows)
    return engine


def test_finds_exactly_the_keys_across_several_leading_groups() -> None:
    keys = [
        ("phone", "", "v0"),
        ("phone", "", "v4"),
        ("openid", "wx2", "v3"),
        ("openid", "wx1", "v3"),
        ("email", "", "nope"),
    ]
    with _engine().connect() as conn:
        found = conn.execute(select(identities.c.id).where(keys_in(COLUMNS, keys)).order_by(identities.c.id))
        assert [r.id for r in found] == [0, 3, 4]


def test_no_keys_matches_nothing() -> None:
    with _engine().connect() as conn:
        assert conn.execute(select(identities.c.id).where(keys_in(COLUMNS, []))).all() == []


def test_sqlite_searches_the_index_instead_of_scanning() -> None:
    keys = [("phone", "", "v0"), ("phone", "", "v4"), ("openid", "wx2", "v3")]
    stmt = select(identities.c.id).where(keys_in(COLUMNS, keys))
    with _engine().connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        plan = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    details = [row[-1] for row in plan]
    assert not any(d.startswith("SCAN identities") for d in details), details
    assert any(d.startswith("SEARCH identities USING") and "INDEX" in d for d in details), details
