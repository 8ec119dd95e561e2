"""The history choice of an order import (the job's `options["history"]`): what the imported
orders give the members once the rows are in (`loyalty.members.history`).

- `record` (default): history only; the figures say how many members the job touched and the
  tiers they hold.
- `tiers`: growth value and tiers rebuilt from the orders, no points.
- `points`: points as well, each award dated to its order, lots expiring as the program says.

A `HistoryPass` follows one job. The runner feeds it each batch's created orders inside the
batch's transaction (`add`); after the last batch `finish` replays every member's orders, oldest
first, and returns the figures for the job's report. What it keeps between the two is on disk, in
a scratch SQLite file: the job's orders by member, and in a dry run (whose batches roll back)
the orders' facts and the members' accounts as they were read, so the memory a job needs is one
batch of members, whatever the file's size. A dry run replays the same facts the same way and
writes nothing, so its figures are what the real run then does (unless live traffic changes the
same accounts in between).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.dataio.importers import RowOutcome
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import FieldError
from guanxi.kit.models import keys_in, table_of
from guanxi.kit.principal import Principal
from guanxi.loyalty.members import history, history_replay, history_rows
from guanxi.loyalty.orders.bulk_import import OrderRecord
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.orders.plan import AccountSnapshot
from guanxi.loyalty.program import config as program

MEMBERS_PER_BATCH = 1000


def choice_of(options: dict[str, Any] | None) -> str:
    """The job's history choice; `award_points` (the per-order path) is none of them."""
    return str((options or {}).get("history") or history.RECORD)


def check_options(session: Session, kind: str, options: dict[str, Any] | None) -> None:
    """Refuse, before anything is written, a history choice the job cannot make."""
    choice = choice_of(options)
    if kind != "orders":
        if choice != history.RECORD:
            raise history.HistoryRefused(
                message="options.history: applies to order imports only",
                errors=[
                    FieldError(
                        "options.history",
                        "applies to order imports only",
                        "history_orders_only",
                        key="problem.import.history_orders_only",
                    )
                ],
            )
        return
    if choice != history.RECORD and (options or {}).get("award_points"):
        raise history.HistoryRefused(
            message="options.history: award_points posts every order itself; give one",
            errors=[
                FieldError(
                    "options.history",
                    "award_points posts every order itself; give one",
                    "history_award_points",
                    key="problem.import.history_award_points",
                )
            ],
        )
    history.check_choice(program.load(session), choice)


