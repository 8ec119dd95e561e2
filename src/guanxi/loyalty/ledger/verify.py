"""Check every invariant of the points ledger with set-based queries (`guanxi loyalty verify`).

A breach names the rule (a stable `code` and its wording), the account, lot, movement or entry,
and both sides of the equation, so an operator can see at once what disagrees. Nothing here writes.

`lifetime_earned` is not checked: a customer merge carries it to the survivor without entries, so
it is a statistic, not a projection of the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from guanxi.loyalty.program.models import LotMovement, LoyaltyAccount, PointEntry, PointLot, Program

MOVEMENT_KINDS = ("use", "settle", "expire", "reverse")
LOT_STATUSES = ("available", "pending", "closed")


@dataclass(frozen=True)
class Breach:
    code: str
    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}: {self.detail} [{self.code}]"


def _sum(column: Any) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


def _entry_sums(session: Session) -> dict[str, tuple[int, int, int]]:
    rows = session.execute(
        select(
            PointEntry.account_id,
            _sum(PointEntry.points),
            _sum(case((PointEntry.kind == "expire", -PointEntry.points), else_=0)),
            _sum(case((PointEntry.kind == "redeem", -PointEntry.points), else_=0)),
        ).group_by(PointEntry.account_id)
    ).all()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def _lot_sums(session: Session) -> dict[str, tuple[int, int]]:
    rows = session.execute(
        select(
            PointLot.account_id,
            _sum(case((PointLot.status == "available", PointLot.remaining), else_=0)),
            _sum(case((PointLot.status == "pending", PointLot.remaining), else_=0)),
        ).group_by(PointLot.account_id)
    ).all()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _accounts(session: Session) -> Iterator[Breach]:
    entries = _entry_sums(session)
    lots = _lot_sums(session)
    policies = dict(session.execute(select(Program.id, Program.refund_policy)).all())
    rows = session.execute(
        select(
            LoyaltyAccount.id,
            LoyaltyAccount.program_id,
            LoyaltyAccount.points_balance,
            LoyaltyAccount.pending_points,
            LoyaltyAccount.lifetime_expired,
            LoyaltyAccount.lifetime_redeemed,
        ).order_by(LoyaltyAccount.id)
    )
    for account_id, program_id, balance, pending, expired, redeemed in rows:
        total, expired_sum, redeemed_sum = entries.get(account_id, (0, 0, 0))
        available, pending_lots = lots.get(account_id, (0, 0))
        if balance + pending != total:
            yield Breach(
                "balance_entries",
                "balance = sum of entries",
                f"account {account_id}",
                f"balance {balance} + pending {pending} != entries {total}",
            )
        if available != max(balance, 0):
            yield Breach(
                "balance_lots",
                "balance = sum of open lots",
                f"account {account_id}",
                f"available lots hold {available}, balance is {balance}",
            )
        if pending_lots != pending:
            yield Breach(
                "pending_lots",
                "pending = sum of pending lots",
                f"account {account_id}",
                f"pending lots hold {pending_lots}, pending is {pending}",
            )
        if balance < 0 and policies.get(program_id) != "allow_negative":
            yield Breach(
                "negative_balance",
                "no negative balance",
                f"account {account_id}",
                f"balance {balance} under policy {policies.get(program_id)}",
            )
        if pending < 0:
            yield Breach("negative_pending", "no negative pending", f"account {account_id}", f"pending {pending}")
        if expired != expired_sum:
            yield Breach(
                "lifetime_expired",
                "lifetime expired = expire entries",
                f"account {account_id}",
                f"{expired} != {expired_sum}",
            )
        if redeemed != redeemed_sum:
            yield Breach(
                "lifetime_redeemed",
                "lifetime redeemed = redeem entries",
                f"account {account_id}",
                f"{redeemed} != {redeemed_sum}",
            )


def _lots(session: Session) -> Iterator[Breach]:
    moved = {
        r[0]: (int(r[1]), int(r[2]), int(r[3]))
        for r in session.execute(
            select(
                LotMovement.lot_id,
                _sum(case((LotMovement.kind.in_(("use", "settle")), LotMovement.points), else_=0)),
                _sum(case((LotMovement.kind == "expire", LotMovement.points), else_=0)),
                _sum(case((LotMovement.kind == "reverse", LotMovement.points), else_=0)),
            ).group_by(LotMovement.lot_id)
        )
    }
    rows = session.execute(
        select(
            PointLot.id,
            PointLot.issued,
            PointLot.used,
            PointLot.expired,
            PointLot.reversed,
            PointLot.remaining,
            PointLot.status,
        ).order_by(PointLot.id)
    )
    for lot_id, issued, used, expired, reversed_, remaining, status in rows:
        subject = f"lot {lot_id}"
        if issued != used + expired + reversed_ + remaining:
            yield Breach(
                "lot_equation",
                "issued = used + expired + reversed + remaining",
                subject,
                f"{issued} != {used} + {expired} + {reversed_} + {remaining}",
            )
        if min(issued, used, expired, reversed_, remaining) < 0:
            yield Breach(
                "negative_lot",
                "no negative lot figures",
                subject,
                f"issued/used/expired/reversed/remaining {issued}/{used}/{expired}/{reversed_}/{remaining}",
            )
        if status not in LOT_STATUSES:
            yield Breach("lot_status", "lots are available, pending or closed", subject, f"status {status}")
        if (status == "closed") != (remaining == 0):
            yield Breach(
                "closed_when_empty", "closed exactly when empty", subject, f"status {status} with {remaining} remaining"
            )
        m_used, m_expired, m_reversed = moved.get(lot_id, (0, 0, 0))
        if (used, expired, reversed_) != (m_used, m_expired, m_reversed):
            yield Breach(
                "lot_movements",
                "lot figures = its movements",
                subject,
                f"used/expired/reversed {used}/{expired}/{reversed_} vs movements {m_used}/{m_expired}/{m_reversed}",
            )


def _movements(session: Session) -> Iterator[Breach]:
    """Each movement is of a kind the lot figures count, and moves a positive number of points:
    any other row would change nothing the lot check sums, and so would hide."""
    rows = session.execute(
        select(LotMovement.id, LotMovement.lot_id, LotMovement.kind, LotMovement.points)
        .where(LotMovement.kind.not_in(MOVEMENT_KINDS) | (LotMovement.points <= 0))
        .order_by(LotMovement.id)
    )
    for movement_id, lot_id, kind, points in rows:
        yield Breach(
            "movement_kind",
            "movements are use, settle, expire or reverse of positive points",
            f"movement {movement_id} of lot {lot_id}",
            f"kind {kind} with {points} points",
        )


def _running_balances(session: Session) -> Iterator[Breach]:
    """Each entry's balance_after + pending_after is the running sum of the account's entries."""
    running: dict[str, int] = {}
    rows = session.execute(
        select(
            PointEntry.id, PointEntry.account_id, PointEntry.points, PointEntry.balance_after, PointEntry.pending_after
        )
        .order_by(PointEntry.account_id, PointEntry.id)
        .execution_options(yield_per=10_000)
    )
    for entry_id, account_id, points, balance_after, pending_after in rows:
        running[account_id] = running.get(account_id, 0) + points
        if balance_after + pending_after != running[account_id]:
            yield Breach(
                "running_balance",
                "entry balances = running sum",
                f"entry {entry_id}",
                f"balance_after {balance_after} + pending_after {pending_after} != running sum {running[account_id]}",
            )


def check(session: Session, *, limit: int = 1000) -> list[Breach]:
    """Every breach found, up to `limit`."""
    found: list[Breach] = []
    for source in (_accounts(session), _lots(session), _movements(session), _running_balances(session)):
        for breach in source:
            found.append(breach)
            if len(found) >= limit:
                return found
    return found
