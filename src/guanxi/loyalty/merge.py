"""Loyalty's part in customer merges: member accounts, points, orders, coupons and referrals.

For each program:
- only the merged customer has an account: the account (with its ledger, untouched) now belongs
  to the survivor;
- both have one: the accounts are consolidated into the survivor's. The merged account's points
  leave it in one `transfer_out` entry and arrive in one `transfer_in` entry; each of its open
  lots is carried over as a new lot with the same expiry, the same availability (pending points
  stay pending until the same instant) and the same order, so nothing expires earlier or later
  and a later refund of a moved order still finds the order's points. Growth value, qualifying
  spend and lifetime earned/growth are added to the survivor's, the better tier is kept (no
  tier-change event: nothing new was earned), the merged account's pending adjustment requests,
  orders and referrals are re-pointed. The merged account stays, empty, as history.
Orders and coupons of the merged customer move to the survivor either way (a coupon issued to
both under the same automatic key gets its key suffixed, so both can be kept).

An undo takes the carried points back (first from the carried lots, then soonest-expiring
others) in compensating entries and refuses, changing nothing, when the survivor no longer has
them. A points debt on either account (a refund of spent points) blocks a consolidation: the
ledger keeps a debt only on an account without open lots, so it must be settled first.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.customers.merge import MergeContext, MergeRefused, register_participant
from guanxi.customers.merge.errors import UndoReason
from guanxi.customers.merge_models import MergeMove
from guanxi.kit import clock
from guanxi.kit.errors import FieldError
from guanxi.kit.models import table_of
from guanxi.loyalty.catalog.models import Coupon
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program.models import (
    AdjustmentRequest,
    GrowthEntry,
    LoyaltyAccount,
    PointEntry,
    PointLot,
    Referral,
    Tier,
    TierChange,
)
from guanxi.loyalty.rules import tiering

NAME = "loyalty"


def _accounts(session: Session, customer_id: str) -> dict[str, LoyaltyAccount]:
    rows = session.scalars(select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id))
    return {a.program_id: a for a in rows}


def _ranks(session: Session, program_id: str) -> dict[str, int]:
    return dict(session.execute(select(Tier.code, Tier.rank).where(Tier.program_id == program_id)).all())


def _open_lots(session: Session, account_id: str) -> list[PointLot]:
    return list(
        session.scalars(
            select(PointLot)
            .where(PointLot.account_id == account_id, PointLot.status.in_(("available", "pending")))
            .order_by(PointLot.expires_at.is_(None), PointLot.expires_at, PointLot.id)
        )
    )


def _carry(
    session: Session,
    source: LoyaltyAccount,
    target: LoyaltyAccount,
    plan: list[tuple[PointLot, int]],
    *,
    actor_id: str,
    reason: str,
    reference: str,
) -> tuple[PointEntry, PointEntry, list[dict[str, Any]]]:
    """Move points lot by lot: out of `source` (one entry), into `target` (one entry, a new lot
    per lot taken with the same expiry, availability and order)."""
    total = sum(take for _, take in plan)
    statuses = [lot.status for lot, _ in plan]  # before the takes close the lots
    pending = sum(take for (_, take), status in zip(plan, statuses, strict=True) if status == "pending")
    available = total - pending
    source.points_balance -= available
    source.pending_points -= pending
    out = ledger._entry(
        session,
        source,
        kind="transfer_out",
        points=-total,
        reason=reason,
        actor_id=actor_id,
        reference=reference,
        related_account_id=target.id,
        detail={
            "lots": [
                {"lot_id": lot.id, "points": take, "status": status}
                for (lot, take), status in zip(plan, statuses, strict=True)
            ]
        },
    )
    for lot, take in plan:
        ledger._take(session, lot, take, "use", out.id)
    target.points_balance += available
    target.pending_points += pending
    into = ledger._entry(
        session,
        target,
        kind="transfer_in",
        points=total,
        reason=reason,
        actor_id=actor_id,
        reference=reference,
        related_account_id=source.id,
        detail={"from_entry": out.id},
    )
    now = clock.now()
    carried: list[dict[str, Any]] = []
    for (lot, take), status in zip(plan, statuses, strict=True):
        new = PointLot(
            account_id=target.id,
            entry_id=into.id,
            order_id=lot.order_id,
            source=lot.source,
            issued=take,
            used=0,
            expired=0,
            reversed=0,
            remaining=take,
            status=status,
            available_at=lot.available_at,
            expires_at=lot.expires_at,
            created_at=now,
        )
        session.add(new)
        session.flush()
        carried.append({"from_lot": lot.id, "to_lot": new.id, "points": take, "status": status})
    into.detail = {"from_entry": out.id, "lots": carried}
    return out, into, carried


def _repoint_customer_rows(ctx: MergeContext) -> None:
    coupons = table_of(Coupon)
    # A coupon both were issued under the same automatic key (birthday:2026) keeps both: the
    # merged customer's key gets a suffix first, so the unique (template, customer, key) holds.
    survivor_keys = set(
        ctx.session.execute(
            select(coupons.c.template_id, coupons.c.issue_key).where(
                coupons.c.customer_id == ctx.survivor_id, coupons.c.issue_key.is_not(None)
            )
        ).all()
    )
    clashing = ctx.session.execute(
        select(coupons.c.id, coupons.c.template_id, coupons.c.issue_key).where(
            coupons.c.customer_id == ctx.merged_id, coupons.c.issue_key.is_not(None)
        )
    ).all()
    for coupon_id, template_id, key in clashing:
        if (template_id, key) in survivor_keys:
            ctx.repoint(
                NAME,
                coupons,
                "issue_key",
                where=coupons.c.id == coupon_id,
                old=key,
                new=f"{key}~merge:{ctx.merge.id}"[:100],
                label="coupons.rekeyed",
            )
    ctx.repoint(NAME, coupons, "customer_id", label="coupons")
    ctx.repoint(NAME, table_of(Order), "customer_id", label="orders")


def _consolidate(ctx: MergeContext, survivor: LoyaltyAccount, merged: LoyaltyAccount) -> None:
    session = ctx.session
    for account, side in ((merged, "merged_id"), (survivor, "survivor_id")):
        if account.points_balance < 0:
            raise MergeRefused(
                message=(
                    f"{side}: the points account of customer {account.customer_id} owes {-account.points_balance} "
                    "points (a refund of spent points); settle the debt before merging"
                ),
                errors=[
                    FieldError(
                        side,
                        f"points debt of {-account.points_balance}",
                        "points_debt",
                        {"points": -account.points_balance},
                        key="problem.merge.points_debt",
                    )
                ],
            )
    plan = [(lot, lot.remaining) for lot in _open_lots(session, merged.id) if lot.remaining > 0]
    total = sum(take for _, take in plan)
    out_id = in_id = None
    carried: list[dict[str, Any]] = []
    if total:
        out, into, carried = _carry(
            session, merged, survivor, plan, actor_id=ctx.actor.id, reason="merge", reference=ctx.merge.id
        )
        out_id, in_id = out.id, into.id
    ctx.count("loyalty.points", total)
    before = {
        "tier_code": survivor.tier_code,
        "tier_since": survivor.tier_since.isoformat(),
        "downgrade_due_at": survivor.downgrade_due_at.isoformat() if survivor.downgrade_due_at else None,
        "downgrade_to": survivor.downgrade_to,
        "grace_needed": survivor.grace_needed,
        "last_order_at": survivor.last_order_at.isoformat() if survivor.last_order_at else None,
        "referral_code": survivor.referral_code,
    }
    moved = {
        "growth_value": merged.growth_value,
        "qualifying_spend": str(merged.qualifying_spend),
        "lifetime_earned": merged.lifetime_earned,
        "lifetime_growth": merged.lifetime_growth,
    }
    survivor.lifetime_earned += merged.lifetime_earned
    if merged.growth_value:
        survivor.growth_value += merged.growth_value
        session.add(
            GrowthEntry(
                account_id=survivor.id,
                kind="merge_in",
                value=merged.growth_value,
                value_after=survivor.growth_value,
                reference=ctx.merge.id,
                created_at=clock.now(),
            )
        )
        session.add(
            GrowthEntry(
                account_id=merged.id,
                kind="merge_out",
                value=-merged.growth_value,
                value_after=0,
                reference=ctx.merge.id,
                created_at=clock.now(),
            )
        )
        merged.growth_value = 0
    survivor.lifetime_growth += merged.lifetime_growth
    survivor.qualifying_spend += merged.qualifying_spend
    merged.qualifying_spend = Decimal(0)
    if merged.last_order_at and (survivor.last_order_at is None or merged.last_order_at > survivor.last_order_at):
        survivor.last_order_at = merged.last_order_at
    ranks = _ranks(session, survivor.program_id)
    tier_changed = ranks.get(merged.tier_code, -1) > ranks.get(survivor.tier_code, -1)
    if tier_changed:
        session.add(
            TierChange(
                account_id=survivor.id,
                from_tier=survivor.tier_code,
                to_tier=merged.tier_code,
                kind="manual",
                reason=f"merge {ctx.merge.id}: kept the better tier of the merged member",
                detail=tiering.reason_detail("merged", tier=merged.tier_code),
                actor_id=ctx.actor.id,
                created_at=clock.now(),
            )
        )
        survivor.tier_code = merged.tier_code
        survivor.tier_since = merged.tier_since
        survivor.downgrade_due_at = merged.downgrade_due_at
        survivor.downgrade_to = merged.downgrade_to
        survivor.grace_needed = merged.grace_needed
    code_moved = None
    if survivor.referral_code is None and merged.referral_code is not None:
        code_moved = merged.referral_code
        merged.referral_code = None
        session.flush()
        survivor.referral_code = code_moved
    session.flush()
    ctx.record(
        NAME,
        "loyalty_accounts",
        {"id": merged.id},
        action="custom",
        data={
            "kind": "consolidate",
            "program_id": survivor.program_id,
            "survivor_account": survivor.id,
            "merged_account": merged.id,
            "out_entry": out_id,
            "in_entry": in_id,
            "lots": carried,
            "moved": moved,
            "survivor_before": before,
            "tier_after": survivor.tier_code if tier_changed else None,
            "referral_code": code_moved,
        },
    )
    # Rows that follow the account.
    orders = table_of(Order)
    ctx.repoint(NAME, orders, "account_id", old=merged.id, new=survivor.id, label="orders.account")
    adjustments = table_of(AdjustmentRequest)
    ctx.repoint(
        NAME,
        adjustments,
        "account_id",
        old=merged.id,
        new=survivor.id,
        where=adjustments.c.status == "pending",
        label="adjustment_requests",
    )
    referrals = table_of(Referral)
    # Who the merged member brought in is now the survivor's (not a referral between the two).
    ctx.repoint(
        NAME,
        referrals,
        "referrer_account_id",
        old=merged.id,
        new=survivor.id,
        where=referrals.c.referee_account_id != survivor.id,
        label="referrals.referrer",
    )
    # Who brought the merged member in: kept for the survivor unless someone brought them in too.
    already_referred = session.scalar(select(Referral.id).where(Referral.referee_account_id == survivor.id))
    if already_referred is None:
        ctx.repoint(
            NAME,
            referrals,
            "referee_account_id",
            old=merged.id,
            new=survivor.id,
            where=referrals.c.referrer_account_id != survivor.id,
            label="referrals.referee",
        )


def merge(ctx: MergeContext) -> None:
    session = ctx.session
    survivors = _accounts(session, ctx.survivor_id)
    mergeds = _accounts(session, ctx.merged_id)
    ids = [a.id for a in (*survivors.values(), *mergeds.values())]
    if ids:
        locked = ledger.lock_accounts(session, ids)
        survivors = {p: locked[a.id] for p, a in survivors.items()}
        mergeds = {p: locked[a.id] for p, a in mergeds.items()}
    accounts = table_of(LoyaltyAccount)
    for program_id, merged in sorted(mergeds.items()):
        survivor = survivors.get(program_id)
        if survivor is None:
            ctx.repoint(NAME, accounts, "customer_id", where=accounts.c.id == merged.id, label="loyalty.accounts")
        else:
            _consolidate(ctx, survivor, merged)
            ctx.count("loyalty.accounts_consolidated", 1)
    _repoint_customer_rows(ctx)


def _consolidations(moves: list[MergeMove]) -> list[dict[str, Any]]:
    return [m.data for m in moves if m.action == "custom" and m.data and m.data.get("kind") == "consolidate"]


def _give_back_plan(
    session: Session, data: dict[str, Any], survivor: LoyaltyAccount
) -> tuple[list[tuple[PointLot, int]], int]:
    """Lots to take the carried points from: the carried lots first, then the survivor's other
    available lots soonest-expiring first. Returns the plan and the points it could not find."""
    wanted = sum(int(c["points"]) for c in data["lots"])
    carried_ids = [int(c["to_lot"]) for c in data["lots"]]
    lots = {
        lot.id: lot
        for lot in session.scalars(select(PointLot).where(PointLot.id.in_(carried_ids or [-1])))
        if lot.status in ("available", "pending")
    }
    plan: list[tuple[PointLot, int]] = []
    for c in data["lots"]:
        lot = lots.get(int(c["to_lot"]))
        if lot is not None and lot.remaining > 0:
            plan.append((lot, min(lot.remaining, int(c["points"]))))
    left = wanted - sum(t for _, t in plan)
    if left > 0:
        others = [
            lot
            for lot in _open_lots(session, survivor.id)
            if lot.id not in lots and lot.status == "available" and lot.remaining > 0
        ]
        for lot in others:
            if left == 0:
                break
            take = min(lot.remaining, left)
            plan.append((lot, take))
            left -= take
    return plan, left


def check_undo(ctx: MergeContext, moves: list[MergeMove]) -> list[str]:
    reasons: list[str] = []
    session = ctx.session
    for data in _consolidations(moves):
        accounts = ledger.lock_accounts(session, [data["survivor_account"], data["merged_account"]], release=False)
        survivor = accounts[data["survivor_account"]]
        wanted = sum(int(c["points"]) for c in data["lots"])
        if not wanted:
            continue
        _, missing = _give_back_plan(session, data, survivor)
        if missing > 0:
            reasons.append(
                UndoReason(
                    f"loyalty: the survivor's account {survivor.id} no longer has the {wanted} points the merge "
                    f"moved into it ({missing} of them were spent or expired since); the points cannot go back",
                    "problem.merge.undo.points_spent",
                    account=survivor.id,
                    points=wanted,
                    missing=missing,
                )
            )
        if survivor.points_balance < 0:
            reasons.append(
                UndoReason(
                    f"loyalty: the survivor's account {survivor.id} has a points debt",
                    "problem.merge.undo.points_debt",
                    account=survivor.id,
                )
            )
    return reasons


def undo(ctx: MergeContext, moves: list[MergeMove]) -> None:
    session = ctx.session
    for data in reversed(_consolidations(moves)):
        accounts = ledger.lock_accounts(session, [data["survivor_account"], data["merged_account"]])
        survivor = accounts[data["survivor_account"]]
        merged = accounts[data["merged_account"]]
        if data["lots"]:
            plan, missing = _give_back_plan(session, data, survivor)
            assert missing == 0, "checked by check_undo"
            _carry(
                session,
                survivor,
                merged,
                plan,
                actor_id=ctx.actor.id,
                reason="merge_undo",
                reference=ctx.merge.id,
            )
        moved = data["moved"]
        before = data["survivor_before"]
        survivor.lifetime_earned = max(survivor.lifetime_earned - int(moved["lifetime_earned"]), 0)
        growth = int(moved["growth_value"])
        if growth:
            change = min(growth, survivor.growth_value)
            survivor.growth_value -= change
            merged.growth_value += change
            session.add(
                GrowthEntry(
                    account_id=survivor.id,
                    kind="merge_undo_out",
                    value=-change,
                    value_after=survivor.growth_value,
                    reference=ctx.merge.id,
                    created_at=clock.now(),
                )
            )
            session.add(
                GrowthEntry(
                    account_id=merged.id,
                    kind="merge_undo_in",
                    value=change,
                    value_after=merged.growth_value,
                    reference=ctx.merge.id,
                    created_at=clock.now(),
                )
            )
        survivor.lifetime_growth = max(survivor.lifetime_growth - int(moved["lifetime_growth"]), 0)
        spend = Decimal(moved["qualifying_spend"])
        survivor.qualifying_spend -= spend
        merged.qualifying_spend += spend
        last = before["last_order_at"]
        survivor.last_order_at = datetime.fromisoformat(last) if last else None
        if data["tier_after"] is not None and survivor.tier_code == data["tier_after"]:
            session.add(
                TierChange(
                    account_id=survivor.id,
                    from_tier=survivor.tier_code,
                    to_tier=before["tier_code"],
                    kind="manual",
                    reason=f"merge {ctx.merge.id} undone: the tier from before the merge",
                    detail=tiering.reason_detail("merge_undone", tier=before["tier_code"]),
                    actor_id=ctx.actor.id,
                    created_at=clock.now(),
                )
            )
            survivor.tier_code = before["tier_code"]
            survivor.tier_since = datetime.fromisoformat(before["tier_since"])
            due = before["downgrade_due_at"]
            survivor.downgrade_due_at = datetime.fromisoformat(due) if due else None
            survivor.downgrade_to = before["downgrade_to"]
            survivor.grace_needed = before["grace_needed"]
        code = data.get("referral_code")
        if code and survivor.referral_code == code:
            survivor.referral_code = None
            session.flush()
            merged.referral_code = code
        session.flush()


register_participant(NAME, merge, check_undo=check_undo, undo=undo, keeps=("loyalty_accounts",))
