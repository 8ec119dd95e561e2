"""Check every invariant of the points ledger with set-based queries (`guanxi loyalty verify`).

A breach names the account or lot and both sides of the equation, so an operator can see at once
what disagrees. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from guanxi.loyalty.models import LotMovement, LoyaltyAccount, PointEntry, PointLot, Program


@dataclass(frozen=True)
class Breach:
    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}: {self.detail}"


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
        )
    )
    for account_id, program_id, balance, pending, expired, redeemed in rows:
        total, expired_sum, redeemed_sum = entries.get(account_id, (0, 0, 0))
        available, pending_lots = lots.get(account_id, (0, 0))
        if balance + pending != total:
            yield Breach(
                "balance = sum of entries",
                f"account {account_id}",
                f"balance {balance} + pending {pending} != entries {total}",
            )
        if available != max(balance, 0):
            yield Breach(
                "balance = sum of open lots",
                f"account {account_id}",
                f"available lots hold {available}, balance is {balance}",
            )
        if pending_lots != pending:
            yield Breach(
                "pending = sum of pending lots",
                f"account {account_id}",
                f"pending lots hold {pending_lots}, pending is {pending}",
            )
        if balance < 0 and policies.get(program_id) != "allow_negative":
            yield Breach(
                "no negative balance",
                f"account {account_id}",
                f"balance {balance} under policy {policies.get(program_id)}",
            )
        if pending < 0:
            yield Breach("no negative pending", f"account {account_id}", f"pending {pending}")
        if expired != expired_sum:
            yield Breach("lifetime expired = expire entries", f"account {account_id}", f"{expired} != {expired_sum}")
        if redeemed != redeemed_sum:
            yield Breach("lifetime redeemed = redeem entries", f"account {account_id}", f"{redeemed} != {redeemed_sum}")


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
        )
    )
    for lot_id, issued, used, expired, reversed_, remaining, status in rows:
        subject = f"lot {lot_id}"
        if issued != used + expired + reversed_ + remaining:
            yield Breach(
                "issued = used + expired + reversed + remaining",
                subject,
                f"{issued} != {used} + {expired} + {reversed_} + {remaining}",
            )
        if min(issued, used, expired, reversed_, remaining) < 0:
            yield Breach("no negative lot figures", subject, f"{issued}/{used}/{expired}/{reversed_}/{remaining}")
        if (status == "closed") != (remaining == 0):
            yield Breach("closed exactly when empty", subject, f"status {status} with {remaining} remaining")
        m_used, m_expired, m_reversed = moved.get(lot_id, (0, 0, 0))
        if (used, expired, reversed_) != (m_used, m_expired, m_reversed):
            yield Breach(
                "lot figures = its movements",
                subject,
                f"used/expired/reversed {used}/{expired}/{reversed_} vs movements {m_used}/{m_expired}/{m_reversed}",
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
                "entry balances = running sum",
                f"entry {entry_id}",
                f"balance_after {balance_after} + pending_after {pending_after} != running sum {running[account_id]}",
            )


def check(session: Session, *, limit: int = 1000) -> list[Breach]:
    """Every breach found, up to `limit`."""
    found: list[Breach] = []
    for source in (_accounts(session), _lots(session), _running_balances(session)):
        for breach in source:
            found.append(breach)
            if len(found) >= limit:
                return found
    return found
