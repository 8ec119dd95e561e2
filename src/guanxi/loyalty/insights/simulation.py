"""What-if: replay the last N months of orders under the current program and under a scenario
(other earning rules, tier thresholds, growth rate) and compare the points issued, their cost and
the tier distribution they lead to, without touching live data.

One pass over the window's orders in time order (streamed, lines joined, birthdays joined) feeds
two independent replays, each with its own simulated members, so both see exactly the same orders.
Points come from `rules.evaluate_order`, upgrades from `tiering.upgrade`, as for a live order.

Approximations, stated in every report (`assumptions`): every member starts the window at the
lowest tier with no growth value (their tier at the window start is not reconstructed), and moves up
only through the window's orders; reviews and downgrades, interactions (check-ins, reviews,
referrals) and manual adjustments are not replayed; a refunded order counts for what was kept
(paid - refunded); caps count only what was earned inside the window.

A replay over a large history takes seconds to minutes, so it runs as a background run
(`kit.runs`, kind `loyalty.simulation`): `start` checks the scenario at once and records the run,
`run_simulation` replays in its own read-only unit of work and reports orders replayed of the
window's total as it goes.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers.models import Customer
from guanxi.kit import clock, runs
from guanxi.kit.db import Database
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.inputs import DefinitionJSON
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun
from guanxi.kit.text import StorableInput
from guanxi.loyalty.insights import liability
from guanxi.loyalty.insights.replay import Replay
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders import usage
from guanxi.loyalty.orders.models import Order, OrderLine
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.schemas import OrderIn, OrderLineIn
from guanxi.loyalty.rules import allocation, expiry, tiering
from guanxi.loyalty.rules import engine as rules

CENT: Final = Decimal("0.01")
BATCH: Final = 2000
TOP_CATEGORIES: Final = 10
NO_CATEGORY: Final = "(none)"
RUN_KIND: Final = "loyalty.simulation"
# Orders replayed between two progress reports (each is one short write of the run's row).
PROGRESS_EVERY: Final = 500

ASSUMPTIONS: Final = (
    "every member starts the window at the lowest tier with no growth value and moves up only through "
    "the window's orders",
    "tier reviews and downgrades are not replayed",
    "only orders are replayed: interactions (check-ins, reviews, referrals) and manual adjustments are not",
    "a refunded order counts for what the customer kept (paid - refunded)",
    "daily and campaign caps count only points earned inside the window",
    "cost = points x point value x (1 - expected breakage from the last 12 months)",
)


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ScenarioTierIn(_Input):
    code: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    name: str = Field(min_length=1, max_length=60)
    threshold: Decimal = Field(ge=0, le=Decimal("999999999"), max_digits=12, decimal_places=2)
    # Default: the multiplier of the current tier with the same code, else 1.
    points_multiplier: Decimal | None = Field(default=None, gt=0, le=Decimal(100), max_digits=8, decimal_places=4)


class ScenarioIn(_Input):
    months: int = Field(default=12, ge=1, le=36)
    # Earning rule definitions (as `PUT /loyalty/program/rules/{code}` takes them); they replace the
    # program's rules for the scenario.
    rules: list[DefinitionJSON] | None = Field(default=None, max_length=100)
    # The ladder, lowest first; it replaces the program's tiers for the scenario.
    tiers: list[ScenarioTierIn] | None = Field(default=None, min_length=1, max_length=12)
    growth_per_amount: Decimal | None = Field(default=None, ge=0, le=Decimal(1000), max_digits=12, decimal_places=4)


class TierCount(BaseModel):
    code: str
    name: str
    rank: int
    members: int


class RunFigures(BaseModel):
    points: int
    value: Decimal  # points x point value
    cost: Decimal  # value x (1 - breakage)
    points_by_rule: dict[str, int]
    tiers: list[TierCount]  # at the end of the window, lowest first
    upgrades: int


class CategoryChange(BaseModel):
    category: str
    baseline_points: int
    scenario_points: int
    difference: int


class SimulationReport(BaseModel):
    months: int
    window_start: datetime
    window_end: datetime
    orders_replayed: int
    orders_fully_refunded: int
    members: int
    # What the window's orders really earned, net of refunds: how far the baseline replay is from
    # the ledger (the approximations above, and any configuration change during the window).
    recorded_points: int
    point_value: Decimal
    currency: str
    breakage: liability.Breakage
    baseline: RunFigures
    scenario: RunFigures
    points_difference: int
    points_change_pct: Decimal | None  # None when the baseline issued nothing
    cost_difference: Decimal
    top_category_changes: list[CategoryChange]
    assumptions: list[str]


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def parse_rules(definitions: Sequence[dict[str, Any]]) -> tuple[rules.Rule, ...]:
    """Every definition parsed and every code used once, or one error listing each bad field as
    `rules[i].field`; active rules only, in the order the program loads them (priority, code)."""
    try:
        parsed = rules.parse_rules(definitions)
    except rules.RuleError as exc:
        _raise([FieldError(f"rules{path}", message, "invalid_rule") for path, message in exc.errors])
        raise
    return tuple(sorted((r for r in parsed if r.active), key=lambda r: (r.priority, r.code)))


def parse_tiers(config: ProgramConfig, tiers: Sequence[ScenarioTierIn]) -> list[tiering.TierDef]:
    """The scenario's ladder in list order (rank = position), validated as a whole."""
    current = {t.code: t.multiplier for t in config.tiers}
    ladder = [
        tiering.TierDef(
            code=t.code,
            name=t.name,
            rank=i,
            threshold=t.threshold,
            points_multiplier=t.points_multiplier or current.get(t.code, Decimal(1)),
        )
        for i, t in enumerate(tiers)
    ]
    tiering.validate_ladder(ladder)
    return ladder