class HistoryPass:
    def __init__(self, choice: str, *, dry_run: bool, job_id: str | None = None) -> None:
        self.choice = choice
        self.dry_run = dry_run
        self.job_id = job_id
        self._dir = tempfile.TemporaryDirectory(prefix="guanxi-history-")
        self._db = sqlite3.connect(Path(self._dir.name) / "history.db")
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE orders (customer TEXT NOT NULL, at TEXT NOT NULL, id TEXT NOT NULL, facts TEXT,"
            " PRIMARY KEY (customer, at, id)) WITHOUT ROWID;"
            "CREATE TABLE members (customer TEXT PRIMARY KEY, start TEXT) WITHOUT ROWID;"
        )

    def add(self, session: Session, order_ids: Iterable[str], unchanged: Iterable[tuple[str, str]] = ()) -> None:
        """The orders a batch created, and those it found already recorded (`unchanged`, by
        source and external id: history-only orders an earlier job wrote count now), read in the
        batch's transaction (a dry run's before it rolls back)."""
        ids = list(order_ids)
        keys = set(unchanged)
        if keys and self.choice != history.RECORD:
            recorded = session.execute(select(Order.id).where(keys_in((Order.source, Order.external_id), keys)))
            ids += [order_id for (order_id,) in recorded]
        if not ids:
            return
        if self.choice == history.RECORD or not self.dry_run:
            orders = table_of(Order)
            rows: list[Any] = []
            for start in range(0, len(ids), history.CHUNK):
                rows += session.execute(
                    select(orders.c.customer_id, orders.c.occurred_at, orders.c.id).where(
                        orders.c.id.in_(ids[start : start + history.CHUNK])
                    )
                ).all()
            self._db.executemany(
                "INSERT OR IGNORE INTO orders (customer, at, id) VALUES (?, ?, ?)",
                [(c, _at(at), i) for c, at, i in rows],
            )
            customers = {c for c, _, _ in rows}
        else:
            found = history_rows.read_orders(session, ids)
            self._db.executemany(
                "INSERT OR IGNORE INTO orders (customer, at, id, facts) VALUES (?, ?, ?, ?)",
                [(o.customer_id, _at(o.data.occurred_at), o.order_id, o.as_json()) for o in found],
            )
            customers = {o.customer_id for o in found}
        if self.dry_run:
            self._remember_members(session, customers)
        else:
            self._db.executemany("INSERT OR IGNORE INTO members (customer) VALUES (?)", [(c,) for c in customers])

    def add_batch(self, session: Session, records: Sequence[OrderRecord], outcomes: Sequence[RowOutcome]) -> None:
        """`add` for a batch as the order importer answered it (one outcome per record, in order)."""
        created = [o.entity_id for o in outcomes if o.status == "created" and o.entity_id]
        unchanged = [
            (r.data.source, r.data.external_id)
            for r, o in zip(records, outcomes, strict=True)
            if o.status == "unchanged"
        ]
        self.add(session, created, unchanged)

    def _remember_members(self, session: Session, customers: set[str]) -> None:
        """A dry run's members as the first batch naming them found them (a new member's
        enrolment rolls back with the batch, and the next batch enrols them afresh, the same)."""
        known = {row[0] for row in self._members_in(customers)}
        fresh = customers - known
        if not fresh:
            return
        starts = history_rows.read_members(session, program.ensure(session), fresh, lock=False)
        self._db.executemany(
            "INSERT OR IGNORE INTO members (customer, start) VALUES (?, ?)",
            [(c, _start_json(starts[c])) for c in sorted(fresh) if c in starts],
        )

    def _members_in(self, customers: set[str]) -> list[tuple[str]]:
        found: list[tuple[str]] = []
        listed = sorted(customers)
        for start in range(0, len(listed), 500):
            chunk = listed[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found += self._db.execute(f"SELECT customer FROM members WHERE customer IN ({marks})", chunk).fetchall()  # noqa: S608
        return found

    def _batches(self) -> Iterator[list[tuple[str, str | None]]]:
        cursor = self._db.execute("SELECT customer, start FROM members ORDER BY customer")
        while batch := cursor.fetchmany(MEMBERS_PER_BATCH):
            yield batch

    def _orders_of(self, customers: list[str]) -> dict[str, list[tuple[str, str | None]]]:
        marks = ",".join("?" * len(customers))
        by_customer: dict[str, list[tuple[str, str | None]]] = {c: [] for c in customers}
        for customer, order_id, facts in self._db.execute(
            f"SELECT customer, id, facts FROM orders WHERE customer IN ({marks}) ORDER BY customer, at, id",  # noqa: S608
            customers,
        ):
            by_customer[customer].append((order_id, facts))
        return by_customer

    def finish(self, database: Database, actor: Principal) -> dict[str, Any]:
        """Replay every member's orders (a real run writes them, a batch of members to a
        transaction) and return `{"history": figures}`."""
        figures = history.Figures(self.choice)
        with database.unit_of_work(read_only=True) as session:
            config = program.load(session)
        view = history.terms(config, self.choice)
        for batch in self._batches():
            customers = [c for c, _ in batch]
            orders_of = self._orders_of(customers)
            if self.dry_run:
                now = clock.now()
                starts = {c: _start_from(text) for c, text in batch if text}
                for customer in customers:
                    orders = [history.HistoryOrder.from_json(f) for _, f in orders_of[customer] if f]
                    if customer in starts:
                        figures.add(
                            history_replay.replay(
                                config, view, self.choice, starts[customer], orders, actor_id=actor.id, now=now
                            )
                        )
                continue
            with database.unit_of_work(read_only=self.choice == history.RECORD) as session:
                now = clock.now()
                starts = history_rows.read_members(session, config, customers, lock=self.choice != history.RECORD)
                wanted = [order_id for c in customers for order_id, _ in orders_of[c]]
                by_customer: dict[str, list[history.HistoryOrder]] = {}
                if self.choice != history.RECORD:
                    for order in history_rows.read_orders(session, wanted):
                        by_customer.setdefault(order.customer_id, []).append(order)
                replays = [
                    history_replay.replay(
                        config,
                        view,
                        self.choice,
                        starts[c],
                        by_customer.get(c, []),
                        actor_id=actor.id,
                        now=now,
                        job_id=self.job_id,
                    )
                    for c in customers
                    if c in starts
                ]
                history_rows.write(session, actor, replays, choice=self.choice, job_id=self.job_id)
                for member in replays:
                    figures.add(member)
        return figures.as_dict()

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


def _at(value: datetime) -> str:
    """A sortable UTC text for the instant (the scratch orders a member's orders by it)."""
    return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()


def _start_json(start: history.MemberStart) -> str:
    snapshot = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(start.snapshot).items()}
    return json.dumps({"snapshot": snapshot, "birthday": start.birthday.isoformat() if start.birthday else None})


def _start_from(text: str) -> history.MemberStart:
    raw = json.loads(text)
    times = ("tier_since", "last_order_at", "downgrade_due_at")
    snapshot: dict[str, Any] = {
        k: (datetime.fromisoformat(v) if k in times and v else v) for k, v in raw["snapshot"].items()
    }
    birthday = date.fromisoformat(raw["birthday"]) if raw["birthday"] else None
    return history.MemberStart(AccountSnapshot(**snapshot), birthday)


def after_orders(
    database: Database,
    actor: Principal,
    order_ids: Iterable[str],
    *,
    choice: str,
    dry_run: bool = False,
    job_id: str | None = None,
) -> dict[str, Any]:
    """The whole pass for orders already committed (a real run from a list of order ids): `add`
    in one read transaction, then `finish`."""
    history_pass = HistoryPass(choice, dry_run=dry_run, job_id=job_id)
    try:
        ids = list(order_ids)
        for start in range(0, len(ids), history.CHUNK):
            with database.unit_of_work(read_only=True) as session:
                history_pass.add(session, ids[start : start + history.CHUNK])
        return history_pass.finish(database, actor)
    finally:
        history_pass.close()
