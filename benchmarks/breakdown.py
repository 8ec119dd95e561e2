"""Where a customer read spends its time: the parts of a request timed in-process, in one thread.

Each part is timed as CPU time per call (the best of several rounds, so other processes on the
machine disturb it little). Together with the HTTP figures (framework cost = GET /livez) this
accounts for a request's cost without a profiler:

    lookup by phone = framework + unit of work (+ token check on a credential cache miss)
                      + service call + response models
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROUNDS = 5


def _cpu_ms(fn: Callable[[], object], calls: int) -> float:
    fn()
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - started) / calls)
    return best * 1000


def measure(
    home: Path, database_url: str | None, phones: list[str], say: Callable[[str], None]
) -> list[dict[str, Any]]:
    from benchmarks.api import settings_for

    with settings_for(home, database_url):
        return _measure(home, database_url, phones, say)


def _measure(
    home: Path, database_url: str | None, phones: list[str], say: Callable[[str], None]
) -> list[dict[str, Any]]:
    from sqlalchemy import text

    from guanxi.auth import service as auth
    from guanxi.customers import identity_service, listing
    from guanxi.customers import service as customers
    from guanxi.customers.models import Customer
    from guanxi.customers.normalize import IdentityKind
    from guanxi.customers.schemas import CustomerPage
    from guanxi.kit.crypto import get_cipher
    from guanxi.kit.db import get_database
    from guanxi.kit.pagination import PageRequest, paginate

    database = get_database()
    with database.unit_of_work() as session:
        user = auth.find_user_by_username(session, "service")
        assert user is not None
        raw, _ = auth.issue_token(session, user)
        principal = auth.principal_for(user)
    rng = random.Random(3)
    page = PageRequest(limit=20)

    def unit_of_work() -> None:
        with database.unit_of_work(read_only=True) as session:
            session.execute(text("SELECT 1"))

    def token() -> None:
        with database.unit_of_work(read_only=True) as session:
            auth.principal_from_token(session, raw)

    def statement() -> None:
        flt = listing.CustomerFilter(phone=rng.choice(phones))
        paginate(listing._filtered(principal, flt), page, listing.SORTS, Customer.id)

    def by_phone() -> None:
        with database.unit_of_work(read_only=True) as session:
            flt = listing.CustomerFilter(phone=rng.choice(phones))
            listing.list_customers(session, principal, flt, page)

    def by_lookup() -> None:
        with database.unit_of_work(read_only=True) as session:
            found = identity_service.find_by_identity(session, principal, IdentityKind.PHONE, rng.choice(phones))
            assert found is not None
            customers.customer_detail_of(session, principal, found)

    with database.unit_of_work(read_only=True) as session:
        sample = listing.list_customers(session, principal, listing.CustomerFilter(phone=phones[0]), page)

    def response() -> None:
        CustomerPage.model_validate(CustomerPage(items=sample.items, next_cursor=None).model_dump()).model_dump_json()

    def search(text: str, sort: str) -> Callable[[], None]:
        request = PageRequest(limit=20, sort=sort, descending=sort != "match")

        def run() -> None:
            with database.unit_of_work(read_only=True) as session:
                listing.list_customers(session, principal, listing.CustomerFilter(q=text), request)

        return run

    parts: list[tuple[str, Callable[[], object], int]] = [
        ("unit of work with one SELECT 1 (BEGIN, SELECT, ROLLBACK)", unit_of_work, 300),
        ("kit.crypto.get_cipher() (built once per settings)", get_cipher, 1000),
        ("token check (API: only on a credential cache miss)", token, 200),
        ("phone filter statement built (no query)", statement, 300),
        ("list_customers(phone=) incl. unit of work", by_phone, 100),
        ("find_by_identity + customer_detail incl. unit of work", by_lookup, 100),
        ("response models: CustomerPage validate + JSON, 1 item", response, 300),
        ("list_customers(q='王') sorted by match (default)", search("王", "match"), 10),
        ("list_customers(q='王') sorted by created_at", search("王", "created_at"), 10),
        ("list_customers(q='zhang') sorted by match (default)", search("zhang", "match"), 10),
        ("list_customers(q='zhang') sorted by created_at", search("zhang", "created_at"), 10),
    ]
    results = []
    for label, fn, calls in parts:
        ms = _cpu_ms(fn, calls)
        say(f"  {label:58} {ms:8.3f} ms CPU")
        results.append({"part": label, "cpu_ms": round(ms, 3)})
    if database.is_sqlite:
        results.extend(_sqlite_plans(home / "guanxi.db", say))
    database.dispose()
    return results


def _sqlite_plans(path: Path, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The name search in plain SQL: newest first, and in the name index's own order (sort=match)."""
    connection = sqlite3.connect(path)
    high = "王\U0010ffff"
    queries = {
        "SQL: name prefix '王', ORDER BY created_at (sort=created_at)": (
            "SELECT * FROM customers WHERE deleted_at IS NULL AND name >= ? AND name < ? "
            "ORDER BY created_at DESC, id DESC LIMIT 21"
        ),
        "SQL: name prefix '王', ORDER BY name (sort=match)": (
            "SELECT * FROM customers WHERE deleted_at IS NULL AND name >= ? AND name < ? ORDER BY name, id LIMIT 21"
        ),
    }
    results = []
    for label, sql in queries.items():

        def run(sql: str = sql) -> None:
            connection.execute(sql, ("王", high)).fetchall()

        ms = _cpu_ms(run, 10)
        say(f"  {label:58} {ms:8.3f} ms CPU")
        results.append({"part": label, "cpu_ms": round(ms, 3)})
    connection.close()
    return results