def window(config: ProgramConfig, months: int) -> tuple[datetime, datetime]:
    end = clock.now()
    local = end.astimezone(ZoneInfo(config.timezone))
    start_day = expiry.add_months(local.date(), -months)
    start = datetime.combine(start_day, local.timetz()).astimezone(UTC)
    return start, end


def window_rows(start: datetime, end: datetime) -> Select[*tuple[Any, ...]]:
    """The statement streaming the window's orders in time order, one row per line, with the
    customer's birthday (the benchmark reads the same stream as its floor). Cancelled orders are
    left out: they never happened as sales."""
    return (
        select(
            Order.id,
            Order.account_id,
            Order.paid_amount,
            Order.refunded_amount,
            Order.occurred_at,
            Order.store,
            Order.channel,
            Order.points_earned,
            Order.points_reversed,
            Customer.birthday,
            OrderLine.sku,
            OrderLine.category,
            OrderLine.quantity,
            OrderLine.paid_share,
            OrderLine.refunded_quantity,
            OrderLine.refunded_amount,
        )
        .join(Customer, Customer.id == Order.customer_id)
        .outerjoin(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.occurred_at > start, Order.occurred_at <= end, Order.status != "cancelled")
        .order_by(Order.occurred_at, Order.id, OrderLine.line_no)
        .execution_options(yield_per=BATCH)
    )


def _rows(session: Session, start: datetime, end: datetime) -> Iterator[list[Any]]:
    """The window's orders in time order, one group of rows (one per line) per order."""
    stmt = window_rows(start, end)
    result = session.execute(stmt)
    for _, group in itertools.groupby(result, key=lambda r: r[0]):
        yield list(group)


def _net_lines(rows: Sequence[Row[Any]], net: Decimal) -> tuple[list[OrderLineIn], list[Decimal]]:
    """The lines as the customer kept them: what each line still holds of the paid amount (a refund
    by amount, which names no line, is spread over the lines by what they hold)."""
    held = [Decimal(r.paid_share) - Decimal(r.refunded_amount) for r in rows]
    if sum(held, Decimal(0)) != net or any(h < 0 for h in held):
        held = allocation.allocate(net, [max(h, Decimal(0)) for h in held])
    lines: list[OrderLineIn] = []
    shares: list[Decimal] = []
    for r, amount in zip(rows, held, strict=True):
        kept = r.quantity - r.refunded_quantity
        if amount <= 0 and kept <= 0:
            continue  # refunded in full: the customer has nothing of this line
        lines.append(
            OrderLineIn.model_construct(
                sku=r.sku, category=r.category, quantity=kept if kept > 0 else r.quantity, unit_price=amount
            )
        )
        shares.append(amount)
    return lines, shares


