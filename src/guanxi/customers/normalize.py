"""Pure normalization and validation of customer identifiers and names (no database).

Every identifier is reduced to one canonical form before it is indexed, so "138 0013 8000",
"+86 138-0013-8000" and "8613800138000" are the same phone.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pypinyin import Style, lazy_pinyin
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

from guanxi.kit.errors import CatalogValueError


class IdentityKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    RESIDENT_ID = "resident_id"
    WECHAT_OPENID = "wechat_openid"
    WECHAT_UNIONID = "wechat_unionid"
    APP_USER_ID = "app_user_id"
    MEMBER_CARD = "member_card"
    EXTERNAL_ID = "external_id"
    # A device or browser id seen before the person identified themselves (events are stitched
    # to the customer once it is linked).
    ANONYMOUS_ID = "anonymous_id"


# Contact details and the resident ID: an event may link them only when it marks them verified.
PII_KINDS = frozenset({IdentityKind.PHONE, IdentityKind.EMAIL, IdentityKind.RESIDENT_ID})
# Encrypted at rest (with a blind index for lookups), masked on output: every kind that names a
# person, channel ids included (a unionid or card number leads straight to the person in the
# brand's other systems). Anonymous ids stay in clear: random device tokens that name nobody until
# linked, and the events table needs them as they are to stitch a visitor's history (decisions.md).
ENCRYPTED_KINDS = frozenset(IdentityKind) - {IdentityKind.ANONYMOUS_ID}
# Kinds whose value is only unique inside a namespace (the WeChat app id, the external system).
NAMESPACED_KINDS = frozenset({IdentityKind.WECHAT_OPENID, IdentityKind.EXTERNAL_ID})


class InvalidValue(CatalogValueError):
    """A value that cannot be normalized; the message is safe to show to the user, the key names
    the catalog message that says it in the user's language."""


