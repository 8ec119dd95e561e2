"""Opening balances: a member's points, growth value and tier as another system held them on the
day the brand moved to guanxi, set once per member (the `balances` import kind).

For each member a batch writes, set-based:
- the points as one ledger credit of kind `opening_balance` (reason `import`) and its lot, which
  expires at the end of `points_expire_on` or, without one, when the program's expiry rules say
  for points earned today; a member with a negative balance (a refund's debt) gets the credit
  through `ledger.credit`, which pays the debt from the new lot first;
- the growth value as a growth entry of kind `opening`, added to what the member has;
- the tier as a tier change of kind `import` (written even when the tier stays the same: it is
  the record that the member's opening balance was set), with any downgrade under review dropped.

The figures are added to the account, never put in place of it: points and growth a member
earned here before the file came stay theirs. `lifetime_earned` is left as it is (the ledger's
own rule for credits other than earnings). No outbox event is written: `loyalty.tier_changed`
would issue upgrade coupons for a tier the member already held elsewhere.

A member's opening balance is recorded once. A row naming a member whose opening balance is
recorded with the same figures changes nothing; with other figures it is refused as a conflict
naming what differs: a correction after members may have spent points is a points adjustment or
a tier change made by staff, visible and approved as such, never a rewrite of the opening.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.kit import clock
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.members import history_rows
from guanxi.loyalty.orders import bulk_import
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig, TierConfig
from guanxi.loyalty.program.models import GrowthEntry, LoyaltyAccount, PointEntry, PointLot, TierChange
from guanxi.loyalty.program.schemas import IdentityRef, OrderIn
from guanxi.loyalty.rules import expiry, tiering
from guanxi.privacy import audit

KIND = "opening_balance"
# A lot expires at the end of its last day, the first instant of the next: a moment before is that day.
_A_MOMENT = timedelta(microseconds=1)
TIER_KIND = "import"
GROWTH_KIND = "opening"
Status = Literal["created", "unchanged", "rejected"]


@dataclass
class OpeningRecord:
    line: int
    customer_id: str | None
    identity: IdentityRef | None
    points: int
    growth: int
    tier: str
    points_expire_on: date | None = None

    def keys(self) -> list[str]:
        if self.customer_id is not None:
            return [f"customer/{self.customer_id}"]
        assert self.identity is not None
        return [f"{self.identity.kind}/{self.identity.namespace}/{self.identity.value}"]


@dataclass
class Outcome:
    line: int
    status: Status
    customer_id: str | None = None
    reason: str | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Opening:
    """The figures a member's opening balance was (or is to be) recorded with."""

    points: int
    growth: int
    tier: str
    points_expire_on: date | None

    def differences(self, other: Opening) -> dict[str, tuple[Any, Any]]:
        """field -> (recorded, given) where they differ; the expiry counts only with points."""
        names = ["points", "growth", "tier"] + (["points_expire_on"] if self.points and other.points else [])
        return {n: (getattr(self, n), getattr(other, n)) for n in names if getattr(self, n) != getattr(other, n)}


def find_tier(config: ProgramConfig, text: str) -> TierConfig | None:
    """The tier a cell names: its code, or its name in either language, ignoring case."""
    wanted = text.strip().casefold()
    for tier in config.tiers:
        if wanted in {tier.code.casefold(), tier.name.casefold(), (tier.name_en or "").casefold()}:
            return tier
    return None


