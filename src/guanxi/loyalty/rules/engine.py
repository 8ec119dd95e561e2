"""Earning rules: how many points an order or an action earns, every award explained.

Pure functions over plain facts: no database, no clock. The order of evaluation is fixed by what a
rule needs, then by `priority` (lower first) and `code`:

1. gates: `minimum_order` (a smaller order earns nothing at all) and `exclusion` (lines that earn
   nothing from any rule);
2. the base: the first applicable `base_rate` rule gives the base points, rounded once over the
   eligible total and split over the lines by largest remainder;
3. bonuses on the base: `tier_multiplier`, `category_multiplier`, `campaign_multiplier`,
   `birthday_bonus`, each base × (multiplier − 1), not compounded, rounded like the base;
4. caps: each rule's own `daily_cap` and `campaign_cap` as its award is made, then the tightest
   `daily_cap` rule over everything the member earned that local day, trimming the last awards first.

A rule with `stop_further` that applied (gave points, excluded lines or blocked the order) stops the
rules after it in that order; caps always apply. A multiplier below 1 reduces points, never below 0
for the order. A rule outside its validity period that would have applied is named in the notes,
as is everything else that made an order earn less than it might have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Final

from guanxi.kit.calendar import HolidayCalendar, default_calendar
from guanxi.loyalty.rules.allocation import allocate, round_points
from guanxi.loyalty.rules.definitions import (
    ActionBonusRule,
    BaseRateRule,
    BirthdayBonusRule,
    CampaignMultiplierRule,
    CategoryMultiplierRule,
    DailyCapRule,
    ExclusionRule,
    MinimumOrderRule,
    Rule,
    RuleError,
    TierMultiplierRule,
    check_rule_set,
    default_rules,
    parse_rule,
    parse_rules,
)
from guanxi.loyalty.rules.facts import ActionFacts, Award, Evaluation, LineFacts, MemberFacts, OrderFacts
from guanxi.loyalty.rules.order_kinds import OrderRun, label, order_outcome, pts

__all__ = [
    "ActionBonusRule",
    "ActionFacts",
    "Award",
    "BaseRateRule",
    "BirthdayBonusRule",
    "CampaignMultiplierRule",
    "CategoryMultiplierRule",
    "DailyCapRule",
    "Evaluation",
    "ExclusionRule",
    "LineFacts",
    "MemberFacts",
    "MinimumOrderRule",
    "OrderFacts",
    "Rule",
    "RuleError",
    "TierMultiplierRule",
    "allocate",
    "check_rule_set",
    "default_rules",
    "evaluate_action",
    "evaluate_order",
    "parse_rule",
    "parse_rules",
    "round_points",
]

_PHASE: Final = {
    "minimum_order": 0,
    "exclusion": 0,
    "base_rate": 1,
    "tier_multiplier": 2,
    "category_multiplier": 2,
    "campaign_multiplier": 2,
    "birthday_bonus": 2,
}


def _validity(rule: Rule) -> str:
    start = rule.valid_from.isoformat() if rule.valid_from else "the start"
    end = rule.valid_to.isoformat() if rule.valid_to else "no end"
    return f"{start} to {end}"


def _addressed(rule: Rule, channel: str | None, store: str | None) -> bool:
    """Whether the rule is meant for this channel and store at all (else it is skipped without a note)."""
    return (rule.channels is None or channel in rule.channels) and (rule.stores is None or store in rule.stores)


def _trim(awards: list[Award], excess: int, why: str) -> list[Award]:
    """Take `excess` points off the positive awards, last first."""
    result = list(awards)
    for i in reversed(range(len(result))):
        award = result[i]
        if excess <= 0:
            break
        if award.points <= 0:
            continue
        cut = min(award.points, excess)
        excess -= cut
        left = award.points - cut
        result[i] = replace(
            award,
            points=left,
            trimmed=award.trimmed + cut,
            description=f"{award.description} ({cut} over {why}, {left} given)",
            params={**award.params, "trimmed": str(award.trimmed + cut)},
        )
    return result


def _rule_caps(rule: Rule, awards: Sequence[Award], member: MemberFacts) -> tuple[list[Award], list[str]]:
    limits: list[tuple[int, str]] = []
    if rule.daily_cap is not None:
        used = member.earned_today_by_rule.get(rule.code, 0)
        limits.append((rule.daily_cap - used, f"its daily cap of {rule.daily_cap} points, {used} earned today"))
    if rule.campaign_cap is not None:
        used = member.earned_by_rule.get(rule.code, 0)
        limits.append((rule.campaign_cap - used, f"its cap of {rule.campaign_cap} points, {used} earned before"))
    total = sum(a.points for a in awards if a.points > 0)
    if not limits or total == 0:
        return list(awards), []
    room, why = min(limits)
    excess = total - max(room, 0)
    if excess <= 0:
        return list(awards), []
    return _trim(list(awards), excess, why), [f"{label(rule)}: {pts(excess)} trimmed by {why}"]


@dataclass
class _Tally:
    awards: list[Award] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def finish(
        self, rules: Sequence[Rule], member: MemberFacts, day: date, channel: str | None, store: str | None
    ) -> tuple[tuple[Award, ...], tuple[str, ...]]:
        awards, notes = self.awards, self.notes
        total = sum(a.points for a in awards)
        if total < 0:  # reductions (multipliers below 1) outweigh the rest: drop the last ones
            shortfall = -total
            for i in reversed(range(len(awards))):
                if shortfall and awards[i].points < 0:
                    cut = min(-awards[i].points, shortfall)
                    shortfall -= cut
                    awards[i] = replace(
                        awards[i],
                        points=awards[i].points + cut,
                        description=f"{awards[i].description} ({cut} of the reduction dropped: no order earns below 0)",
                    )
            notes.append(f"reductions limited to the points earned: {pts(-total)} of them dropped")
        caps = [
            r
            for r in rules
            if isinstance(r, DailyCapRule) and r.active and r.in_force(day) and _addressed(r, channel, store)
        ]
        if caps:
            cap = min(caps, key=lambda r: (r.max_points, r.priority, r.code))
            room = max(cap.max_points - member.earned_today, 0)
            excess = sum(a.points for a in awards) - room
            if excess > 0:
                why = f"the daily cap of {cap.max_points} points, {member.earned_today} earned today"
                awards = _trim(awards, excess, why)
                notes.append(f"{label(cap)}: {pts(excess)} trimmed by {why}")
        return tuple(a for a in awards if a.points), tuple(notes)


def _stop_note(rule: Rule, later: Sequence[Rule]) -> list[str]:
    codes = [r.code for r in later if r.active]
    return [f"{label(rule)} applied and stops the rules after it: {', '.join(codes)}"] if codes else []


def evaluate_order(
    rules: Sequence[Rule], order: OrderFacts, member: MemberFacts, *, calendar: HolidayCalendar | None = None
) -> Evaluation:
    """The points an order earns under `rules`, with every award and every shortfall explained."""
    check_rule_set(rules)
    run = OrderRun(order, member, calendar or default_calendar)
    sequence = sorted((r for r in rules if r.kind in _PHASE), key=lambda r: (_PHASE[r.kind], r.priority, r.code))
    tally = _Tally()
    for position, rule in enumerate(sequence):
        if not rule.active or not _addressed(rule, order.channel, order.store):
            continue
        outcome = order_outcome(rule, run)
        if not rule.in_force(order.local_date):
            if outcome.applied:
                tally.notes.append(f"{label(rule)} is outside its validity period ({_validity(rule)})")
            continue
        awards, cap_notes = _rule_caps(rule, outcome.awards, member)
        tally.notes += [*outcome.notes, *cap_notes]
        if outcome.block:
            return Evaluation(0, (), tuple(tally.notes), tuple(0 for _ in order.lines))
        tally.awards += awards
        run.excluded |= outcome.exclude
        if outcome.base is not None and isinstance(rule, BaseRateRule):
            run.base, run.base_rule = outcome.base, rule
        if rule.stop_further and (outcome.exclude or any(a.points for a in awards)):
            tally.notes += _stop_note(rule, sequence[position + 1 :])
            break
    if run.base is None:
        tally.notes.append("no base rate rule applies to this order: no base points and no multiplier bonus")
    final, notes = tally.finish(rules, member, order.local_date, order.channel, order.store)
    base_by_line = run.base or tuple(0 for _ in order.lines)
    return Evaluation(sum(a.points for a in final), final, notes, base_by_line)


def _action_awards(rule: ActionBonusRule, action: ActionFacts, member: MemberFacts) -> list[Award]:
    awards = []
    if rule.points:
        params = {**rule.names(), "action": action.action, "points": str(rule.points)}
        awards.append(
            Award(rule.code, rule.kind, rule.points, f"{rule.name}: {action.action} = {pts(rule.points)}", params)
        )
    streak = member.checkin_streak
    extra = rule.streak_bonuses.get(streak, 0) if action.action == "checkin" else 0
    if extra:
        params = {**rule.names(), "streak": str(streak), "points": str(extra)}
        description = f"{rule.name}: {streak}-day check-in streak = {extra} bonus points"
        awards.append(Award(rule.code, "streak_bonus", extra, description, params))
    return awards


def evaluate_action(rules: Sequence[Rule], action: ActionFacts, member: MemberFacts) -> Evaluation:
    """The points an action (check-in, review, share, ...) earns under the `action_bonus` rules for it."""
    check_rule_set(rules)
    sequence = sorted(
        (r for r in rules if isinstance(r, ActionBonusRule) and r.action == action.action),
        key=lambda r: (r.priority, r.code),
    )
    tally = _Tally()
    for position, rule in enumerate(sequence):
        if not rule.active or not _addressed(rule, action.channel, None):
            continue
        proposed = _action_awards(rule, action, member)
        if not rule.in_force(action.local_date):
            if proposed:
                tally.notes.append(f"{label(rule)} is outside its validity period ({_validity(rule)})")
            continue
        awards, cap_notes = _rule_caps(rule, proposed, member)
        tally.awards += awards
        tally.notes += cap_notes
        if rule.stop_further and any(a.points for a in awards):
            tally.notes += _stop_note(rule, sequence[position + 1 :])
            break
    if not sequence:
        tally.notes.append(f"no rule awards points for the action {action.action}")
    final, notes = tally.finish(rules, member, action.local_date, action.channel, None)
    return Evaluation(sum(a.points for a in final), final, notes)