def normalize_phone(value: str, default_region: str = "CN") -> str:
    text = value.strip()
    if not text:
        raise InvalidValue("is empty", "error.required")
    if len(text) > 32:
        raise InvalidValue("is too long to be a phone number", "error.invalid_phone")
    if re.fullmatch(r"86\d{11}", text):  # a Chinese mobile with country code but no "+"
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidValue("is not a phone number", "error.invalid_phone") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidValue("is not a valid phone number", "error.invalid_phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(text: str) -> bool:
    return bool(re.fullmatch(r"\+?[\d\s\-()]{7,20}", text.strip()))


def normalize_email(value: str) -> str:
    text = value.strip()
    if len(text) > 254:
        raise InvalidValue("is too long to be an email address", "error.invalid_email")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue(f"is not a valid email address ({exc})", "error.invalid_email") from None
    return result.normalized.lower()


def normalize_resident_id(value: str) -> str:
    try:
        return str(ric.validate(value.strip().upper()))
    except StdnumError:
        raise InvalidValue(
            "is not a valid resident ID number (18 characters with a correct check digit)", "error.invalid_resident_id"
        ) from None


def normalize_uscc(value: str) -> str:
    try:
        return str(uscc.validate(value.strip().upper()))
    except StdnumError:
        raise InvalidValue(
            "is not a valid unified social credit code (18 characters with a correct check digit)", "error.invalid_uscc"
        ) from None


_TOKEN = re.compile(r"^[A-Za-z0-9_\-.:@|/]{1,128}$")


def normalize_token(value: str) -> str:
    """Channel ids (openid, unionid, app user id, card number, external id): trimmed, no spaces."""
    text = value.strip()
    if not _TOKEN.fullmatch(text):
        raise InvalidValue("must be 1-128 letters, digits or _-.:@|/", "error.invalid_token")
    return text


def normalize_identity(kind: IdentityKind, value: str, default_region: str = "CN") -> str:
    if kind is IdentityKind.PHONE:
        return normalize_phone(value, default_region)
    if kind is IdentityKind.EMAIL:
        return normalize_email(value)
    if kind is IdentityKind.RESIDENT_ID:
        return normalize_resident_id(value)
    if kind is IdentityKind.MEMBER_CARD:
        return normalize_token(value).upper()
    return normalize_token(value)


# Names are what people go by, WeChat nicknames included ("小明🌟", "Amy_2024", "A.J.", "王-小二"):
# letters, digits, emoji and punctuation of any script are kept as typed (every output escapes
# them). Refused: control characters; invisible format characters (a right-to-left override makes a
# name read backwards) other than the joiners and tags emoji sequences are built with; and a first
# character a spreadsheet takes for a formula, since names travel to Excel in exports.
FORMULA_PREFIXES = ("=", "+", "-", "@")
_SPACING_CONTROLS = frozenset("\t\n\r")
_EMOJI_FORMAT = frozenset({"\u200c", "\u200d"} | {chr(c) for c in range(0xE0020, 0xE0080)})
# Unicode general categories (first letter) of which a name needs one: a letter, a digit or a
# symbol such as an emoji; a name of punctuation alone ("'", "...") is not a name.
_NAME_CONTENT = ("L", "N", "So")


def validate_name(value: str) -> str:
    text = unicodedata.normalize("NFC", value)
    categories = [unicodedata.category(ch) for ch in text]
    if any(cat == "Cc" and ch not in _SPACING_CONTROLS for ch, cat in zip(text, categories, strict=True)):
        raise InvalidValue("may not contain control characters", "error.control_characters")
    if any(
        cat in ("Cs", "Co", "Cn") or (cat == "Cf" and ch not in _EMOJI_FORMAT)
        for ch, cat in zip(text, categories, strict=True)
    ):
        raise InvalidValue(
            "may not contain invisible, private-use or unassigned characters", "error.invisible_characters"
        )
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise InvalidValue("is required", "error.required")
    if len(text) > 100:
        raise InvalidValue("must be at most 100 characters", "error.name_too_long")
    if text.startswith(FORMULA_PREFIXES):
        raise InvalidValue(
            "may not begin with =, +, - or @ (a spreadsheet would read it as a formula)", "error.formula_prefix"
        )
    if not any(unicodedata.category(ch).startswith(_NAME_CONTENT) for ch in text):
        raise InvalidValue("must contain at least one letter, digit or emoji", "error.no_letters")
    return text


def display_name(name: str | None, member_no: str) -> str:
    """How a customer is named wherever one is shown (API, console lists and card, exports, merge
    pairs): the name as the viewer may see it, else the member number. An import may create a
    customer without a name (stored as ""); such a customer is never shown as a blank."""
    return name or member_no


# Surnames whose reading differs from the character's most common reading. Compound surnames
# first, so 尉迟 is not read as 尉 + 迟.
SURNAME_READINGS: dict[str, list[str]] = {
    "万俟": ["mo", "qi"],
    "尉迟": ["yu", "chi"],
    "长孙": ["zhang", "sun"],
    "澹台": ["tan", "tai"],
    "单于": ["chan", "yu"],
    "欧阳": ["ou", "yang"],
    "司马": ["si", "ma"],
    "诸葛": ["zhu", "ge"],
    "上官": ["shang", "guan"],
    "皇甫": ["huang", "fu"],
    "令狐": ["ling", "hu"],
    "东方": ["dong", "fang"],
    "慕容": ["mu", "rong"],
    "宇文": ["yu", "wen"],
    "夏侯": ["xia", "hou"],
    "公孙": ["gong", "sun"],
    "单": ["shan"],
    "曾": ["zeng"],
    "解": ["xie"],
    "仇": ["qiu"],
    "区": ["ou"],
    "朴": ["piao"],
    "查": ["zha"],
    "盖": ["ge"],
    "华": ["hua"],
    "乐": ["yue"],
    "覃": ["qin"],
    "缪": ["miao"],
    "翟": ["zhai"],
    "黑": ["he"],
    "任": ["ren"],
    "沈": ["shen"],
    "贾": ["jia"],
    "柏": ["bai"],
    "尉": ["yu"],
    "秘": ["bi"],
    "燕": ["yan"],
    "葛": ["ge"],
    "纪": ["ji"],
    "员": ["yun"],
    "种": ["chong"],
    "褚": ["chu"],
    "宿": ["su"],
    "折": ["she"],
    "召": ["shao"],
    "句": ["gou"],
    "阚": ["kan"],
    "繁": ["po"],
    "於": ["yu"],
    "重": ["chong"],
    "藏": ["zang"],
    "隗": ["wei"],
    "洗": ["xian"],
    "冼": ["xian"],
    "卜": ["bu"],
    "泌": ["bi"],
    "祭": ["zhai"],
    "都": ["du"],
    "薄": ["bo"],
    "过": ["guo"],
    "能": ["nai"],
    "蕃": ["pi"],
    "瞿": ["qu"],
    "朝": ["chao"],
}
_COMPOUND = sorted((s for s in SURNAME_READINGS if len(s) > 1), key=len, reverse=True)


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


_HAN = "\u3400-\u9fff\uf900-\ufaff"
# A run of Chinese characters (spaces and middle dots inside it do not break it: 欧阳 娜娜 is read
# with its compound surname), or a word of Latin letters and digits.
_WORDS = re.compile(f"([{_HAN}](?:[\\s\u00b7\u30fb]*[{_HAN}])*)|([A-Za-z0-9]+)")


def _latin(text: str) -> str:
    """Full-width letters to ASCII, accents dropped (Ｚｏë -> Zoe), so a Latin name is found by
    what a keyboard types."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_syllables(name: str) -> list[str]:
    """Pinyin syllables of a name, a leading Chinese surname read by the surname table, and its
    Latin words and digits as they are ("小明Leo" -> xiao ming leo, "Amy_2024" -> amy 2024);
    emoji and punctuation are left out."""
    syllables: list[str] = []
    for index, match in enumerate(_WORDS.finditer(_latin(name))):
        han, word = match.groups()
        if word:
            syllables.append(word.lower())
            continue
        rest = re.sub(r"[\s\u00b7\u30fb]", "", han)
        if index == 0:
            for surname in (*_COMPOUND, rest[0]):
                if rest.startswith(surname) and surname in SURNAME_READINGS:
                    syllables += SURNAME_READINGS[surname]
                    rest = rest[len(surname) :]
                    break
        tail = lazy_pinyin(rest, style=Style.NORMAL, errors="ignore", v_to_u=False)
        syllables += [s.lower() for s in tail if s]
    return syllables


def name_search_keys(name: str) -> tuple[str, str]:
    """(full pinyin, initials): 张伟 -> ("zhangwei", "zw"); 单雄信 -> ("shanxiongxin", "sxx")."""
    syllables = name_syllables(name)
    return "".join(syllables), "".join(s[0] for s in syllables if s)


def search_key(query: str) -> str:
    """A free-text query folded the way pinyin keys are stored."""
    return re.sub(r"[\s'\-·]", "", query).lower()


def has_han(text: str) -> bool:
    return any(_is_han(ch) for ch in text)
