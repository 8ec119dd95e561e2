"""The demo's order history replayed day by day, with the clock frozen at each moment.

Each simulated day is one unit of work. Its orders go to the batched order service
(`loyalty.orders.batch.record_orders`) in runs of members who appear once in the run; what
follows one of a run's orders for the same member (a second order, a refund, a redemption at the
till, a check-in, an adjustment) comes after the run. So every service sees each member exactly
as it would have if that member's events had been recorded one by one in the order the plan
gives, with few runs a day. At each local midnight the production schedule's loyalty step runs
first, as the scheduled job does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.demo import campaigns, rewards, shopping
from guanxi.demo.shopping import (
    PlannedAdjustment,
    PlannedApproval,
    PlannedCheckin,
    PlannedOrder,
    PlannedRedemption,
    PlannedRefund,
)
from guanxi.demo.words import count, said
from guanxi.jobs import schedule
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import Principal
from guanxi.loyalty.members import points
from guanxi.loyalty.orders import actions
from guanxi.loyalty.orders import batch as order_batch
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program.models import LoyaltyAccount, PointLot
from guanxi.loyalty.program.schemas import ActionIn, AdjustIn, OrderIn, OrderLineIn, RefundIn

if TYPE_CHECKING:
    from guanxi.demo.orders import OrdersSummary

CENT = Decimal("0.01")
# Orders per call of the batched service; a busy day (双11) is a few such runs.
RUN_SIZE = 256
REPORT_EVERY = 5.0  # seconds between progress lines

Progress = Callable[[str], None]


@dataclass(slots=True)
class _Pending:
    planned: PlannedOrder
    body: OrderIn
    paid: Decimal


def _member(event: shopping.Event) -> str:
    """The customer an event concerns."""
    if isinstance(event, PlannedRefund):
        return event.order.customer_id
    if isinstance(event, PlannedApproval):
        return event.adjustment.customer_id
    return event.customer_id


class Replay:
    """Walks the plan day by day."""

    def __init__(
        self, database: Database, plan: shopping.Plan, actors: dict[str, Principal], timezone: str, say: Progress
    ) -> None:
        self.database = database
        self.plan = plan
        self.actors = actors
        self.zone = ZoneInfo(timezone)
        self.say = say
        first = plan.start.astimezone(self.zone).date()
        last = plan.end.astimezone(self.zone).date()
        self.days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        self.by_day: dict[date, list[shopping.Event]] = {}
        for event in plan.events():
            self.by_day.setdefault(event.at.astimezone(self.zone).date(), []).append(event)
        self.refunded = {refund.order.seq for refund in plan.refunds}
        self.recorded: dict[int, tuple[str, Decimal]] = {}  # order seq -> (id, paid), for refunds
        self.requests: dict[str, str] = {}  # adjustment key -> approval request id
        self.wallets = campaigns.Wallets()
        self.counter = rewards.Counter()
        self.replayed = 0
        self._skipped_days = 0

    def run(self, summary: OrdersSummary, *, after: date | None) -> None:
        started = time.perf_counter()
        next_report = started + REPORT_EVERY
        total = len(self.plan.orders)
        already = sum(len(self._orders_of(day)) for day in self.days if after is not None and day <= after)
        self._skipped_days = sum(1 for day in self.days if after is not None and day <= after)
        with clock.frozen(self.plan.start) as frozen:
            campaigns.set_up(self.database, self.days[0], self.days[-1], self.actors["admin"], self.actors["marketing"])
            for day in self.days:
                if after is not None and day <= after:
                    continue
                # The end-of-day jobs run just after local midnight, as the scheduled job does.
                frozen.set(datetime.combine(day, datetime.min.time(), self.zone) + timedelta(minutes=1))
                self._daily(summary)
                events = self.by_day.get(day)
                if events:
                    with self.database.unit_of_work() as session:
                        self._day(session, frozen, events, summary)
                if time.perf_counter() >= next_report:
                    self._report(day, started, already, total)
                    next_report = time.perf_counter() + REPORT_EVERY

    def _orders_of(self, day: date) -> list[shopping.Event]:
        return [e for e in self.by_day.get(day, ()) if isinstance(e, PlannedOrder)]

    def _report(self, day: date, started: float, already: int, total: int) -> None:
        done = self.replayed
        elapsed = time.perf_counter() - started
        rate = done / elapsed
        # Days cost time of their own (the nightly jobs), so the estimate weighs both.
        days_done = self.days.index(day) + 1
        skipped = self._skipped_days
        share = 0.5 * (already + done) / max(total, 1) + 0.5 * days_done / len(self.days)
        share_before = 0.5 * already / max(total, 1) + 0.5 * skipped / len(self.days)
        progress = (share - share_before) / max(1.0 - share_before, 1e-9)
        left = elapsed * (1.0 - progress) / progress if progress > 0 else 0.0
        width = 30
        filled = int(width * share)
        bar = "#" * filled + "." * (width - filled)
        self.say(
            said(
                "demo.progress.replay",
                bar=bar,
                day=day,
                done=count(already + done),
                total=count(total),
                rate=count(rate),
                left=_duration(left),
            )
        )

    def _daily(self, summary: OrdersSummary) -> None:
        """The production schedule's loyalty step (`jobs.schedule`), on the demo's database. The
        nightly data steps run once, after the behaviour load (`demo.behaviour`)."""
        day = schedule.run_daily(self.database, steps=("loyalty",)).loyalty
        assert day is not None
        summary.points_expired += day.expired.points
        summary.reviews += day.reviews.reviewed
        with self.database.unit_of_work(read_only=True) as session:
            self.wallets.pick_up(session)

    def _day(
        self, session: Session, frozen: clock.FrozenClock, events: list[shopping.Event], summary: OrdersSummary
    ) -> None:
        """The day's events in rounds: round k records a run of orders, then the other events that
        follow one of them. Each member's events keep the plan's order (an order goes to the run
        after its member's previous event; anything else to the gap after it); members do not
        affect each other, so the rest may move. The clock only moves forward: a run is recorded
        at its last order's moment, every other event at its own moment or later."""
        runs: list[list[PlannedOrder]] = []
        gaps: dict[int, list[shopping.Event]] = {}
        last: dict[str, int] = {}  # member -> round of their latest event
        for event in events:
            member = _member(event)
            if isinstance(event, PlannedOrder):
                at = last[member] + 1 if member in last else 0
                while at < len(runs) and len(runs[at]) >= RUN_SIZE:
                    at += 1
                if at == len(runs):
                    runs.append([])
                runs[at].append(event)
            else:
                at = last.get(member, -1)
                gaps.setdefault(at, []).append(event)
            last[member] = at

        def move_to(at: datetime) -> None:
            frozen.set(max(at, clock.now()))

        for event in gaps.get(-1, ()):
            move_to(event.at)
            self._other(session, event, summary)
        for index, run in enumerate(runs):
            move_to(max(planned.at for planned in run))
            self._record(session, [self._at_the_till(session, planned) for planned in run])
            for event in gaps.get(index, ()):
                move_to(event.at)
                self._other(session, event, summary)

    def _record(self, session: Session, run: list[_Pending]) -> None:
        integration = self.actors["integration"]
        outcomes = order_batch.record_orders(session, [(integration, pending.body) for pending in run])
        for pending, outcome in zip(run, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            answer, _created = outcome
            if pending.planned.seq in self.refunded:
                self.recorded[pending.planned.seq] = (answer.id, pending.paid)
        self.replayed += len(run)

    def _at_the_till(self, session: Session, planned: PlannedOrder) -> _Pending:
        """A coupon the member holds comes off first (seven times in ten), then the order is
        recorded with what was paid."""
        lines = [
            {"sku": line.sku, "category": line.category, "quantity": line.quantity, "unit_price": line.unit_price}
            for line in planned.lines
        ]
        paid = planned.paid
        if planned.seq % 10 < 7 and self.wallets.held.get(planned.customer_id):
            integration = self.actors["integration"]
            till_lines = [OrderLineIn.model_validate(line) for line in lines]
            discount = self.wallets.use(session, integration, planned.customer_id, planned.external_id, till_lines)
            total = sum((line.unit_price * line.quantity for line in planned.lines), Decimal(0))
            paid = max(min(paid, total - discount), Decimal(0))
        body: dict[str, Any] = {
            "external_id": planned.external_id,
            "source": planned.source,
            "paid_amount": paid,
            "currency": "CNY",
            "occurred_at": planned.at.astimezone(self.zone),
            "store": planned.store,
            "channel": planned.channel,
            "lines": lines,
        }
        if planned.identity is not None:
            kind, namespace, value = planned.identity
            body["identity"] = {"kind": kind, "namespace": namespace, "value": value}
        else:
            body["customer_id"] = planned.customer_id
        return _Pending(planned, OrderIn.model_validate(body), paid)

    def _other(self, session: Session, event: shopping.Event, summary: OrdersSummary) -> None:
        if isinstance(event, PlannedRefund):
            self._refund(session, event)
        elif isinstance(event, PlannedRedemption):
            self._redeem(session, event, summary)
        elif isinstance(event, PlannedCheckin):
            actions.perform(session, self.actors["integration"], event.customer_id, ActionIn(action="checkin"))
        elif isinstance(event, PlannedAdjustment):
            self._adjust(session, event)
        elif isinstance(event, PlannedApproval):
            request_id = self.requests.get(event.adjustment.key)
            if request_id is not None:
                points.decide(session, self.actors["admin"], request_id, approve=True, note="已核实，同意发放")

    def _refund(self, session: Session, event: PlannedRefund) -> None:
        """By lines, or a share of what was paid (after any coupon)."""
        found = self.recorded.get(event.order.seq) or self._recorded(session, event.order)
        order_id, paid = found
        if event.lines is not None:
            body: dict[str, Any] = {"lines": [{"line_no": n, "quantity": q} for n, q in event.lines]}
        elif paid > 0:
            body = {"amount": str(max((paid * (event.share or 1)).quantize(CENT), CENT))}
        else:
            return  # a coupon paid for all of it: nothing to give back
        orders.refund_order(session, self.actors["integration"], order_id, RefundIn.model_validate(body), event.key)

    @staticmethod
    def _recorded(session: Session, planned: PlannedOrder) -> tuple[str, Decimal]:
        """An order an interrupted load recorded before this run."""
        found = session.execute(
            select(Order.id, Order.paid_amount).where(
                Order.source == planned.source, Order.external_id == planned.external_id
            )
        ).first()
        if found is None:
            raise RuntimeError(f"order {planned.external_id} from {planned.source} should have been recorded")
        return found[0], Decimal(found[1])

    def _balance(self, session: Session, customer_id: str) -> int:
        """What the member card shows as spendable (`loyalty.members.card`): the balance and any pending
        points whose wait is over, read without building the whole card."""
        account = session.execute(
            select(LoyaltyAccount.id, LoyaltyAccount.points_balance, LoyaltyAccount.pending_points).where(
                LoyaltyAccount.customer_id == customer_id
            )
        ).first()
        if account is None:
            return 0
        if account.pending_points <= 0:
            return int(account.points_balance)
        matured = session.scalar(
            select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
                PointLot.account_id == account.id, PointLot.status == "pending", PointLot.available_at <= clock.now()
            )
        )
        return int(account.points_balance) + int(matured or 0)

    def _redeem(self, session: Session, event: PlannedRedemption, summary: OrdersSummary) -> None:
        """A reward from the catalog, or points as cash at the till: a share of the balance, in
        whole hundreds."""
        wanted = int(Decimal(self._balance(session, event.customer_id)) * event.share) // 100 * 100
        if wanted < 100:
            summary.redemptions_skipped += 1
            return
        order = (event.order.external_id, event.order.paid)
        self.counter.redeem(session, self.actors["service"], event.customer_id, event.key, wanted, order)

    def _adjust(self, session: Session, event: PlannedAdjustment) -> None:
        if event.points < 0 and self._balance(session, event.customer_id) < -event.points:
            return  # nothing left to take back
        answer = points.adjust(
            session,
            self.actors["service"],
            event.customer_id,
            AdjustIn(points=event.points, reason=event.reason),
            event.key,
        )
        if answer.request_id is not None:
            self.requests[event.key] = answer.request_id


def _duration(seconds: float) -> str:
    if seconds < 90:
        return said("demo.progress.seconds", count=count(seconds))
    return said("demo.progress.minutes", count=count(seconds / 60))