def _recorded(session: Session, config: ProgramConfig, account_ids: list[str]) -> dict[str, Opening]:
    """account id -> the opening balance recorded for it."""
    if not account_ids:
        return {}
    changes = table_of(TierChange)
    entries = table_of(PointEntry)
    lots = table_of(PointLot)
    marks = session.execute(
        select(changes.c.account_id, changes.c.to_tier, changes.c.value).where(
            changes.c.kind == TIER_KIND, changes.c.account_id.in_(account_ids)
        )
    ).all()
    credits = {
        r.account_id: (int(r.points), r.expires_at)
        for r in session.execute(
            select(entries.c.account_id, entries.c.points, lots.c.expires_at)
            .join(lots, lots.c.entry_id == entries.c.id)
            .where(entries.c.kind == KIND, entries.c.account_id.in_(account_ids))
        )
    }
    found: dict[str, Opening] = {}
    for account_id, tier, growth in marks:
        points, expires_at = credits.get(account_id, (0, None))
        last_day = expiry.local_date(expires_at - _A_MOMENT, config.timezone) if expires_at else None
        found[account_id] = Opening(points, int(growth), tier, last_day if points else None)
    return found


def _resolve(
    session: Session, actor: Principal, records: list[OpeningRecord], outcomes: dict[int, Outcome]
) -> dict[int, str]:
    """line -> customer id, found as an order import finds its customer (same scope, same
    identities); rows naming no one known are refused."""
    # Carried as orders naming their customer: only the customer reference is read.
    as_orders = [
        bulk_import.OrderRecord(
            r.line,
            OrderIn.model_construct(
                external_id="",
                source="",
                paid_amount=Decimal(0),
                occurred_at=clock.now(),
                customer_id=r.customer_id,
                identity=r.identity,
            ),
        )
        for r in records
    ]
    refused: dict[int, bulk_import.Outcome] = {}
    found = bulk_import._resolve_customers(session, actor, as_orders, refused)
    for line, outcome in refused.items():
        outcomes[line] = Outcome(line, "rejected", reason=outcome.reason)
    return found


