"""What a console page shows, and which of it is not in the page's language.

`page_texts` walks the element tree of the simulated user's page and gathers every text a member
of staff can read there: element texts, the labels, placeholders, hints and tooltips in props, the
columns and cells of tables, the options of selects, toggles and radios, the values of inputs
(but for those marked "verbatim": identifiers and words in a set language), chart titles and
series names, the literal texts of table slot templates, the page title and the notifications
shown so far. Elements that exist but are hidden (a closed dialog, another tab's
panel) count: staff meet them one click later.

`findings` then removes what is data (values typed by staff or customers, given by the caller)
and the reviewed allowlist below, and sorts what is left into classes:
  raw-code  JSON, `key=value` pairs, dotted catalog keys and audit action codes, snake_case codes
  latin     Latin words on a zh-CN page
  cjk       Chinese characters or full-width punctuation on an en page
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from nicegui.element import Element
from nicegui.testing import User

from guanxi.kit.i18n import catalog, t

# Props that Quasar renders as text.
TEXT_PROPS = (
    "label",
    "placeholder",
    "hint",
    "title",
    "caption",
    "prefix",
    "suffix",
    "error-message",
    "no-data-label",
    "no-results-label",
    "loading-label",
    "rows-per-page-label",
    "header-label",
    "tooltip",
    "header",
    "text",
)
CHART_KEYS = ("text", "subtext", "name")
# The marker of an input whose value is an identifier or words in one given language (a tier's code,
# its English name on a Chinese page): its value is shown as typed, its label is still scanned.
VERBATIM = "verbatim"
_TEMPLATE_TEXT = re.compile(r">([^<>{}]+)<")
_TEMPLATE_ATTR = re.compile(r"""(?<![:\w@.-])(?:label|title|placeholder|hint|caption)\s*=\s*["']([^"'{}]+)["']""")

# ---- The reviewed allowlist: tokens that may stand on a page of the other script. -------------
# Each entry says why. Matching is case-sensitive and on whole words.
ALLOWED_LATIN_ON_ZH: dict[str, str] = {
    "guanxi": "the product's brand, written in Latin letters in both languages",
    "App": "Chinese products write 'App' for a mobile app (App 用户, 来自 App)",
    "ID": "Chinese products write 'ID' (客户 ID, 事件 ID)",
    "VIP": "a word Chinese retail uses as is (VIP 客户)",
    "SKU": "the retail term for a product code, used as is in Chinese",
    "CSV": "a file format's name",
    "Excel": "a product's name (Excel 文件)",
    "xlsx": "a file extension (.xlsx)",
    "XLSX": "the same extension in capitals (Excel (XLSX))",
    "JSONL": "a file format's name in the import hint",
    "UTF": "the text encoding UTF-8 named in the import hint",
    "GBK": "the Chinese text encoding named in the import hint",
    "UnionID": "WeChat's own name for the field (微信 UnionID)",
    "OpenID": "WeChat's own name for the field (微信 OpenID)",
    "English": "the language switch names each language in itself",
    "ISO": "the standard's name (ISO 4217 货币代码)",
    "YYYY": "date and time patterns as Chinese software writes them (YYYY-MM-DD HH:MM)",
    "MM": "see YYYY",
    "DD": "see YYYY",
    "HH": "see YYYY",
    "zw": "the search hint's example of pinyin initials (张伟 -> zw), which staff type in Latin letters",
    "RFM": "the model's name as Chinese CRM and analytics write it (RFM 模型, RFM 分群)",
    "CLV": "customer lifetime value's abbreviation, used as is next to 客户终身价值",
    "NPS": "the net promoter score's name as Chinese products write it",
    "KPI": "written as is in Chinese business software",
    "B2B": "written as is in Chinese (B2B 客户)",
    "PNG": "an image format's name (导出 PNG)",
}
# ISO 4217 codes are allowed where a locale writes them next to an amount (money() in zh-CN
# writes "US$" or "HK$", Babel's formats; an amount in an unusual currency shows its code).
CURRENCY_CODES = frozenset({"CNY", "USD", "HKD", "EUR", "JPY", "GBP", "TWD", "MOP", "SGD", "KRW", "AUD", "CAD"})
ALLOWED_CJK_ON_EN: dict[str, str] = {
    "中文": "the language switch names each language in itself",
}
# Whole messages that name words of the other language on purpose, by catalog key.
ALLOWED_MESSAGES: dict[str, str] = {
    "import.file_hint": "names the Chinese and English column headers a file may have (姓名 / name)",
    "import.map.dates_hint": "shows dates as files write them (2024年3月5日)",
    "currency.csv.unknown_column": "names the Chinese and English columns a rate table may have",
}
# Units written after figures (2 kg, 500 ml) are Latin in Chinese too.
UNITS = frozenset({"kg", "g", "ml", "L", "cm", "mm", "km", "GB", "MB", "KB", "s", "ms", "x"})

# ---- Detection. -------------------------------------------------------------------------------
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff5e]+")
LATIN_WORD = re.compile(r"[A-Za-z]+")
_EMAIL = re.compile(r"[\w.+*-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|/)[\w./?=&%#{}-]*")
# Record ids (ULIDs, whole or shortened), WeChat open ids, device ids: letters and digits mixed.
_ULID = re.compile(r"\b(?=\w*\d)(?=\w*[A-Za-z])[A-Za-z0-9]{6,}\b")
_FILE_NAME = re.compile(r"[\w.-]*\.(?:csv|xlsx|xls|jsonl|json|txt|zip|pem)\b", re.IGNORECASE)
# SKUs, store codes, member numbers, order references: upper-case letters and digits with dashes
# or digits (AP-TEE-01, SH-01, M000123, POS-2024-0001).
_CODE = re.compile(r"\b(?=[A-Z0-9-]*\d)[A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)*\b|\b[A-Z]+(?:-[A-Z0-9]+)+\b")
_JSON = re.compile(r"""[{\[]\s*["'][^"']*["']\s*:|^\s*[{\[].*[}\]]\s*$""")
_KEY_VALUE = re.compile(r"\b[a-z][a-z0-9_]*=[^\s,;]+")
_DOTTED = re.compile(r"\b[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+\b")
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_SPEC = re.compile(r"\b[a-z_]+:(?:string|number|integer|boolean|date|datetime|bool|int|float)\b\*?")

CLASSES = ("raw-code", "latin", "cjk")


@dataclass(frozen=True)
class Finding:
    kind: str  # one of CLASSES
    text: str  # the string as the page shows it
    what: str  # the part of it that offends

    def __str__(self) -> str:
        return f"[{self.kind}] {self.what!r} in {self.text!r}"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _chart_strings(value: Any) -> Iterator[str]:
    """Titles, names and axis categories of an echart's options (formatters are code, not text)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CHART_KEYS and isinstance(item, str):
                yield item
            elif key == "data" and isinstance(item, list):
                yield from (v for v in item if isinstance(v, str))
                yield from (s for v in item if isinstance(v, dict) for s in _chart_strings(v))
            elif isinstance(item, (dict, list)):
                yield from _chart_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _chart_strings(item)


def _options(element: Element) -> Iterator[str]:
    options = getattr(element, "options", None)
    if isinstance(options, dict):
        yield from (v for v in options.values() if isinstance(v, str))
    elif isinstance(options, list):
        for option in options:
            if isinstance(option, str):
                yield option
            elif isinstance(option, dict) and isinstance(option.get("label"), str):
                yield option["label"]


def element_texts(element: Element) -> Iterator[str]:
    """The readable texts of one element (not of its children)."""
    text = getattr(element, "text", None)
    if isinstance(text, str):
        yield text
    content = getattr(element, "content", None)
    if isinstance(content, str) and not isinstance(element, (ui.echart,)):
        yield re.sub(r"<[^>]+>", " ", content)
    for prop in TEXT_PROPS:
        value = element.props.get(prop)
        if isinstance(value, str):
            yield value
    if isinstance(element, ui.table):
        yield from (str(c.get("label", "")) for c in element.columns)
        for row in element.rows:
            yield from _strings({k: v for k, v in row.items() if k not in ("id", "key", "_id")})
    elif isinstance(element, ui.echart):
        yield from _chart_strings(element.options)
    elif isinstance(element, (ui.select, ui.toggle, ui.radio)):
        yield from _options(element)
    elif (
        isinstance(getattr(element, "value", None), str)
        and isinstance(element, (ui.input, ui.textarea))
        and VERBATIM not in element._markers
    ):
        yield element.value
    for slot in element.slots.values():
        template = getattr(slot, "template", None)
        if template:
            yield from _TEMPLATE_TEXT.findall(template)
            yield from _TEMPLATE_ATTR.findall(template)


def page_texts(user: User) -> list[str]:
    """Every distinct non-blank text of the page, notifications and the page title included."""
    client = user.client
    assert client is not None, "no page is open"
    seen: dict[str, None] = {}
    for element in client.layout.descendants(include_self=True):
        for text in element_texts(element):
            if text.strip():
                seen.setdefault(text.strip(), None)
    for message in user.notify.messages:
        seen.setdefault(str(message).strip(), None)
    title = client.resolve_title() if hasattr(client, "resolve_title") else None
    if title:
        seen.setdefault(title, None)
    return list(seen)


class DataErasure:
    """Values typed by staff or customers: removed from a text before it is judged. Longest
    first, so "华东区经理 周静" goes as a whole before "华东" could split it."""

    def __init__(self, values: Iterable[str]) -> None:
        kept = sorted({v.strip() for v in values if v and len(v.strip()) >= 2}, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(v) for v in kept)) if kept else None

    def __call__(self, text: str) -> str:
        return self.pattern.sub(" ", text) if self.pattern else text


def _catalog_keys() -> frozenset[str]:
    return frozenset(catalog("en"))


def _raw_codes(text: str, codes: frozenset[str]) -> Iterator[str]:
    if _JSON.search(text):
        yield text.strip()
        return
    yield from _KEY_VALUE.findall(text)
    yield from _SPEC.findall(text)
    for dotted in _DOTTED.findall(text):
        if dotted in codes or "_" in dotted or dotted.split(".")[0] in _CODE_AREAS:
            yield dotted
    yield from _SNAKE.findall(text)


# First parts of catalog keys and audit actions (customer.reveal, loyalty.x): a dotted word
# starting with one of them is a code, whatever follows.
_CODE_AREAS = frozenset(key.split(".")[0] for key in catalog("en"))


def _not_words(text: str) -> str:
    """The text without the parts that are no language: e-mail addresses, file names, paths and
    URLs (upper-case codes such as SKUs, store codes and member numbers go after the raw-code
    check, which looks for JSON in the same text)."""
    for pattern in (_EMAIL, _FILE_NAME, _URL, _ULID):
        text = pattern.sub(" ", text)
    return text


def findings(texts: Iterable[str], language: str, erase: DataErasure, extra_codes: frozenset[str]) -> list[Finding]:
    """What of `texts` is not in `language`, after data and the allowlist are taken out."""
    codes = _catalog_keys() | extra_codes
    messages = {t(key, language) for key in ALLOWED_MESSAGES}
    found: list[Finding] = []
    for text in texts:
        if text in messages:
            continue
        rest = erase(text)
        if rest.strip() in ALLOWED_CJK_ON_EN and language == "en":
            continue
        rest = _not_words(rest)
        raw = [code for code in _raw_codes(rest, codes) if code]
        for code in dict.fromkeys(raw):
            found.append(Finding("raw-code", text, code))
        if raw:
            continue
        rest = _CODE.sub(" ", rest)
        if language == "en":
            found.extend(Finding("cjk", text, run) for run in CJK.findall(rest) if run not in ALLOWED_CJK_ON_EN)
        else:
            for word in LATIN_WORD.findall(rest):
                if word in ALLOWED_LATIN_ON_ZH or word in CURRENCY_CODES or word in UNITS or len(word) == 1:
                    continue
                found.append(Finding("latin", text, word))
    return list(dict.fromkeys(found))
