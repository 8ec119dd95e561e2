"""One replay of a simulation: simulated members (tier, growth or rolling spend, cap usage) moved
by orders under one rule set and one ladder. Pure code: no database, nothing shared with the live
ledger, so a replay can only ever change its own dictionaries.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal

from guanxi.loyalty.rules import engine as rules
from guanxi.loyalty.rules import expiry, tiering
from guanxi.loyalty.rules.allocation import allocate

# The member facts an order was priced with, and its evaluation.
Evaluated = tuple[rules.MemberFacts, rules.Evaluation]


@dataclass
class Member:
    tier: str
    growth: int = 0
    # Spend ladders: (instant, amount kept) of the orders still inside the rolling tier window.
    spend: deque[tuple[datetime, Decimal]] = field(default_factory=deque)
    spend_total: Decimal = Decimal(0)
    # Cap memory, as `loyalty.orders.usage` keeps it for live orders.
    day: date | None = None
    earned_today: int = 0
    today_by_rule: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)
    # Birthday rules whose fixed points were given, and in which year (once per birthday month).
    birthday_taken: dict[str, int] = field(default_factory=dict)
    # The last facts built and what they were built from: without caps they change only with the
    # tier or a birthday gift, so most orders reuse them.
    facts: rules.MemberFacts | None = None
    facts_key: tuple[object, ...] = ()


class Replay:
    """Members and totals of one run. `order` applies one order the way `orders.record_order`
    does: evaluate at the member's current tier, add growth, then upgrade if a threshold is crossed."""

    def __init__(
        self,
        rule_set: Sequence[rules.Rule],
        ladder: Sequence[tiering.TierDef],
        *,
        growth_per_amount: Decimal,
        caps: bool,
        tier_basis: str = "growth_value",
        window_months: int = 12,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        """`caps`: some rule has a daily or campaign cap (`usage.needs_usage`), so what each member
        earned per rule and day must be remembered. `tier_basis`, `window_months` and `timezone`
        are the program's."""
        self.rules = tuple(rule_set)
        self.ladder = sorted(ladder, key=lambda t: t.rank)
        tiering.validate_ladder(self.ladder)
        self.by_code = {t.code: t for t in self.ladder}
        # The value that would move a member off each tier: only then is `tiering.upgrade` asked.
        self.next_threshold = {
            t.code: (self.ladder[i + 1].threshold if i + 1 < len(self.ladder) else None)
            for i, t in enumerate(self.ladder)
        }
        self.growth_per_amount = growth_per_amount
        self.spend_basis = tier_basis == "qualifying_spend"
        self.window_months = window_months
        self.timezone = timezone
        self.needs_usage = caps
        # Category bonuses belong to the lines they matched; every other award to all lines.
        self.category_rules = {r.code: r for r in self.rules if isinstance(r, rules.CategoryMultiplierRule)}
        self.members: dict[str, Member] = {}
        self.points = 0
        self.upgrades = 0
        self.by_rule: Counter[str] = Counter()
        self.by_category: Counter[str] = Counter()

    def member(self, account_id: str) -> Member:
        found = self.members.get(account_id)
        if found is None:
            found = self.members[account_id] = Member(tier=self.ladder[0].code)
        return found

    def _member_facts(self, member: Member, birthday: date | None, day: date) -> rules.MemberFacts:
        taken = frozenset(code for code, year in member.birthday_taken.items() if year == day.year)
        if not self.needs_usage:
            key = (member.tier, taken)
            if member.facts is not None and member.facts_key == key:
                return member.facts
        elif member.day != day:
            member.day, member.earned_today, member.today_by_rule = day, 0, {}
        tier = self.by_code[member.tier]
        facts = rules.MemberFacts(
            tier_code=tier.code,
            tier_multiplier=tier.points_multiplier,
            birthday=birthday,
            earned_today=member.earned_today,
            earned_today_by_rule=dict(member.today_by_rule),
            earned_by_rule=dict(member.by_rule),
            checkin_streak=0,
            birthday_bonus_taken=taken,
        )
        if not self.needs_usage:
            member.facts, member.facts_key = facts, (member.tier, taken)
        return facts

    def _remember(self, member: Member, awards: Sequence[rules.Award]) -> None:
        for award in awards:
            if award.points:
                member.today_by_rule[award.rule_code] = member.today_by_rule.get(award.rule_code, 0) + award.points
                member.by_rule[award.rule_code] = member.by_rule.get(award.rule_code, 0) + award.points
                member.earned_today += award.points

    def _tier_value(self, member: Member, at: datetime, amount: Decimal) -> Decimal:
        if not self.spend_basis:
            member.growth += int((amount * self.growth_per_amount).to_integral_value(rounding=ROUND_FLOOR))
            return Decimal(member.growth)
        # The rolling window as `tiers.qualifying_spend` measures it, from the order's local day.
        since_day = expiry.add_months(expiry.local_date(at, self.timezone), -self.window_months)
        since = expiry.end_of_day_utc(since_day, self.timezone)
        member.spend.append((at, amount))
        member.spend_total += amount
        while member.spend and member.spend[0][0] <= since:
            member.spend_total -= member.spend.popleft()[1]
        return member.spend_total

    def order(
        self,
        account_id: str,
        facts: rules.OrderFacts,
        categories: Sequence[str],
        birthday: date | None,
        at: datetime,
        amount: Decimal,
        *,
        reuse: Evaluated | None = None,
    ) -> Evaluated:
        """Apply one order (what the customer kept of it); returns the member facts it was priced
        with and its evaluation. `reuse`: another replay's answer for the same order under the same
        rules, taken as is when this member's facts are equal (evaluation is a pure function)."""
        member = self.member(account_id)
        member_facts = self._member_facts(member, birthday, facts.local_date)
        if reuse is not None and reuse[0] == member_facts:
            evaluation = reuse[1]
        else:
            evaluation = rules.evaluate_order(self.rules, facts, member_facts)
        points = evaluation.points
        if points:
            self.points += points
            for award in evaluation.awards:
                if award.points:
                    self.by_rule[award.rule_code] += award.points
            if self.needs_usage:
                self._remember(member, evaluation.awards)
            for award in evaluation.awards:
                if award.kind == "birthday_bonus" and award.params.get("birthday_points", "0") != "0":
                    member.birthday_taken[award.rule_code] = facts.local_date.year
            self._by_category(categories, facts, evaluation)
        value = self._tier_value(member, at, amount)
        threshold = self.next_threshold[member.tier]
        if threshold is not None and value >= threshold:
            decision = tiering.upgrade(self.ladder, member.tier, value)
            if decision is not None:
                member.tier = decision.tier.code
                self.upgrades += 1
        return member_facts, evaluation

    def _by_category(self, categories: Sequence[str], facts: rules.OrderFacts, evaluation: rules.Evaluation) -> None:
        """The order's points split over the categories of the lines they came from: category
        bonuses over the lines they matched, everything else by each line's base points (by amount
        when no line had any, e.g. fixed birthday points)."""
        if len(set(categories)) == 1:
            self.by_category[categories[0]] += evaluation.points
            return
        base = evaluation.base_by_line
        weights: Sequence[Decimal | int] = base if any(base) else [line.amount for line in facts.lines]
        shared = 0
        for award in evaluation.awards:
            rule = self.category_rules.get(award.rule_code)
            matched = (
                [
                    w if line.category in rule.categories or line.sku in rule.skus else 0
                    for w, line in zip(weights, facts.lines, strict=True)
                ]
                if rule is not None
                else None
            )
            if matched is not None and any(matched):
                self._split(award.points, categories, matched)
            else:
                shared += award.points
        self._split(shared, categories, weights)

    def _split(self, points: int, categories: Sequence[str], weights: Sequence[Decimal | int]) -> None:
        by_category: dict[str, int] = {}
        for category, weight in zip(categories, weights, strict=True):
            units = int(weight * 100) if isinstance(weight, Decimal) else weight  # amounts count in cents
            by_category[category] = by_category.get(category, 0) + units
        held = [c for c, w in by_category.items() if w]
        if len(held) <= 1:  # one category holds all the weight: no need to split
            self.by_category[held[0] if held else categories[0]] += points
            return
        for category, part in zip(held, allocate(points, [by_category[c] for c in held]), strict=True):
            self.by_category[category] += part

    def distribution(self) -> list[tuple[tiering.TierDef, int]]:
        counts = Counter(m.tier for m in self.members.values())
        return [(t, counts.get(t.code, 0)) for t in self.ladder]