def _accounts(session: Session, config: ProgramConfig, actor: Principal, customer_ids: list[str]) -> dict[str, Any]:
    """customer id -> account row (enrolled first at the lowest tier when new), locked in id
    order on PostgreSQL."""
    if not customer_ids:
        return {}
    bulk_import._accounts(session, actor, config, customer_ids)
    table = table_of(LoyaltyAccount)
    stmt = (
        select(table).where(table.c.program_id == config.id, table.c.customer_id.in_(customer_ids)).order_by(table.c.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return {row.customer_id: row for row in session.execute(stmt)}


def _opening(config: ProgramConfig, record: OpeningRecord, today: date) -> Opening | str:
    """The figures the row gives, or why they cannot be an opening balance."""
    if record.points < 0:
        return f"points: cannot be below zero (got {record.points})"
    if record.growth < 0:
        return f"growth: cannot be below zero (got {record.growth})"
    tier = find_tier(config, record.tier)
    if tier is None:
        known = ", ".join(f"{t.code} ({t.name})" for t in config.tiers)
        return f"tier: no tier is called {record.tier[:40]!r}; the program's tiers are {known}"
    expire_on = record.points_expire_on if record.points else None
    if expire_on is not None and expire_on < today:
        return f"points_expire_on: is in the past (got {expire_on.isoformat()})"
    return Opening(record.points, record.growth, tier.code, expire_on)


def apply(
    session: Session, actor: Principal, records: list[OpeningRecord], *, job_id: str | None = None
) -> list[Outcome]:
    """Record the opening balance of each row's member; one outcome per record, in order."""
    auth_service.require(actor, "points", "adjust")
    auth_service.require(actor, "points", "approve")
    if not records:
        return []
    # Read, not created, until a row is to be written: a file refused whole writes nothing.
    config = program.load(session)
    now = clock.now()
    today = expiry.local_date(now, config.timezone)
    outcomes: dict[int, Outcome] = {}
    customer_of = _resolve(session, actor, records, outcomes)
    wanted: dict[int, Opening] = {}
    for record in records:
        if record.line not in customer_of:
            continue
        given = _opening(config, record, today)
        if isinstance(given, str):
            outcomes[record.line] = Outcome(record.line, "rejected", customer_of[record.line], given)
        else:
            wanted[record.line] = given
    # Only members a row can set are enrolled: a refused row leaves its member as they were.
    if wanted:
        config = program.ensure(session)
    accounts = _accounts(session, config, actor, sorted({customer_of[line] for line in wanted}))
    recorded = _recorded(session, config, sorted(a.id for a in accounts.values()))
    fresh: list[tuple[OpeningRecord, Opening, Any]] = []
    for record in records:
        if record.line not in wanted:
            continue
        given = wanted[record.line]
        customer_id = customer_of[record.line]
        account = accounts[customer_id]
        known = recorded.get(account.id)
        if known is None:
            recorded[account.id] = given  # a later row naming the same member meets this one
            fresh.append((record, given, account))
            outcomes[record.line] = Outcome(record.line, "created", customer_id, changes=_changes(account, given))
            continue
        differences = known.differences(given)
        if not differences:
            outcomes[record.line] = Outcome(record.line, "unchanged", customer_id)
            continue
        shown = ", ".join(f"{n} {_plain(b)} (recorded {_plain(a)})" for n, (a, b) in differences.items())
        outcomes[record.line] = Outcome(
            record.line,
            "rejected",
            customer_id,
            f"opening balance already recorded with other figures: {shown}",
            changes=differences,
        )
    if fresh:
        _write(session, config, actor, fresh, now, job_id)
        audit.record(
            session,
            actor,
            "loyalty.opening_balance",
            entity_type="import_job" if job_id else "loyalty_program",
            entity_id=job_id,
            detail={
                "members": len(fresh),
                "points": sum(o.points for _, o, _ in fresh),
                "growth": sum(o.growth for _, o, _ in fresh),
                "first_line": records[0].line,
                "last_line": records[-1].line,
            },
        )
    return [outcomes[r.line] for r in records]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _changes(account: Any, given: Opening) -> dict[str, tuple[Any, Any]]:
    """What the opening balance does to the card: before and after."""
    return {
        "points": (int(account.points_balance), int(account.points_balance) + given.points),
        "growth": (int(account.growth_value), int(account.growth_value) + given.growth),
        "tier": (account.tier_code, given.tier),
    }


def _write(
    session: Session,
    config: ProgramConfig,
    actor: Principal,
    fresh: list[tuple[OpeningRecord, Opening, Any]],
    now: datetime,
    job_id: str | None,
) -> None:
    entries: list[dict[str, Any]] = []
    lots: dict[str, dict[str, Any]] = {}
    growth: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    projected: list[dict[str, Any]] = []
    in_debt: list[tuple[str, Opening]] = []
    for _, opening, account in fresh:
        balance = int(account.points_balance)
        if opening.points and balance < 0:
            in_debt.append((account.id, opening))
        elif opening.points:
            balance += opening.points
            expires_at = (
                expiry.end_of_day_utc(opening.points_expire_on, config.timezone)
                if opening.points_expire_on
                else ledger.lot_expiry(config, now)
            )
            entries.append(_entry(account, opening, balance, actor, now, job_id))
            lots[account.id] = _lot(account.id, opening.points, expires_at, now)
        value = int(account.growth_value) + opening.growth
        if opening.growth:
            growth.append(
                {
                    "account_id": account.id,
                    "kind": GROWTH_KIND,
                    "value": opening.growth,
                    "value_after": value,
                    "order_id": None,
                    "reference": job_id,
                    "created_at": now,
                }
            )
        tier = config.tier(opening.tier)
        marks.append(
            {
                "account_id": account.id,
                "from_tier": account.tier_code,
                "to_tier": tier.code,
                "kind": TIER_KIND,
                "reason": f"opening balance: {tier.name}, growth value {opening.growth}, {opening.points} points",
                "detail": tiering.reason_detail(
                    "opening", tier=tier.code, growth=str(opening.growth), points=str(opening.points)
                ),
                "value": Decimal(opening.growth),
                "actor_id": actor.id,
                "created_at": now,
            }
        )
        projected.append(
            {
                "b_id": account.id,
                "b_points_balance": balance,
                "b_growth_value": value,
                "b_lifetime_growth": int(account.lifetime_growth) + opening.growth,
                "b_tier_code": tier.code,
                "b_tier_since": now if tier.code != account.tier_code else account.tier_since,
                "b_updated_at": now,
            }
        )
    if entries:
        made = history_rows.insert_numbered(session, table_of(PointEntry), entries, ("account_id",))
        session.execute(
            insert(table_of(PointLot)),
            [{**lots[account_id], "entry_id": entry_id} for (account_id,), entry_id in made.items()],
        )
    if growth:
        session.execute(insert(table_of(GrowthEntry)), growth)
    session.execute(insert(table_of(TierChange)), marks)
    accounts = table_of(LoyaltyAccount)
    session.execute(
        update(accounts)
        .where(accounts.c.id == bindparam("b_id"))
        .values(
            points_balance=bindparam("b_points_balance"),
            growth_value=bindparam("b_growth_value"),
            lifetime_growth=bindparam("b_lifetime_growth"),
            tier_code=bindparam("b_tier_code"),
            tier_since=bindparam("b_tier_since"),
            downgrade_due_at=None,
            downgrade_to=None,
            grace_needed=None,
            updated_at=bindparam("b_updated_at"),
        ),
        projected,
    )
    if in_debt:
        _credit_debtors(session, config, actor, in_debt, now, job_id)


def _credit_debtors(
    session: Session,
    config: ProgramConfig,
    actor: Principal,
    in_debt: list[tuple[str, Opening]],
    now: datetime,
    job_id: str | None,
) -> None:
    """Members with a debt: the ledger's own credit, which settles the debt from the new lot."""
    for account in ledger.lock_accounts(session, [account_id for account_id, _ in in_debt]).values():
        opening = next(o for account_id, o in in_debt if account_id == account.id)
        ledger.credit(
            session,
            account,
            config,
            points=opening.points,
            kind=KIND,
            reason="import",
            source=KIND,
            actor_id=actor.id,
            pending_days=0,
            expires_at=(
                expiry.end_of_day_utc(opening.points_expire_on, config.timezone)
                if opening.points_expire_on
                else "program"
            ),
            detail={"import_job": job_id},
        )
    session.flush()


def _entry(
    account: Any, opening: Opening, balance: int, actor: Principal, now: datetime, job_id: str | None
) -> dict[str, Any]:
    return {
        "account_id": account.id,
        "kind": KIND,
        "points": opening.points,
        "balance_after": balance,
        "pending_after": int(account.pending_points),
        "reason": "import",
        "note": None,
        "order_id": None,
        "refund_id": None,
        "reference": None,
        "reverses_entry_id": None,
        "related_account_id": None,
        "actor_id": actor.id,
        "detail": {"import_job": job_id},
        "occurred_at": now,
        "created_at": now,
    }


def _lot(account_id: str, points: int, expires_at: datetime | None, now: datetime) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "order_id": None,
        "source": KIND,
        "issued": points,
        "used": 0,
        "expired": 0,
        "reversed": 0,
        "remaining": points,
        "status": "available",
        "available_at": now,
        "expires_at": expires_at,
        "created_at": now,
    }


@dataclass
class Figures:
    """What a balances import set (or, in a dry run, would set)."""

    members: int = 0
    points: int = 0
    growth: int = 0
    tiers: Counter[str] = field(default_factory=Counter)

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.status != "created":
                continue
            before, after = outcome.changes["points"]
            self.members += 1
            self.points += after - before
            self.growth += outcome.changes["growth"][1] - outcome.changes["growth"][0]
            self.tiers[outcome.changes["tier"][1]] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "balances": {
                "members": self.members,
                "points": self.points,
                "growth": self.growth,
                "tiers": dict(sorted(self.tiers.items())),
                "expire_at_next_run": 0,
            }
        }