def _facts(config: ProgramConfig, rows: Sequence[Row[Any]], net: Decimal) -> tuple[rules.OrderFacts, list[str]]:
    """Order facts exactly as a live order builds them (`orders.order_facts`), and the category of
    each fact line (for the per-category comparison)."""
    first = rows[0]
    lines, shares = _net_lines(rows, net) if first.quantity is not None else ([], [])
    data = OrderIn.model_construct(
        external_id="",
        source="",
        paid_amount=net,
        occurred_at=clock.as_utc(first.occurred_at),
        channel=first.channel,
        store=first.store,
        lines=lines,
    )
    categories = [line.category or NO_CATEGORY for line in lines] or [NO_CATEGORY]
    return orders.order_facts(config, data, shares), categories


def _replay(
    config: ProgramConfig, rule_set: Sequence[rules.Rule], ladder: Sequence[tiering.TierDef], growth: Decimal
) -> Replay:
    return Replay(
        rule_set,
        ladder,
        growth_per_amount=growth,
        caps=usage.needs_usage(rule_set),
        tier_basis=config.tier_basis,
        window_months=config.tier_window_months,
        timezone=config.timezone,
    )


def _figures(replay: Replay, point_value: Decimal, keep: Decimal) -> RunFigures:
    value = Decimal(replay.points) * point_value
    return RunFigures(
        points=replay.points,
        value=liability.money(value),
        cost=liability.money(value * keep),
        points_by_rule=dict(sorted(replay.by_rule.items())),
        tiers=[TierCount(code=t.code, name=t.name, rank=t.rank, members=n) for t, n in replay.distribution()],
        upgrades=replay.upgrades,
    )


def _category_changes(base: Counter[str], scenario: Counter[str]) -> list[CategoryChange]:
    if set(base) | set(scenario) <= {NO_CATEGORY}:
        return []
    changes = [
        CategoryChange(category=c, baseline_points=b, scenario_points=s, difference=s - b)
        for c in set(base) | set(scenario)
        if (b := base[c]) != (s := scenario[c])
    ]
    changes.sort(key=lambda c: (-abs(c.difference), c.category))
    return changes[:TOP_CATEGORIES]


def window_orders(session: Session, start: datetime, end: datetime) -> int:
    """How many orders the replay will read (the total its progress counts towards)."""
    stmt = select(func.count(Order.id)).where(
        Order.occurred_at > start, Order.occurred_at <= end, Order.status != "cancelled"
    )
    return int(session.scalar(stmt) or 0)


def _scenario_parts(
    config: ProgramConfig, scenario: ScenarioIn
) -> tuple[Sequence[rules.Rule], Sequence[tiering.TierDef], Decimal]:
    scenario_rules = parse_rules(scenario.rules) if scenario.rules is not None else config.rules
    scenario_tiers = parse_tiers(config, scenario.tiers) if scenario.tiers is not None else config.tier_defs
    growth_rate = config.growth_per_amount if scenario.growth_per_amount is None else scenario.growth_per_amount
    return scenario_rules, scenario_tiers, growth_rate


