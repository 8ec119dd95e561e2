"""Places as an English reader writes them: 广东省 "Guangdong", 深圳市 "Shenzhen", 徐汇区 "Xuhui".

The stored names stay the official Chinese ones (`customers.places`); this is only how a page in
English shows them. A division's name loses its kind (省, 市, 区, 自治区 with its people's name) and
is written in pinyin, but for the provinces whose English names are not their pinyin (陕西 is
"Shaanxi", beside 山西 "Shanxi"; 内蒙古 "Inner Mongolia"; 西藏 "Tibet"; 香港 "Hong Kong"; 澳门 "Macao").
A name that is no division (a foreign city, a typo) is shown as typed.
"""

from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from guanxi.customers import places

# Official English names that are not the pinyin of the short name, by division code.
_ENGLISH_BY_CODE = {
    "610000": "Shaanxi",
    "150000": "Inner Mongolia",
    "540000": "Tibet",
    "810000": "Hong Kong",
    "820000": "Macao",
}

# Short names the reading of a whole name still gets wrong.
_READINGS = {"长宁": "Changning"}


@lru_cache(maxsize=8192)
def english(name: str) -> str:
    """The English name of a province, city or district given by its official or short name."""
    text = name.strip()
    if not text or text.isascii():
        return name
    division = _division(text)
    if division is None:
        return name
    fixed = _ENGLISH_BY_CODE.get(division.code)
    if fixed:
        return fixed
    short = places.short_names(division.name, division.level)
    head = short[0] if short else division.name
    if head in _READINGS:
        return _READINGS[head]
    # Read in the whole name, where the phrase decides a character's reading (朝阳区 "chao", not
    # the "zhao" of 朝阳 alone), then keep the syllables of the short name.
    syllables = lazy_pinyin(division.name, style=Style.NORMAL)[: len(head)]
    # Pinyin marks a syllable that begins with a, o or e inside a word: 西安 "Xi'an", 宝安 "Bao'an".
    word = syllables[0] + "".join(f"'{s}" if s[:1] in "aoe" else s for s in syllables[1:])
    return word.capitalize()


def _division(text: str) -> places.Division | None:
    for level in places.LEVELS:
        found = places.divisions_named(level, text)
        if len(found) >= 1 and all(d.name == found[0].name for d in found):
            return found[0]
    return None


def label(name: str | None, language: str) -> str | None:
    """A place in the reader's language (None stays None)."""
    if name is None or language != "en":
        return name
    return english(name)
