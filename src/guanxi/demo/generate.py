"""Deterministic generation of demo customers and B2B accounts (no database).

Every value is produced from one seeded random generator, so the same seed, count and clock give
the same people, numbers and ids. Identifiers are run through the real normalization functions
(phone, email, resident ID, unified social credit code), so the demo never holds a value the API
would refuse.
"""

from __future__ import annotations

import base64
import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from stdnum import numdb
from stdnum.cn import ric, uscc

from guanxi.customers.normalize import (
    IdentityKind,
    InvalidValue,
    name_search_keys,
    normalize_email,
    normalize_phone,
    normalize_resident_id,
    normalize_token,
    normalize_uscc,
)
from guanxi.demo import data

T = TypeVar("T")

HISTORY_DAYS = 3 * 365
RECENT_DAYS = 7
MAX_ACCOUNTS = 300


class Weighted(Generic[T]):
    """Fast weighted choice from a fixed list."""

    def __init__(self, items: Sequence[tuple[T, int]]) -> None:
        self.values = [value for value, _ in items]
        self.cumulative: list[int] = []
        total = 0
        for _, weight in items:
            total += weight
            self.cumulative.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect_right(self.cumulative, rng.random() * self.total)]


def account_count(customers: int) -> int:
    """A few hundred B2B accounts for a normal demo, one per twenty customers for small ones."""
    return min(MAX_ACCOUNTS, customers // 20)


_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def ulid_at(moment: datetime, rng: random.Random) -> str:
    """A ULID carrying `moment` as its timestamp and seeded randomness (same text as python-ulid)."""
    value = (int(moment.timestamp() * 1000) << 80) | rng.getrandbits(80)
    # 128 bits as 26 base32 characters: two leading zero bits, six trailing ones to fill a byte.
    return base64.b32encode((value << 6).to_bytes(17, "big")).decode()[:26].translate(_CROCKFORD)


@dataclass(slots=True)
class IdentitySpec:
    id: str
    kind: IdentityKind
    namespace: str
    value: str  # normalized
    verified: bool
    created_at: datetime


@dataclass(slots=True)
class CustomerProfile:
    id: str
    created_at: datetime
    updated_at: datetime
    name: str
    name_pinyin: str
    name_initials: str
    gender: str
    birthday: date | None
    province: str
    city: str
    region: str
    occupation: str | None
    income_band: str | None
    preferred_channel: str | None
    preferred_language: str
    source_channel: str
    address: str | None
    owned: bool  # by the demo sales user
    identities: list[IdentitySpec] = field(default_factory=list)
    tags: list[tuple[str, str, datetime]] = field(default_factory=list)  # tag, applied by role, when
    notes: list[tuple[str, str, str, datetime]] = field(default_factory=list)  # id, author role, body, when


@dataclass(slots=True)
class ContactSpec:
    id: str
    customer_id: str
    title: str
    is_primary: bool
    created_at: datetime


@dataclass(slots=True)
class AccountProfile:
    id: str
    name: str
    uscc: str
    industry: str
    province: str
    city: str
    region: str
    owned: bool
    created_at: datetime
    contacts: list[ContactSpec] = field(default_factory=list)


# Administrative division codes (from python-stdnum's table) with the years each was in use,
# so a resident ID's birthplace existed in its birth year, as the ID validator requires.
_SKIP_COUNTY_NAMES = frozenset({"市辖区", "市区", "郊区", "矿区"})


@dataclass(frozen=True, slots=True)
class _County:
    code: str
    name: str
    start: int
    end: int


@lru_cache(maxsize=1)
def _counties() -> dict[str, list[_County]]:
    """Four-digit city prefix -> county-level divisions with their validity years."""
    by_prefix: dict[str, list[_County]] = {}
    for _length, low, high, _props, children in numdb.get("cn/loc").prefixes:
        if low != high:
            continue
        for child_length, child_low, child_high, child_props, _ in children:
            if child_length != 4:
                continue
            for number in range(int(child_low), int(child_high) + 1):
                code = f"{low}{number:04d}"
                for variant in child_props.get("county", "").split(","):
                    start, end, name = 0, 9999, variant
                    if variant.startswith("["):
                        span, name = variant[1:].split("]", 1)
                        first, last = span.split("-")
                        start, end = int(first or 0), int(last or 9999)
                    if not name or name in _SKIP_COUNTY_NAMES or name.endswith("办事处"):
                        continue
                    by_prefix.setdefault(code[:4], []).append(_County(code, name, start, end))
    return by_prefix


def _valid_counties(prefix: str, year: int) -> list[_County]:
    counties = [c for c in _counties().get(prefix, []) if c.start <= year <= c.end]
    districts = [c for c in counties if not c.code.endswith("00")]
    return districts or counties


class DemoGenerator:
    def __init__(self, seed: int, now: datetime, timezone: str = "Asia/Shanghai") -> None:
        self.rng = random.Random(seed)
        self.now = now.astimezone(UTC)
        self.zone = ZoneInfo(timezone)
        self.today = self.now.astimezone(self.zone).date()
        self._surnames = Weighted(data.SURNAMES)
        self._cities = Weighted([(city, city.weight) for city in data.CITIES])
        self._occupations = Weighted(data.OCCUPATIONS)
        self._sources = Weighted(data.SOURCE_CHANNELS)
        self._preferred = Weighted(data.PREFERRED_CHANNELS)
        self._prefixes = Weighted(data.MOBILE_PREFIXES)
        self._domains = Weighted(data.EMAIL_DOMAINS)
        self._legal_forms = Weighted(data.LEGAL_FORMS)
        self._genders = Weighted([("female", 56), ("male", 42), ("unknown", 2)])
        self._contact_counts = Weighted([(1, 45), (2, 35), (3, 20)])
        self._ages = Weighted(
            [((18, 24), 14), ((25, 34), 32), ((35, 44), 26), ((45, 54), 15), ((55, 64), 9), ((65, 75), 4)]
        )
        self._hours = Weighted([(h, w) for h, w in zip(range(24), _HOUR_WEIGHTS, strict=True)])
        self._region_cities: dict[str, list[data.City]] = {}
        for city in data.CITIES:
            self._region_cities.setdefault(city.region, []).append(city)
        self._keys: dict[str, tuple[str, str]] = {}
        self._county_cache: dict[tuple[str, int], list[_County]] = {}
        self._used: set[str] = set()  # phones, emails, ID numbers, channel ids, company names, codes
        # Working-age customers who can be B2B contacts, by region.
        self._contact_pool: dict[str, list[tuple[str, datetime]]] = {}
        self._contacts_taken: set[str] = set()

    # ---- time ------------------------------------------------------------------------------

    def join_times(self, count: int) -> list[datetime]:
        """When each customer joined, oldest first: growing over three years, a few this week."""
        recent = min(count, max(1, count // 50)) if count else 0
        times = [self._recent_time() for _ in range(recent)]
        for _ in range(count - recent):
            # Density grows linearly towards today (a brand gaining members).
            days_ago = HISTORY_DAYS * (1 - math.sqrt(self.rng.random()))
            times.append(self._at_local_hour(self.now - timedelta(days=days_ago)))
        times.sort()
        return times

    def _recent_time(self) -> datetime:
        return self.now - timedelta(seconds=self.rng.uniform(60, RECENT_DAYS * 86400 - 60))

    def _at_local_hour(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.zone)
        hour = self._hours.pick(self.rng)
        at = datetime.combine(local.date(), time(hour, self.rng.randrange(60), self.rng.randrange(60)), self.zone)
        result = at.astimezone(UTC)
        return result if result < self.now else result - timedelta(days=1)

    def _later(self, start: datetime, fraction: float) -> datetime:
        """A moment between `start` and now, `fraction` of the way at most."""
        span = max((self.now - start).total_seconds(), 0.0)
        return start + timedelta(seconds=self.rng.uniform(0, span * fraction))

    # ---- people ----------------------------------------------------------------------------

    def customer(self, index: int, joined: datetime) -> CustomerProfile:
        rng = self.rng
        gender = self._genders.pick(rng)
        low, high = self._ages.pick(rng)
        age = rng.randint(low, high)
        birthday = self._birthday(age, joined)
        surname = data.SHOWCASE_SURNAMES[index] if index < len(data.SHOWCASE_SURNAMES) else self._surnames.pick(rng)
        name = surname + self._given_name(gender, age)
        pinyin, initials = self._search_keys(name)
        city = self._cities.pick(rng)
        occupation = self._occupation(gender, age)
        income = None
        if occupation is not None and rng.random() < 0.85:
            income = rng.choice(data.INCOME_BY_OCCUPATION[occupation])
        source = self._sources.pick(rng)
        profile = CustomerProfile(
            id=ulid_at(joined, rng),
            created_at=joined,
            updated_at=self._later(joined, 0.5) if rng.random() < 0.3 else joined,
            name=name,
            name_pinyin=pinyin,
            name_initials=initials,
            gender=gender,
            birthday=birthday if rng.random() < 0.88 else None,
            province=city.province,
            city=city.city,
            region=city.region,
            occupation=occupation,
            income_band=income,
            preferred_channel=None,
            preferred_language="en" if rng.random() < 0.01 else "zh-CN",
            source_channel=source,
            address=self._address(city) if rng.random() < 0.4 else None,
            owned=city.region == "华东" and rng.random() < 0.2,
        )
        self._identities(profile, birthday, city)
        profile.preferred_channel = self._preferred_channel(profile)
        self._tags_and_notes(profile, age)
        if 25 <= age <= 58 and occupation not in (data.STUDENT, data.RETIRED, "全职妈妈"):
            pool = self._contact_pool.setdefault(city.region, [])
            if len(pool) < 2000:
                pool.append((profile.id, joined))
        return profile

    def _search_keys(self, name: str) -> tuple[str, str]:
        keys = self._keys.get(name)
        if keys is None:
            keys = self._keys[name] = name_search_keys(name)
        return keys

    def _birthday(self, age: int, joined: datetime) -> date:
        born = _add_years(self.today, -age) - timedelta(days=self.rng.randrange(365))
        adult_on_joining = _add_years(joined.astimezone(self.zone).date(), -18)
        return min(born, adult_on_joining - timedelta(days=self.rng.randrange(365)))

    def _given_name(self, gender: str, age: int) -> str:
        rng = self.rng
        female = gender == "female" or (gender == "unknown" and rng.random() < 0.5)
        if age >= 50 and rng.random() < 0.15:
            return rng.choice(data.GIVEN_OLDER_FEMALE if female else data.GIVEN_OLDER_MALE)
        if age <= 28 and rng.random() < 0.15:
            return rng.choice(data.GIVEN_YOUNG_FEMALE if female else data.GIVEN_YOUNG_MALE)
        chars = data.GIVEN_FEMALE if female else data.GIVEN_MALE
        if rng.random() < 0.25:
            return rng.choice(chars)
        first = rng.choice(chars + data.GIVEN_NEUTRAL)
        second = rng.choice(chars)
        return first + second if second != first else first

    def _occupation(self, gender: str, age: int) -> str | None:
        rng = self.rng
        if rng.random() < 0.1:
            return None
        student_share = 0.7 if age <= 22 else 0.2 if age <= 24 else 0.0
        if rng.random() < student_share:
            return data.STUDENT
        if age >= (55 if gender == "female" else 60) and rng.random() < 0.75:
            return data.RETIRED
        while True:
            occupation = self._occupations.pick(rng)
            if occupation != "全职妈妈" or gender == "female":
                return occupation

    def _address(self, city: data.City) -> str:
        rng = self.rng
        counties = self._counties_for(city.code, self.today.year)
        district = rng.choice(counties).name if counties else ""
        if district == city.city:
            district = ""
        head = city.city if city.province == city.city else city.province + city.city
        building = f"{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元{rng.randint(1, 32)}{rng.randint(1, 4):02d}室"
        return f"{head}{district}{rng.choice(data.ROADS)}{rng.randint(1, 999)}号{rng.choice(data.ESTATES)}{building}"

    def _counties_for(self, prefix: str, year: int) -> list[_County]:
        key = (prefix, year)
        found = self._county_cache.get(key)
        if found is None:
            found = self._county_cache[key] = _valid_counties(prefix, year)
        return found

    # ---- identities ------------------------------------------------------------------------

    def _add(
        self,
        profile: CustomerProfile,
        kind: IdentityKind,
        value: str,
        *,
        namespace: str = "",
        verified: bool = False,
        at: datetime | None = None,
    ) -> None:
        moment = at or profile.created_at
        profile.identities.append(IdentitySpec(ulid_at(moment, self.rng), kind, namespace, value, verified, moment))

    def _identities(self, profile: CustomerProfile, birthday: date, city: data.City) -> None:
        rng = self.rng
        source = profile.source_channel
        if rng.random() < 0.97:
            trusted = 0.85 if source in ("app", "mini_program", "wechat") else 0.6 if source == "store" else 0.4
            self._add(profile, IdentityKind.PHONE, self._phone(), verified=rng.random() < trusted)
        if rng.random() < (0.5 if source in ("web", "tmall", "jd") else 0.28):
            self._add(profile, IdentityKind.EMAIL, self._email(profile, birthday), verified=rng.random() < 0.5)
        if profile.gender != "unknown" and rng.random() < 0.18:
            profile.birthday = birthday
            value = self._resident_id(birthday, profile.gender, city)
            self._add(profile, IdentityKind.RESIDENT_ID, value, verified=rng.random() < 0.3)
        on_wechat = source in ("wechat", "mini_program")
        if rng.random() < (0.9 if on_wechat else 0.15):
            self._add(profile, IdentityKind.WECHAT_UNIONID, self._token("o", 27), verified=True)
        for namespace in data.WECHAT_NAMESPACES:
            home = (namespace == "wx-app-miniprogram") == (source != "wechat")
            chance = (0.95 if home else 0.3) if on_wechat else 0.12
            if rng.random() < chance:
                when = profile.created_at if home else self._later(profile.created_at, 0.5)
                self._add(
                    profile,
                    IdentityKind.WECHAT_OPENID,
                    self._token("o", 27),
                    namespace=namespace,
                    verified=True,
                    at=when,
                )
        if rng.random() < (0.95 if source == "app" else 0.08):
            self._add(profile, IdentityKind.APP_USER_ID, self._digits("u", 9), verified=True)
        if source in ("tmall", "jd", "douyin") and rng.random() < 0.9:
            prefix = {"tmall": "tb", "jd": "jd_", "douyin": "dy"}[source]
            self._add(profile, IdentityKind.EXTERNAL_ID, self._digits(prefix, 11), namespace=source, verified=True)
        if rng.random() < (0.7 if source == "store" else 0.2):
            card = normalize_token(self._digits("8860", 12)).upper()
            self._add(profile, IdentityKind.MEMBER_CARD, card, verified=True)

    def _unique(self, value: str) -> bool:
        if value in self._used:
            return False
        self._used.add(value)
        return True

    def _phone(self) -> str:
        while True:
            raw = f"{self._prefixes.pick(self.rng)}{self.rng.randrange(10**8):08d}"
            try:
                phone = normalize_phone(raw, "CN")
            except InvalidValue:
                continue
            if self._unique(phone):
                return phone

    def _email(self, profile: CustomerProfile, birthday: date) -> str:
        rng = self.rng
        domain = self._domains.pick(rng)
        while True:
            style = rng.random()
            if domain == "qq.com" and style < 0.6:
                local = str(rng.randint(10**7, 3 * 10**9))
            elif style < 0.45:
                local = f"{profile.name_pinyin}{birthday.year if rng.random() < 0.5 else rng.randint(1, 999)}"
            elif style < 0.7:
                local = f"{profile.name_initials}{rng.randint(100, 99999)}"
            else:
                syllables = profile.name_pinyin
                local = f"{syllables}.{rng.randint(10, 9999)}"
            try:
                email = normalize_email(f"{local}@{domain}")
            except InvalidValue:
                continue
            if self._unique(email):
                return email

    def _resident_id(self, birthday: date, gender: str, city: data.City) -> str:
        """18 digits: birthplace code, birth date, sequence (odd for men), check digit."""
        rng = self.rng
        home = city if rng.random() < 0.85 else self._cities.pick(rng)
        while True:
            counties = (
                self._counties_for(home.code, birthday.year)
                or self._counties_for(home.code[:2] + "01", birthday.year)
                or [
                    c
                    for other in self._region_cities[home.region]
                    for c in self._counties_for(other.code, birthday.year)
                ]
            )
            if not counties:  # no division of this region existed that year: someone born elsewhere
                home = self._cities.pick(rng)
                continue
            area = rng.choice(counties).code
            sequence = rng.randrange(500) * 2 + (1 if gender == "male" else 0)
            body = f"{area}{birthday:%Y%m%d}{sequence:03d}"
            number = body + ric.calc_check_digit(body + "0")
            try:
                value = normalize_resident_id(number)
            except InvalidValue:
                continue
            if self._unique(value):
                return value

    def _token(self, prefix: str, length: int) -> str:
        """WeChat-style ids: a prefix and base64url characters."""
        while True:
            tail = "".join(_BASE64URL[b & 63] for b in self.rng.randbytes(length))
            value = normalize_token(prefix + tail)
            if self._unique(value):
                return value

    def _digits(self, prefix: str, length: int) -> str:
        while True:
            value = f"{prefix}{self.rng.randrange(1, 10)}{self.rng.randrange(10 ** (length - 1)):0{length - 1}d}"
            if self._unique(value):
                return normalize_token(value)

    # ---- preferences, tags, notes ----------------------------------------------------------

    def _preferred_channel(self, profile: CustomerProfile) -> str:
        kinds = {i.kind for i in profile.identities}
        channel = self._preferred.pick(self.rng)
        if channel == "email" and IdentityKind.EMAIL not in kinds:
            channel = "sms"
        if channel == "app" and IdentityKind.APP_USER_ID not in kinds:
            channel = "wechat"
        if channel == "wechat" and not kinds & {IdentityKind.WECHAT_UNIONID, IdentityKind.WECHAT_OPENID}:
            channel = "sms"
        if channel in ("sms", "phone") and IdentityKind.PHONE not in kinds:
            channel = "none"
        return channel

    def _tags_and_notes(self, profile: CustomerProfile, age: int) -> None:
        rng = self.rng
        female = profile.gender == "female"
        for tag, per_thousand in data.TAGS:
            chance = per_thousand / 1000
            if tag == "母婴":
                chance *= 3.0 if female and 25 <= age <= 40 else 0.3
            elif tag == "美妆":
                chance *= 1.6 if female else 0.2
            elif tag == "运动":
                chance *= 1.4 if profile.gender == "male" else 0.8
            elif tag == "VIP":
                chance *= 3.0 if profile.income_band in ("20k_50k", "gt50k") else 0.7
            if rng.random() >= chance:
                continue
            when = self._later(profile.created_at, 0.6)
            by = "service" if tag == "投诉过" else "sales" if profile.owned else "marketing"
            profile.tags.append((tag, by, when))
            if tag == "投诉过":
                profile.notes.append((ulid_at(when, rng), "service", data.COMPLAINT_NOTE, when))
        if rng.random() < 0.04:
            for _ in range(rng.randint(1, 2)):
                when = self._later(profile.created_at, 1.0)
                author = "sales" if profile.owned and rng.random() < 0.6 else "service"
                profile.notes.append((ulid_at(when, rng), author, rng.choice(data.NOTES), when))

    # ---- B2B accounts ----------------------------------------------------------------------

    def accounts(self, count: int) -> list[AccountProfile]:
        rng = self.rng
        moments = sorted(self.now - timedelta(days=HISTORY_DAYS * rng.random()) for _ in range(count))
        result = []
        for moment in moments:
            city = self._cities.pick(rng)
            business, industry = rng.choice(data.BUSINESSES)
            while True:
                short = city.city.removesuffix("市")
                name = f"{short}{rng.choice(data.TRADE_NAMES)}{business}{self._legal_forms.pick(rng)}"
                if self._unique(name):
                    break
            account = AccountProfile(
                id=ulid_at(moment, rng),
                name=name,
                uscc=self._uscc(city, moment.year),
                industry=industry,
                province=city.province,
                city=city.city,
                region=city.region,
                owned=city.region == "华东" and rng.random() < 0.35,
                created_at=moment,
            )
            wanted = self._contact_counts.pick(rng)
            for position, (customer_id, joined) in enumerate(self._take_contacts(city.region, wanted)):
                when = self._later(max(joined, moment), 0.3)
                account.contacts.append(
                    ContactSpec(ulid_at(when, rng), customer_id, rng.choice(data.CONTACT_TITLES), position == 0, when)
                )
            result.append(account)
        return result

    def _take_contacts(self, region: str, wanted: int) -> list[tuple[str, datetime]]:
        chosen: list[tuple[str, datetime]] = []
        regions = [region] + [r for r in data.REGIONS if r != region]
        for candidate_region in regions:
            pool = self._contact_pool.get(candidate_region, [])
            while pool and len(chosen) < wanted:
                candidate = pool.pop(self.rng.randrange(len(pool)))
                if candidate[0] not in self._contacts_taken:
                    self._contacts_taken.add(candidate[0])
                    chosen.append(candidate)
            if len(chosen) == wanted:
                break
        return chosen

    def _uscc(self, city: data.City, year: int) -> str:
        """91 (enterprise registered with market regulation) + area + organization code + check."""
        rng = self.rng
        counties = self._counties_for(city.code, year) or self._counties_for(city.code, self.today.year)
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        while True:
            area = rng.choice(counties).code if counties else city.code + "00"
            if rng.random() < 0.6:
                org = "MA" + "".join(rng.choice(alphabet) for _ in range(6))
            else:
                org = "".join(rng.choice("0123456789") for _ in range(8))
            org += _organization_check(org)
            body = f"91{area}{org}"
            code = body + uscc.calc_check_digit(body)
            try:
                value = normalize_uscc(code)
            except InvalidValue:
                continue
            if self._unique(value):
                return value


def _organization_check(code: str) -> str:
    """Check character of an eight-character organization code (GB 11714)."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(ch) if ch.isdigit() else ord(ch) - 55) * w for ch, w in zip(code, weights, strict=True))
    digit = 11 - total % 11
    return "X" if digit == 10 else "0" if digit == 11 else str(digit)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


# Share of sign-ups by local hour (shops and phones are busiest in the evening).
_HOUR_WEIGHTS = (2, 1, 1, 1, 1, 1, 2, 4, 6, 8, 10, 11, 12, 11, 11, 11, 11, 12, 13, 15, 16, 14, 9, 5)