def simulate(
    session: Session,
    actor: Principal,
    scenario: ScenarioIn,
    *,
    progress: Callable[[int, int | None], None] | None = None,
) -> SimulationReport:
    """Compare the current program with `scenario` over the last `scenario.months` months of
    orders. Reads only: nothing is added to the session, nothing is flushed. `progress` hears
    (orders replayed, orders in the window) at the start, every PROGRESS_EVERY orders and at the end."""
    require(actor, "liability", "read")
    config = program.load(session)
    scenario_rules, scenario_tiers, growth_rate = _scenario_parts(config, scenario)
    baseline = _replay(config, config.rules, config.tier_defs, config.growth_per_amount)
    what_if = _replay(config, scenario_rules, scenario_tiers, growth_rate)
    same_rules = scenario.rules is None
    start, end = window(config, scenario.months)
    total = window_orders(session, start, end) if progress is not None else None
    if progress is not None:
        progress(0, total)
    replayed = refunded = recorded = 0
    for rows in _rows(session, start, end):
        first = rows[0]
        replayed += 1
        if progress is not None and replayed % PROGRESS_EVERY == 0:
            progress(replayed, max(total or 0, replayed))
        recorded += int(first.points_earned) - int(first.points_reversed)
        net = Decimal(first.paid_amount) - Decimal(first.refunded_amount)
        if net <= 0:  # refunded in full: a member, but nothing earned and no growth
            refunded += 1
            baseline.member(first.account_id)
            what_if.member(first.account_id)
            continue
        facts, categories = _facts(config, rows, net)
        occurred = clock.as_utc(first.occurred_at)
        seen = baseline.order(first.account_id, facts, categories, first.birthday, occurred, net)
        # Same rules: wherever the member's facts agree (same tier, same multiplier), so does the answer.
        what_if.order(
            first.account_id, facts, categories, first.birthday, occurred, net, reuse=seen if same_rules else None
        )
    if progress is not None:
        progress(replayed, max(total or 0, replayed))
    breakage = liability.expected_breakage(session, end)
    keep = Decimal(1) - breakage.rate
    base = _figures(baseline, config.point_value, keep)
    other = _figures(what_if, config.point_value, keep)
    difference = other.points - base.points
    pct = (
        (Decimal(difference) * 100 / Decimal(base.points)).quantize(CENT, rounding=ROUND_HALF_UP)
        if base.points
        else None
    )
    return SimulationReport(
        months=scenario.months,
        window_start=start,
        window_end=end,
        orders_replayed=replayed,
        orders_fully_refunded=refunded,
        members=len(baseline.members),
        recorded_points=recorded,
        point_value=config.point_value,
        currency=config.currency,
        breakage=breakage,
        baseline=base,
        scenario=other,
        points_difference=difference,
        points_change_pct=pct,
        cost_difference=other.cost - base.cost,
        top_category_changes=_category_changes(baseline.by_category, what_if.by_category),
        assumptions=list(ASSUMPTIONS),
    )


# As a background run -----------------------------------------------------------------------------


def start(session: Session, actor: Principal, scenario: ScenarioIn, database: Database) -> BackgroundRun:
    """Check the scenario now (permission, rules, ladder: the caller hears what is wrong at once),
    record the run and start it once this unit of work commits."""
    require(actor, "liability", "read")
    _scenario_parts(program.load(session), scenario)
    run = runs.create(session, actor, RUN_KIND, scenario.model_dump(mode="json", exclude_unset=True))
    runs.launch(session, run.id, database)
    return run


def run_simulation(context: runs.RunContext) -> dict[str, Any]:
    """The run's work: the replay in a read-only unit of work (it never holds SQLite's write lock;
    progress goes through short units of work of its own), the report as JSON."""
    scenario = ScenarioIn.model_validate(context.parameters)
    with context.database.unit_of_work(read_only=True) as session:
        report = simulate(session, context.actor, scenario, progress=context.progress)
    return report.model_dump(mode="json")


def get_run(session: Session, actor: Principal, run_id: str) -> BackgroundRun:
    """A simulation run, for those who may read the liability figures it replays."""
    require(actor, "liability", "read")
    return runs.get(session, run_id, kind=RUN_KIND)


def recent_runs(session: Session, actor: Principal, *, limit: int = 10) -> list[BackgroundRun]:
    require(actor, "liability", "read")
    return runs.recent(session, RUN_KIND, limit=limit)


def report_of(run: BackgroundRun) -> SimulationReport | None:
    """The finished run's report, or None while it runs (or when it failed)."""
    return SimulationReport.model_validate(run.result) if run.status == "done" and run.result else None


runs.register(RUN_KIND, run_simulation)
