"""Two years of shopping for the demo's customers, planned without a database.

Everything comes from one seeded `random.Random`, so the same seed, customers, order count and end
time give the same plan. Each customer gets a rhythm (loyal and VIP buyers often, many occasional,
some who lapse), a home store in their city, favourite categories and channels; days are weighted
by the Chinese retail calendar (双11, 618, 双12, 38 女神节, 520, 国庆, the rush before 春节 and the
slump during it, weekends). Baskets come from a small catalogue; many orders are discounted, so the
paid amount is below the lines' total. Refunds, redemptions at the till, daily check-ins by
app-loving members and staff adjustments are planned alongside, each at its own moment.
`demo.orders` replays the plan through the loyalty services.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate
from zoneinfo import ZoneInfo

from pypinyin import Style, lazy_pinyin

from guanxi.demo import data
from guanxi.demo.catalogue import CATALOGUE, CATEGORIES
from guanxi.demo.generate import Weighted

CENT = Decimal("0.01")

CHANNELS: tuple[str, ...] = ("store", "mini_program", "app", "tmall", "jd", "douyin")
ONLINE_SOURCES = {"mini_program": "mini-program", "app": "app", "tmall": "tmall", "jd": "jd", "douyin": "douyin"}

# Lunar New Year's Day (春节) by year: the package calendar stops at its last published year.
LUNAR_NEW_YEAR = {
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}

# Short city codes for store names (SH-01); other cities get their pinyin initials.
_CITY_CODES = {
    "上海市": "SH",
    "北京市": "BJ",
    "广州市": "GZ",
    "深圳市": "SZ",
    "杭州市": "HZ",
    "成都市": "CD",
    "苏州市": "SU",
    "南京市": "NJ",
    "武汉市": "WH",
    "重庆市": "CQ",
    "天津市": "TJ",
    "西安市": "XA",
}

# Rhythms: share of customers, relative orders per active day, basket size factor.
SEGMENTS: tuple[tuple[str, int, float, float], ...] = (
    ("vip", 1, 16.0, 2.2),
    ("loyal", 6, 11.0, 1.0),
    ("regular", 18, 3.5, 1.0),
    ("occasional", 50, 0.8, 0.9),
    ("lapsed", 25, 2.0, 0.9),
)
_SEGMENT = {name: (rate, size) for name, _, rate, size in SEGMENTS}

# Hour weights (local time), 0-23.
_STORE_HOURS = (0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4, 6, 7, 6, 7, 8, 8, 7, 7, 9, 9, 6, 2, 0)
_ONLINE_HOURS = (3, 1, 1, 0, 0, 0, 1, 2, 3, 4, 5, 5, 6, 5, 5, 5, 5, 5, 6, 8, 10, 12, 11, 7)


@dataclass(frozen=True, slots=True)
class Shopper:
    """What the plan needs to know about a customer."""

    id: str
    joined: datetime
    city: str
    source_channel: str
    # Identities a till or shop would send instead of our id: (kind, namespace, value).
    member_card: str | None = None
    app_user_id: str | None = None
    shop_ids: tuple[tuple[str, str], ...] = ()  # (namespace, value): tmall, jd, douyin


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    category: str
    quantity: int
    unit_price: Decimal


@dataclass(slots=True)
class PlannedOrder:
    seq: int
    at: datetime
    customer_id: str
    source: str
    external_id: str
    channel: str
    store: str | None
    lines: list[Line]
    paid: Decimal
    identity: tuple[str, str, str] | None = None  # (kind, namespace, value) instead of customer_id


@dataclass(slots=True)
class PlannedRefund:
    at: datetime
    order: PlannedOrder
    key: str
    share: Decimal | None = None  # a refund of this share of what was paid (1: all of it), or
    lines: list[tuple[int, int]] | None = None  # (line_no, quantity)


@dataclass(slots=True)
class PlannedRedemption:
    at: datetime
    customer_id: str
    key: str
    share: Decimal  # of the balance at that moment, in whole hundreds of points
    order: PlannedOrder


@dataclass(slots=True)
class PlannedCheckin:
    at: datetime
    customer_id: str


@dataclass(slots=True)
class PlannedAdjustment:
    at: datetime
    customer_id: str
    key: str
    points: int
    reason: str


@dataclass(slots=True)
class PlannedApproval:
    """A manager approves an adjustment above the approval threshold, some hours later."""

    at: datetime
    adjustment: PlannedAdjustment


@dataclass(slots=True)
class _Profile:
    shopper: Shopper
    segment: str
    first: int  # index of the first day they may buy on
    last: int  # index after the last one
    favourites: list[str]
    channels: list[str]
    home: str


Event = PlannedOrder | PlannedRefund | PlannedRedemption | PlannedCheckin | PlannedAdjustment | PlannedApproval


@dataclass
class Plan:
    start: datetime
    end: datetime
    orders: list[PlannedOrder] = field(default_factory=list)
    refunds: list[PlannedRefund] = field(default_factory=list)
    redemptions: list[PlannedRedemption] = field(default_factory=list)
    checkins: list[PlannedCheckin] = field(default_factory=list)
    adjustments: list[PlannedAdjustment] = field(default_factory=list)
    approvals: list[PlannedApproval] = field(default_factory=list)

    def events(self) -> list[Event]:
        """Everything, in the order it happened (an order before what follows it at the same moment)."""
        rank = {
            PlannedOrder: 0,
            PlannedRedemption: 1,
            PlannedCheckin: 2,
            PlannedAdjustment: 3,
            PlannedApproval: 4,
            PlannedRefund: 5,
        }
        items: list[Event] = [
            *self.orders,
            *self.redemptions,
            *self.checkins,
            *self.adjustments,
            *self.approvals,
            *self.refunds,
        ]
        return sorted(items, key=lambda e: (e.at, rank[type(e)]))


def city_stores(cities: Sequence[data.City] = data.CITIES) -> dict[str, list[str]]:
    """Store codes per city, more stores where more members live: 上海市 -> SH-01 ... SH-05."""
    taken: set[str] = set(_CITY_CODES.values())
    stores: dict[str, list[str]] = {}
    for city in cities:
        code = _CITY_CODES.get(city.city)
        if code is None:
            syllables = lazy_pinyin(city.city.removesuffix("市"), style=Style.NORMAL)
            code = "".join(s[0] for s in syllables).upper()
            if code in taken:
                code = (syllables[0][:2] + "".join(s[0] for s in syllables[1:])).upper()
            taken.add(code)
        stores[city.city] = [f"{code}-{n:02d}" for n in range(1, max(1, city.weight // 12) + 1)]
    return stores


def day_weight(day: date) -> float:
    """How busy a local day is compared with an ordinary weekday."""
    weight = {4: 1.1, 5: 1.35, 6: 1.35}.get(day.weekday(), 1.0)
    month, dom = day.month, day.day
    if month == 11:
        weight *= 8.0 if dom == 11 else 1.8 if dom < 11 else 1.3 if dom <= 13 else 1.0
    elif month == 6 and dom <= 18:
        weight *= 4.0 if dom == 18 else 1.5
    elif month == 12 and dom == 12:
        weight *= 2.5
    elif month == 3 and dom == 8:
        weight *= 2.0
    elif month == 5 and dom == 20:
        weight *= 1.5
    elif month == 10 and dom <= 7:
        weight *= 1.4
    lunar = LUNAR_NEW_YEAR.get(day.year)
    if lunar is not None:
        offset = (day - lunar).days
        if -10 <= offset < 0:
            weight *= 1.4  # 年货: gifts and food before the holiday
        elif 0 <= offset <= 6:
            weight *= 0.3  # stores shut, couriers stop
    return weight


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Planner:
    def __init__(self, seed: int, end: datetime, days: int, timezone: str) -> None:
        self.rng = random.Random(seed)
        self.zone = ZoneInfo(timezone)
        self.end = end.astimezone(UTC)
        last = self.end.astimezone(self.zone).date()
        self.first_day = last - timedelta(days=days - 1)
        self.start = datetime.combine(self.first_day, time(), self.zone).astimezone(UTC)
        self.days = [self.first_day + timedelta(days=i) for i in range(days)]
        self.cumulative = list(accumulate(day_weight(d) for d in self.days))
        self.stores = city_stores()
        self.all_stores = [s for stores in self.stores.values() for s in stores]
        self.segments = Weighted([(name, share) for name, share, _, _ in SEGMENTS])
        self.store_hours = Weighted(list(enumerate(_STORE_HOURS)))
        self.online_hours = Weighted(list(enumerate(_ONLINE_HOURS)))
        self.line_counts = Weighted([(1, 62), (2, 26), (3, 9), (4, 3)])
        # Cheaper things sell more often: an item's chance within its category falls with its price.
        grouped: dict[str, list[tuple[tuple[str, str, str, tuple[int, ...], int], int]]] = {}
        for item in CATALOGUE:
            grouped.setdefault(item[1], []).append((item, int(10**7 / float(item[2]) ** 1.6)))
        self.by_category = {category: Weighted(items) for category, items in grouped.items()}

    # -- who buys how much ---------------------------------------------------------------------

    def _span(self, shopper: Shopper, segment: str) -> tuple[int, int]:
        """Index range of days the shopper buys on (joined before the end; lapsed ones stop)."""
        first = max(0, (shopper.joined.astimezone(self.zone).date() - self.first_day).days)
        last = len(self.days)
        if segment == "lapsed" and first < last:
            last = min(last, first + self.rng.randint(60, 420))
        return first, last

    def _allocate(self, weights: list[float], total: int) -> list[int]:
        """`total` orders split in proportion to `weights`, largest remainders first (exact)."""
        whole = sum(weights)
        if whole <= 0:
            return [0] * len(weights)
        shares = [w * total / whole for w in weights]
        counts = [int(s) for s in shares]
        order = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
        for i in order[: total - sum(counts)]:
            counts[i] += 1
        return counts

    def _day_between(self, first: int, last: int) -> int:
        low = self.cumulative[first - 1] if first else 0.0
        point = low + self.rng.random() * (self.cumulative[last - 1] - low)
        return min(bisect_right(self.cumulative, point, first, last), last - 1)

    # -- the plan ------------------------------------------------------------------------------

    def plan(self, shoppers: Sequence[Shopper], orders: int) -> Plan:
        rng = self.rng
        plan = Plan(start=self.start, end=self.end)
        profiles = [self._profile(shopper) for shopper in shoppers]
        weights = [
            _SEGMENT[p.segment][0] * (self.cumulative[p.last - 1] - (self.cumulative[p.first - 1] if p.first else 0.0))
            if p.last > p.first
            else 0.0
            for p in profiles
        ]
        drafts: list[tuple[datetime, str, _Profile]] = []
        for profile, count in zip(profiles, self._allocate(weights, orders), strict=True):
            drafts.extend(self._moment(profile) for _ in range(count))
        drafts.sort(key=lambda d: (d[0], d[2].shopper.id))
        per_customer: dict[str, list[PlannedOrder]] = {}
        for seq, (at, channel, profile) in enumerate(drafts, start=1):
            order = self._order(seq, at, channel, profile)
            plan.orders.append(order)
            per_customer.setdefault(order.customer_id, []).append(order)
            if rng.random() < 0.03:
                refund = self._refund(order)
                if refund is not None:
                    plan.refunds.append(refund)
        self._redemptions(plan, per_customer, orders)
        self._checkins(plan, [p for p in profiles if p.segment in ("vip", "loyal", "regular")])
        self._adjustments(plan, per_customer, orders)
        return plan

    def _profile(self, shopper: Shopper) -> _Profile:
        """Rhythm, buying days, favourite categories, channel mix and home store."""
        rng = self.rng
        segment = self.segments.pick(rng)
        first, last = self._span(shopper, segment)
        favourites = rng.sample(CATEGORIES, 2)
        source = shopper.source_channel
        primary = source if source in CHANNELS else rng.choice(("store", "mini_program"))
        mix = [primary] * 6 + ["store"] * 2 + [rng.choice(CHANNELS)]
        home = rng.choice(self.stores.get(shopper.city) or self.stores["上海市"])
        return _Profile(shopper, segment, first, last, favourites, mix, home)

    def _moment(self, profile: _Profile) -> tuple[datetime, str, _Profile]:
        """When an order happens and through which channel (shops and apps keep later hours)."""
        rng = self.rng
        joined = profile.shopper.joined
        channel = rng.choice(profile.channels)
        for _ in range(20):
            day = self.days[self._day_between(profile.first, profile.last)]
            online = channel != "store"
            if online and day.month == 11 and day.day == 11 and rng.random() < 0.3:
                hour = rng.choice((0, 0, 0, 1, 20, 21))  # the midnight rush of 双11
            else:
                hour = (self.online_hours if online else self.store_hours).pick(rng)
            local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), self.zone)
            at = local.astimezone(UTC)
            if joined <= at < self.end:
                return at, channel, profile
        # A customer who joined minutes ago: their first purchase is when they joined.
        return min(max(joined, self.start), self.end - timedelta(seconds=1)), channel, profile

    def _order(self, seq: int, at: datetime, channel: str, profile: _Profile) -> PlannedOrder:
        rng = self.rng
        shopper = profile.shopper
        local = at.astimezone(self.zone)
        lines = self._basket(local.date(), profile.favourites, _SEGMENT[profile.segment][1])
        paid = self._paid(local.date(), lines)
        identity: tuple[str, str, str] | None = None
        if channel == "store":
            shop = profile.home if rng.random() < 0.92 else rng.choice(self.all_stores)
            store: str | None = shop
            source = f"pos-{shop.lower()}"
            external_id = f"{shop}-{local:%y%m%d}-{seq:07d}"
            if shopper.member_card and rng.random() < 0.8:
                identity = ("member_card", "", shopper.member_card)
        else:
            store = None
            source = ONLINE_SOURCES[channel]
            external_id = f"{channel.upper().replace('_', '')}{local:%Y%m%d}{seq:08d}"
            shop_ids = dict(shopper.shop_ids)
            if channel in shop_ids:
                identity = ("external_id", channel, shop_ids[channel])
            elif channel == "app" and shopper.app_user_id:
                identity = ("app_user_id", "", shopper.app_user_id)
        return PlannedOrder(seq, at, shopper.id, source, external_id, channel, store, lines, paid, identity)

    def _basket(self, day: date, favourites: list[str], size: float) -> list[Line]:
        rng = self.rng
        count = self.line_counts.pick(rng)
        if size > 1.5 and rng.random() < 0.5:
            count += 1
        lines: dict[str, Line] = {}
        for _ in range(50):
            if len(lines) == count:
                break
            category = rng.choice(favourites) if rng.random() < 0.7 else rng.choice(CATEGORIES)
            if day.month in (1, 2) and day.day < 25 and rng.random() < 0.3:
                category = "食品"  # 年货
            sku, category, price, months, most = self.by_category[category].pick(rng)
            if months and day.month not in months:
                continue
            quantity = 1 if most == 1 or rng.random() < 0.7 else rng.randint(2, most)
            lines[sku] = Line(sku, category, quantity, Decimal(price))
        return list(lines.values())

    def _paid(self, day: date, lines: list[Line]) -> Decimal:
        """Lines' total less promotions: festival discounts, member prices, 满300减30."""
        rng = self.rng
        total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
        festival = (
            (day.month == 11 and day.day <= 11) or (day.month == 6 and day.day <= 18) or day == date(day.year, 12, 12)
        )
        factor = Decimal(1)
        if rng.random() < (0.85 if festival else 0.3):
            factor = Decimal(rng.choice(("0.95", "0.9", "0.88", "0.85", "0.8", "0.75" if festival else "0.9")))
        paid = _quantize(total * factor)
        if festival and paid >= 300 and rng.random() < 0.6:
            paid -= 30 * int(paid // 300)
        return max(min(paid, total), CENT)

    def _refund(self, order: PlannedOrder) -> PlannedRefund | None:
        rng = self.rng
        at = order.at + timedelta(days=rng.randint(1, 14), minutes=rng.randrange(600))
        if at >= self.end:
            return None
        key = f"demo-refund-{order.seq}"
        kind = rng.random()
        if kind < 0.5:
            return PlannedRefund(at, order, key, share=Decimal(1))
        if kind < 0.8 and (len(order.lines) > 1 or order.lines[0].quantity > 1):
            line_no = rng.randrange(len(order.lines)) + 1
            return PlannedRefund(at, order, key, lines=[(line_no, 1)])
        return PlannedRefund(at, order, key, share=Decimal(rng.choice(("0.2", "0.3", "0.5"))))

    def _redemptions(self, plan: Plan, per_customer: dict[str, list[PlannedOrder]], orders: int) -> None:
        """Points spent at the till right after an order (about one order in fifty)."""
        rng = self.rng
        buyers = sorted(per_customer)
        weights = [len(per_customer[c]) for c in buyers]
        if not buyers:
            return
        picked = Weighted(list(zip(buyers, weights, strict=True)))
        for n in range(max(1, orders // 50)):
            customer = picked.pick(rng)
            candidates = per_customer[customer][1:] or per_customer[customer]
            order = rng.choice(candidates)
            share = Decimal(rng.choice(("0.3", "0.5", "0.8", "1")))
            plan.redemptions.append(
                PlannedRedemption(order.at + timedelta(minutes=1), customer, f"demo-redeem-{n + 1}", share, order)
            )

    def _checkins(self, plan: Plan, engaged: list[_Profile]) -> None:
        """App lovers check in daily in streaks (about one customer in sixty)."""
        rng = self.rng
        fans = [p for p in engaged if p.shopper.source_channel in ("app", "mini_program")]
        count = max(1, round(len(engaged) * 0.05)) if engaged else 0
        for profile in sorted(rng.sample(fans, min(count, len(fans))), key=lambda p: p.shopper.id):
            shopper = profile.shopper
            streak = False
            for index in range(profile.first, profile.last):
                streak = rng.random() < (0.8 if streak else 0.05)
                if not streak:
                    continue
                local = datetime.combine(self.days[index], time(rng.randint(7, 22), rng.randrange(60)), self.zone)
                at = local.astimezone(UTC)
                if shopper.joined <= at < self.end:
                    plan.checkins.append(PlannedCheckin(at, shopper.id))

    def _adjustments(self, plan: Plan, per_customer: dict[str, list[PlannedOrder]], orders: int) -> None:
        """Staff corrections: small goodwill credits, a few reversals, and large ones a manager approves."""
        rng = self.rng
        buyers = sorted(per_customer)
        if not buyers:
            return
        for n in range(max(3, orders // 2000)):
            customer = rng.choice(buyers)
            order = rng.choice(per_customer[customer])
            at = order.at + timedelta(days=rng.randint(1, 5), hours=rng.randint(1, 8))
            kind = n % 10
            approve_at = at + timedelta(hours=rng.randint(2, 20))
            if approve_at >= self.end:
                continue
            if kind == 0:
                points, reason = rng.randrange(1500, 3001, 100), "大客户关怀：年度答谢积分"
            elif kind == 1:
                points, reason = -rng.randrange(50, 201, 10), "撤销误发积分（重复录入的订单）"
            else:
                points = rng.randrange(50, 501, 10)
                reason = rng.choice(
                    ("投诉补偿：门店服务态度", "门店补录积分：小票遗失", "系统故障补偿：小程序积分未到账")
                )
            adjustment = PlannedAdjustment(at, customer, f"demo-adjust-{n + 1}", points, reason)
            plan.adjustments.append(adjustment)
            if kind == 0:
                plan.approvals.append(PlannedApproval(approve_at, adjustment))
