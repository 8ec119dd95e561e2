"""`loyalty.ledger.verify` names every kind of breach of the ledger's invariants.

A consistent ledger is built through the services (orders, a redemption, a refund under each
branch of the policy, pending points, an expiry); each test then breaks exactly one invariant with
a direct write to the tables, as a faulty migration or a hand edit would, and asserts the exact
findings of `verify.check` and of `guanxi loyalty verify` (exit 1, one readable line per finding).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import expiration, verify
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.ledger.verify import Breach
from guanxi.loyalty.members import points as points_service
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import LotMovement, LoyaltyAccount, PointEntry, PointLot
from guanxi.loyalty.program.schemas import RedeemIn, RefundIn
from tests.factories import create_customer, post_order

runner = CliRunner()
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@dataclass(frozen=True)
class Ledger:
    """Ids of the consistent ledger's rows that the tests break.

    Member `a` (balance 180, pending 80): `expired` 50 points that expired; `spent` issued 300,
    120 redeemed; `refunded` 100, all reversed by a refund (closed); `waiting` 80 pending.
    Member `b` (balance -100, a refund's debt, pending 40): `debt_waiting` 40 pending.
    """

    a: str
    b: str
    expired: int
    spent: int
    refunded: int
    waiting: int
    debt_waiting: int
    redeem_entry: int
    refund_entry: int
    use_movement: int
    expire_movement: int
    last_entry: int


def _lot(session: Session, account_id: str, **where: object) -> int:
    query = select(PointLot.id).where(PointLot.account_id == account_id).filter_by(**where)
    return int(session.scalars(query).one())


@pytest.fixture
def built(db: Database) -> Iterator[Ledger]:
    with clock.frozen(NOW - timedelta(days=400)), db.unit_of_work() as session:
        a = create_customer(session, name="张伟")
        b = create_customer(session, name="李娜")
        post_order(session, customer_id=a.id, amount="50.00", external_id="V-OLD")
    with clock.frozen(NOW) as now:
        assert expiration.expire(db).points == 50
        with db.unit_of_work() as session:
            post_order(session, customer_id=a.id, amount="300.00", external_id="V-SPENT")
            refunded = post_order(session, customer_id=a.id, amount="100.00", external_id="V-REFUNDED")
            owed = post_order(session, customer_id=b.id, amount="100.00", external_id="V-OWED")
        with db.unit_of_work() as session:
            redeemed = points_service.redeem(session, SYSTEM, a.id, RedeemIn(points=120), "v-spend")
            points_service.redeem(session, SYSTEM, b.id, RedeemIn(points=100), "v-spend-b")
        with db.unit_of_work() as session:
            refund, _ = orders.refund_order(session, SYSTEM, refunded.id, RefundIn(amount=Decimal("100")), "r")
            debt, _ = orders.refund_order(session, SYSTEM, owed.id, RefundIn(amount=Decimal("100")), "r")
        assert (refund.points_from_order, debt.debt_created) == (100, 100)
        now.advance(timedelta(hours=1))
        with db.unit_of_work() as session:
            config = program.load(session)
            accounts = {acc.customer_id: acc for acc in session.scalars(select(LoyaltyAccount))}
            for customer_id, points in ((a.id, 80), (b.id, 40)):
                ledger.credit(
                    session,
                    ledger.lock_accounts(session, [accounts[customer_id].id])[accounts[customer_id].id],
                    config,
                    points=points,
                    kind="earn",
                    reason="order",
                    source="campaign",
                    actor_id="t",
                    pending_days=7,
                )
        with db.unit_of_work(read_only=True) as session:
            assert verify.check(session) == []
            acc_a, acc_b = accounts[a.id].id, accounts[b.id].id
            balances = {
                acc.id: (acc.points_balance, acc.pending_points) for acc in session.scalars(select(LoyaltyAccount))
            }
            assert balances == {acc_a: (180, 80), acc_b: (-100, 40)}
            spent = _lot(session, acc_a, source="order", issued=300)
            expired = _lot(session, acc_a, status="closed", issued=50)
            ids = Ledger(
                a=acc_a,
                b=acc_b,
                expired=expired,
                spent=spent,
                refunded=_lot(session, acc_a, source="order", issued=100),
                waiting=_lot(session, acc_a, status="pending"),
                debt_waiting=_lot(session, acc_b, status="pending"),
                redeem_entry=redeemed.entry_id,
                refund_entry=int(
                    session.scalars(
                        select(PointEntry.id).where(PointEntry.account_id == acc_a, PointEntry.kind == "reverse")
                    ).one()
                ),
                use_movement=int(session.scalars(select(LotMovement.id).where(LotMovement.lot_id == spent)).one()),
                expire_movement=int(session.scalars(select(LotMovement.id).where(LotMovement.lot_id == expired)).one()),
                last_entry=int(session.scalars(select(PointEntry.id).order_by(PointEntry.id.desc()).limit(1)).one()),
            )
        yield ids  # the clock stays frozen while the test breaks the ledger and verifies it


def _break(db: Database, *statements: str, **params: object) -> None:
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def _findings(db: Database) -> list[Breach]:
    with db.unit_of_work(read_only=True) as session:
        return verify.check(session)


def _assert_reported(db: Database, expected: list[Breach]) -> None:
    """`verify.check` finds exactly `expected`, and the command exits 1 printing each of them."""
    assert _findings(db) == expected
    result = runner.invoke(app, ["loyalty", "verify"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [*(str(b) for b in expected), f"{len(expected)} breach(es) found"]


def test_a_finding_reads_as_one_line_with_its_code() -> None:
    breach = Breach("lot_equation", "issued = used + expired + reversed + remaining", "lot 7", "310 != 120 + 180")
    assert str(breach) == "issued = used + expired + reversed + remaining: lot 7: 310 != 120 + 180 [lot_equation]"


def test_the_built_ledger_is_consistent_and_the_command_says_so(built: Ledger) -> None:
    result = runner.invoke(app, ["loyalty", "verify"])
    assert (result.exit_code, result.output) == (0, "loyalty ledger consistent: every invariant holds\n")


def test_an_entry_the_balance_never_saw(db: Database, built: Ledger) -> None:
    # A forged +5 entry whose running figures are right, but the account was never credited.
    with db.engine.begin() as conn:
        _insert_entry(conn, built.a, points=5, balance_after=185, pending_after=80)
    _assert_reported(
        db,
        [
            Breach(
                "balance_entries",
                "balance = sum of entries",
                f"account {built.a}",
                "balance 180 + pending 80 != entries 265",
            )
        ],
    )


def _insert_entry(conn: Connection, account_id: str, *, points: int, balance_after: int, pending_after: int) -> None:
    conn.execute(
        PointEntry.__table__.insert().values(
            account_id=account_id,
            kind="adjust",
            points=points,
            balance_after=balance_after,
            pending_after=pending_after,
            reason="forged",
            actor_id="t",
            detail={},
            occurred_at=NOW,
            created_at=NOW,
        )
    )


def test_available_lots_that_hold_less_than_the_balance(db: Database, built: Ledger) -> None:
    # The lot and its movement agree with each other (125 used) but the balance says 120 were.
    _break(
        db,
        "UPDATE loyalty_point_lots SET used = 125, remaining = 175 WHERE id = :lot",
        "UPDATE loyalty_lot_movements SET points = 125 WHERE id = :movement",
        lot=built.spent,
        movement=built.use_movement,
    )
    _assert_reported(
        db,
        [
            Breach(
                "balance_lots",
                "balance = sum of open lots",
                f"account {built.a}",
                "available lots hold 175, balance is 180",
            )
        ],
    )


def test_pending_lots_that_disagree_with_pending_points(db: Database, built: Ledger) -> None:
    _break(
        db,
        "UPDATE loyalty_point_lots SET reversed = 5, remaining = 75 WHERE id = :lot",
        "INSERT INTO loyalty_lot_movements (entry_id, lot_id, kind, points) VALUES (:entry, :lot, 'reverse', 5)",
        lot=built.waiting,
        entry=built.refund_entry,
    )
    _assert_reported(
        db,
        [
            Breach(
                "pending_lots",
                "pending = sum of pending lots",
                f"account {built.a}",
                "pending lots hold 75, pending is 80",
            )
        ],
    )


def test_a_debt_is_allowed_only_under_allow_negative(db: Database, built: Ledger) -> None:
    """Member b's -100 is a legitimate debt under allow_negative (the built ledger verifies);
    under either other policy no balance may be negative."""
    for policy in ("claw_back", "reduce_refund"):
        _break(db, "UPDATE loyalty_programs SET refund_policy = :policy", policy=policy)
        _assert_reported(
            db,
            [
                Breach(
                    "negative_balance",
                    "no negative balance",
                    f"account {built.b}",
                    f"balance -100 under policy {policy}",
                )
            ],
        )
    _break(db, "UPDATE loyalty_programs SET refund_policy = 'allow_negative'")
    assert _findings(db) == []


def test_a_debt_beside_available_points_under_allow_negative(db: Database, built: Ledger) -> None:
    # b's pending 40 made spendable without repaying the debt (release_matured settles it first).
    _break(
        db,
        "UPDATE loyalty_point_lots SET status = 'available' WHERE id = :lot",
        "UPDATE loyalty_accounts SET pending_points = 0, points_balance = -60 WHERE id = :account",
        lot=built.debt_waiting,
        account=built.b,
    )
    _assert_reported(
        db,
        [
            Breach(
                "balance_lots",
                "balance = sum of open lots",
                f"account {built.b}",
                "available lots hold 40, balance is -60",
            )
        ],
    )


def test_negative_pending_points(db: Database, built: Ledger) -> None:
    # The sum still matches the entries; pending cannot be negative, and the lots disagree twice.
    _break(
        db,
        "UPDATE loyalty_accounts SET pending_points = -5, points_balance = 265 WHERE id = :account",
        account=built.a,
    )
    subject = f"account {built.a}"
    _assert_reported(
        db,
        [
            Breach("balance_lots", "balance = sum of open lots", subject, "available lots hold 180, balance is 265"),
            Breach("pending_lots", "pending = sum of pending lots", subject, "pending lots hold 80, pending is -5"),
            Breach("negative_pending", "no negative pending", subject, "pending -5"),
        ],
    )


@pytest.mark.parametrize(
    ("column", "breach"),
    [
        ("lifetime_expired", Breach("lifetime_expired", "lifetime expired = expire entries", "", "57 != 50")),
        ("lifetime_redeemed", Breach("lifetime_redeemed", "lifetime redeemed = redeem entries", "", "127 != 120")),
    ],
)
def test_lifetime_totals_that_disagree_with_their_entries(
    db: Database, built: Ledger, column: str, breach: Breach
) -> None:
    _break(db, f"UPDATE loyalty_accounts SET {column} = {column} + 7 WHERE id = :account", account=built.a)
    _assert_reported(db, [Breach(breach.code, breach.rule, f"account {built.a}", breach.detail)])


def test_a_lot_whose_parts_do_not_add_up(db: Database, built: Ledger) -> None:
    _break(db, "UPDATE loyalty_point_lots SET issued = 310 WHERE id = :lot", lot=built.spent)
    _assert_reported(
        db,
        [
            Breach(
                "lot_equation",
                "issued = used + expired + reversed + remaining",
                f"lot {built.spent}",
                "310 != 120 + 0 + 0 + 180",
            )
        ],
    )


def test_a_lot_reversed_beyond_zero(db: Database, built: Ledger) -> None:
    # The parts still add up (90 = 100 reversed - 10), but a lot cannot hold -10.
    _break(db, "UPDATE loyalty_point_lots SET issued = 90, remaining = -10 WHERE id = :lot", lot=built.refunded)
    subject = f"lot {built.refunded}"
    _assert_reported(
        db,
        [
            Breach(
                "negative_lot",
                "no negative lot figures",
                subject,
                "issued/used/expired/reversed/remaining 90/0/0/100/-10",
            ),
            Breach("closed_when_empty", "closed exactly when empty", subject, "status closed with -10 remaining"),
        ],
    )


def test_an_empty_lot_left_open(db: Database, built: Ledger) -> None:
    _break(db, "UPDATE loyalty_point_lots SET status = 'available' WHERE id = :lot", lot=built.refunded)
    _assert_reported(
        db,
        [
            Breach(
                "closed_when_empty",
                "closed exactly when empty",
                f"lot {built.refunded}",
                "status available with 0 remaining",
            )
        ],
    )


def test_a_lot_of_an_unknown_status(db: Database, built: Ledger) -> None:
    # Its 180 points count neither as available nor as pending: the balance shows it too.
    _break(db, "UPDATE loyalty_point_lots SET status = 'frozen' WHERE id = :lot", lot=built.spent)
    _assert_reported(
        db,
        [
            Breach(
                "balance_lots",
                "balance = sum of open lots",
                f"account {built.a}",
                "available lots hold 0, balance is 180",
            ),
            Breach("lot_status", "lots are available, pending or closed", f"lot {built.spent}", "status frozen"),
        ],
    )


@pytest.mark.parametrize(
    ("change", "lot", "detail"),
    [
        (
            "UPDATE loyalty_lot_movements SET points = 110 WHERE id = :movement",
            "spent",
            "used/expired/reversed 120/0/0 vs movements 110/0/0",
        ),
        (
            "DELETE FROM loyalty_lot_movements WHERE id = :expire_movement",
            "expired",
            "used/expired/reversed 0/50/0 vs movements 0/0/0",
        ),
    ],
)
def test_lot_figures_that_disagree_with_their_movements(
    db: Database, built: Ledger, change: str, lot: str, detail: str
) -> None:
    _break(db, change, movement=built.use_movement, expire_movement=built.expire_movement)
    lot_id = getattr(built, lot)
    _assert_reported(db, [Breach("lot_movements", "lot figures = its movements", f"lot {lot_id}", detail)])


def test_movements_the_lot_figures_would_not_count(db: Database, built: Ledger) -> None:
    _break(
        db,
        "INSERT INTO loyalty_lot_movements (entry_id, lot_id, kind, points) VALUES (:entry, :lot, 'gift', 5)",
        "INSERT INTO loyalty_lot_movements (entry_id, lot_id, kind, points) VALUES (:entry, :lot, 'use', 0)",
        entry=built.redeem_entry,
        lot=built.spent,
    )
    with db.unit_of_work(read_only=True) as session:
        gift, zero = session.scalars(select(LotMovement.id).order_by(LotMovement.id.desc()).limit(2)).all()[::-1]
    rule = "movements are use, settle, expire or reverse of positive points"
    _assert_reported(
        db,
        [
            Breach("movement_kind", rule, f"movement {gift} of lot {built.spent}", "kind gift with 5 points"),
            Breach("movement_kind", rule, f"movement {zero} of lot {built.spent}", "kind use with 0 points"),
        ],
    )


def test_an_entry_whose_running_balance_is_wrong(db: Database, built: Ledger) -> None:
    # The last entry (b's pending 40): balance_after -100 + pending_after 40 = -60, the running sum.
    _break(db, "UPDATE loyalty_point_entries SET balance_after = -95 WHERE id = :entry", entry=built.last_entry)
    _assert_reported(
        db,
        [
            Breach(
                "running_balance",
                "entry balances = running sum",
                f"entry {built.last_entry}",
                "balance_after -95 + pending_after 40 != running sum -60",
            )
        ],
    )


def test_the_command_shows_at_most_the_limit(db: Database, built: Ledger) -> None:
    _break(db, "UPDATE loyalty_accounts SET lifetime_redeemed = lifetime_redeemed + 1")
    first, second = sorted((built.a, built.b))
    redeemed = {built.a: 120, built.b: 100}
    expected = [
        Breach("lifetime_redeemed", "lifetime redeemed = redeem entries", f"account {acc}", f"{n + 1} != {n}")
        for acc, n in ((first, redeemed[first]), (second, redeemed[second]))
    ]
    assert _findings(db) == expected
    result = runner.invoke(app, ["loyalty", "verify", "--limit", "1"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [str(expected[0]), "1 breach(es) found"]
