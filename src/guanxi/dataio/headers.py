"""Column headers of import files: recognition of common Chinese and English headers, and mapping
files (column -> field, constants, date formats). Pure: no database, no web.

A mapping file is JSON::

    {"kind": "customers",
     "columns": {"客户名": "name", "联系电话": "phone", "备注": null},
     "constants": {"source_channel": "store"},
     "date_formats": {"birthday": "%d/%m/%Y"},
     "values": {"Gender": {"M": "male", "F": "female", "#N/A": null}},
     "on_invalid": {"birthday": "drop"},
     "conflicts": {"*": "keep", "city": "file"},
     "derive": {"external_id": ["Customer ID", "Date"]}}

`columns` wins over recognition; a column mapped to null (or "") is ignored; columns the mapping
does not name are still recognised by their header unless `"recognise": false`. `constants` give a
field the same value on every row (a column value, when present, wins). `values` rewrites cells
before they are read (keyed by column or by field; null empties the cell). `on_invalid` says per
field whether a bad value refuses the row ("reject") or is dropped with a warning ("drop");
`conflicts` (customers) which side wins when a row differs from a known customer's non-empty
value; `derive` builds a field (an order's id) from other columns, `{line}` being the file's line.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

KINDS: tuple[str, ...] = ("customers", "orders", "events")

IDENTITY_FIELDS = ("phone", "email", "member_card", "wechat_unionid", "external_id", "resident_id")

FIELDS: dict[str, tuple[str, ...]] = {
    "customers": (
        "name",
        "phone",
        "email",
        "resident_id",
        "member_card",
        "wechat_unionid",
        "external_id",
        "external_source",
        "gender",
        "birthday",
        "province",
        "city",
        "district",
        "region",
        "occupation",
        "source_channel",
        "address",
    ),
    "orders": (
        "external_id",
        "source",
        "customer_id",
        "phone",
        "email",
        "member_card",
        "wechat_unionid",
        "paid_amount",
        "currency",
        "occurred_at",
        "store",
        "channel",
        "sku",
        "category",
        "quantity",
        "unit_price",
        "customer_external_id",
        "customer_source",
        "status",
        "refunded_amount",
    ),
    "events": (
        "event_id",
        "type",
        "occurred_at",
        "customer_id",
        "phone",
        "email",
        "member_card",
        "wechat_unionid",
        "app_user_id",
        "anonymous_id",
        "channel",
        "properties",
        "customer_external_id",
        "customer_source",
    ),
}

# Fields every row needs (as a column or a constant) and, per kind, the groups of which at least one
# must be present (the customer must be identifiable, or a re-run could not find the same row).
REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": (),  # a customer without a name is shown by member number; an identity is a must
    "orders": ("external_id", "paid_amount", "occurred_at"),
    "events": ("event_id", "type", "occurred_at"),
}
ONE_OF: dict[str, tuple[str, ...]] = {
    "customers": IDENTITY_FIELDS,
    "orders": ("customer_id", "customer_external_id", "phone", "email", "member_card", "wechat_unionid"),
    "events": (
        "customer_id",
        "customer_external_id",
        "phone",
        "email",
        "member_card",
        "wechat_unionid",
        "app_user_id",
        "anonymous_id",
    ),
}

# Event properties may come as columns named "properties.<name>" (or 属性.<name>).
PROPERTY_PREFIXES = ("properties.", "property.", "props.", "属性.")

_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名字", "客户姓名", "客户名称", "会员姓名", "顾客姓名", "name", "fullname", "customername"),
    "phone": (
        "手机",
        "手机号",
        "手机号码",
        "电话",
        "电话号码",
        "联系电话",
        "联系方式",
        "会员手机",
        "会员手机号",
        "phone",
        "mobile",
        "mobilephone",
        "cellphone",
        "tel",
        "telephone",
        "phonenumber",
    ),
    "email": ("邮箱", "电子邮件", "电子邮箱", "邮件", "email", "e-mail", "mail", "emailaddress"),
    "resident_id": ("身份证", "身份证号", "身份证号码", "idcard", "residentid", "idnumber"),
    "member_card": ("会员卡号", "会员卡", "卡号", "会员号", "membercard", "cardno", "cardnumber", "membercardno"),
    "wechat_unionid": ("微信unionid", "unionid", "wechatunionid", "微信union"),
    "external_id": (
        "外部编号",
        "外部id",
        "客户编号",
        "客户id",
        "externalid",
        "customerid",
        "customerno",
        "customercode",
    ),
    "external_source": ("来源系统", "externalsource", "sourcesystem"),
    "gender": ("性别", "gender", "sex"),
    "birthday": ("生日", "出生日期", "出生年月日", "birthday", "birthdate", "dateofbirth", "dob"),
    "province": ("省份", "省", "所在省份", "province", "state"),
    "city": ("城市", "所在城市", "市", "city"),
    "district": ("区县", "所在区县", "县区", "区", "县", "district", "county"),
    "region": ("区域", "大区", "region"),
    "occupation": ("职业", "occupation", "job"),
    "source_channel": ("来源渠道", "注册渠道", "sourcechannel"),
    "address": ("地址", "联系地址", "详细地址", "收货地址", "address"),
    "source": ("订单来源", "来源", "source"),
    # Only headers that say it is guanxi's id: "Customer ID" in another system's export is that
    # system's id, and taking it for guanxi's made every row fail (`_CUSTOMER_EXTERNAL_ID`).
    "customer_id": ("客户系统id", "guanxi客户id", "guanxicustomerid", "guanxiid"),
    "paid_amount": (
        "金额",
        "实付金额",
        "实付",
        "支付金额",
        "订单金额",
        "消费金额",
        "amount",
        "paidamount",
        "paid",
        "total",
        "ordertotal",
    ),
    "currency": ("币种", "货币", "currency"),
    "occurred_at": (
        "下单时间",
        "订单时间",
        "支付时间",
        "消费时间",
        "交易时间",
        "发生时间",
        "时间",
        "occurredat",
        "orderdate",
        "ordertime",
        "orderedat",
        "date",
        "time",
        "timestamp",
    ),
    "store": ("门店", "门店名称", "店铺", "store", "shop", "storename"),
    "channel": ("渠道", "销售渠道", "channel"),
    "sku": ("商品编码", "商品编号", "sku", "productcode"),
    "category": ("品类", "类目", "商品类目", "商品品类", "category"),
    "quantity": ("数量", "件数", "quantity", "qty"),
    "unit_price": ("单价", "unitprice", "price"),
    "event_id": ("事件id", "事件编号", "eventid"),
    "type": ("事件类型", "类型", "type", "eventtype", "event"),
    "app_user_id": ("app用户id", "appuserid", "userid"),
    "anonymous_id": ("匿名id", "设备id", "anonymousid", "deviceid"),
    "properties": ("属性", "properties", "props"),
}
# Headers of another system's customer id, in files that name a customer (orders, events).
_CUSTOMER_EXTERNAL_ID = (
    "客户编号",
    "客户id",
    "客户号",
    "会员id",
    "会员编号",
    "customerid",
    "customerno",
    "customercode",
    "memberid",
    "外部客户id",
)
# Per kind, headers that mean something else there ("订单号" is the order's id, "客户编号" a customer's).
_KIND_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "orders": {
        "external_id": ("订单号", "订单编号", "订单id", "orderid", "orderno", "ordernumber", "externalid"),
        # In an order file a customer column names the customer by the shop's own id.
        "customer_external_id": _CUSTOMER_EXTERNAL_ID,
        "customer_source": ("客户来源系统", "customersource"),
        "status": ("订单状态", "状态", "交易状态", "status", "orderstatus"),
        "refunded_amount": ("退款金额", "已退金额", "refundedamount", "refundamount"),
    },
    "customers": {},
    "events": {"customer_external_id": _CUSTOMER_EXTERNAL_ID, "customer_source": ("客户来源系统", "customersource")},
}

# Opening balances: one row per member, named as an order row names its customer.
KINDS = (*KINDS, "balances")
FIELDS["balances"] = (
    "customer_id",
    "customer_external_id",
    "customer_source",
    "phone",
    "email",
    "member_card",
    "wechat_unionid",
    "points",
    "growth",
    "tier",
    "points_expire_on",
)
REQUIRED["balances"] = ("points", "growth", "tier")
ONE_OF["balances"] = ONE_OF["orders"]
_KIND_ALIASES["balances"] = {
    "customer_external_id": _KIND_ALIASES["orders"]["customer_external_id"],
    "customer_source": _KIND_ALIASES["orders"]["customer_source"],
    "points": ("积分", "积分余额", "可用积分", "points", "pointsbalance", "balance"),
    "growth": ("成长值", "growth", "growthvalue"),
    "tier": ("等级", "会员等级", "tier", "level", "tiercode"),
    "points_expire_on": ("积分到期日", "积分有效期", "pointsexpireon", "expireson", "expirydate"),
}


def header_key(header: str) -> str:
    """A header folded for comparison: full-width to half-width, lower case, no spaces, marks or
    parenthesised notes ("手机号码（必填）" -> "手机号码", "Mobile Phone" -> "mobilephone")."""
    text = unicodedata.normalize("NFKC", str(header)).strip().lower()
    text = re.sub(r"\(.*?\)|\[.*?\]", "", text)
    return re.sub(r"[\s_\-*:：#.]", "", text)


# Fields recognised only by their aliases, never by their own name (see `customer_id` above).
_NOT_BY_NAME = frozenset({"customer_id"})


def _lookup(kind: str) -> dict[str, str]:
    table: dict[str, str] = {}
    allowed = set(FIELDS[kind])
    own = _KIND_ALIASES[kind]
    for name, aliases in own.items():
        for alias in (name, *aliases):
            table.setdefault(header_key(alias), name)
    for name, aliases in _ALIASES.items():
        if name not in allowed or name in own:  # a kind's own meaning replaces the general one
            continue
        for alias in (name, *aliases) if name not in _NOT_BY_NAME else aliases:
            table.setdefault(header_key(alias), name)
    return table


_LOOKUPS = {kind: _lookup(kind) for kind in KINDS}


def property_column(header: str) -> str | None:
    """The property name of an event column "properties.sku" (None for other columns)."""
    text = str(header).strip()
    for prefix in PROPERTY_PREFIXES:
        if text.lower().startswith(prefix) and len(text) > len(prefix):
            return text[len(prefix) :]
    return None


def recognise(headers: list[str], kind: str) -> dict[str, str]:
    """column -> field for the headers this kind knows (the first column wins a field)."""
    lookup = _LOOKUPS[kind]
    found: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        name = lookup.get(header_key(header))
        if name is not None and name not in taken:
            found[header] = name
            taken.add(name)
    return found


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names what is wrong."""


BAD_VALUE_CHOICES = ("reject", "drop")
CONFLICT_CHOICES = ("keep", "file", "survivorship")
LINE_TOKEN = "{line}"
# What may be built from other columns, per kind (an order number where the file has none).
DERIVABLE: dict[str, tuple[str, ...]] = {
    "customers": (),
    "orders": ("external_id",),
    "events": ("event_id",),
    "balances": (),
}


@dataclass(frozen=True)
class Mapping:
    kind: str
    columns: dict[str, str | None] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)
    recognise: bool = True
    values: dict[str, dict[str, str | None]] = field(default_factory=dict)  # column or field -> cell -> value
    on_invalid: dict[str, str] = field(default_factory=dict)  # field or "*" -> reject | drop
    conflicts: dict[str, str] = field(default_factory=dict)  # field or "*" -> keep | file | survivorship
    derive: dict[str, list[str]] = field(default_factory=dict)  # field -> columns (or {line})

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "columns": dict(self.columns),
            "constants": dict(self.constants),
            "date_formats": dict(self.date_formats),
            "recognise": self.recognise,
        }
        for name in ("values", "on_invalid", "conflicts", "derive"):
            if getattr(self, name):
                out[name] = dict(getattr(self, name))
        return out

    def bad_value_policy(self, name: str, default: str) -> str:
        return self.on_invalid.get(name) or self.on_invalid.get("*") or default

    def conflict_policy(self, name: str) -> str:
        return self.conflicts.get(name) or self.conflicts.get("*") or "keep"

    def value_map(self, column: str, name: str) -> dict[str, str | None] | None:
        """The value map of a column: named by the column, else by the field it feeds."""
        return self.values.get(column) if column in self.values else self.values.get(name)


_MAPPING_KEYS = {
    "kind",
    "columns",
    "constants",
    "date_formats",
    "recognise",
    "name",
    "values",
    "on_invalid",
    "conflicts",
    "derive",
}


def parse_mapping(data: Any, kind: str | None = None) -> Mapping:
    """A mapping from its JSON form, checked against the fields of its kind."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise MappingError(f"the mapping is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MappingError("the mapping must be a JSON object")
    unknown = sorted(set(data) - _MAPPING_KEYS)
    if unknown:
        raise MappingError(
            f"unknown mapping key(s): {', '.join(unknown)}; valid keys: {', '.join(sorted(_MAPPING_KEYS))}"
        )
    mapped_kind = data.get("kind", kind)
    if mapped_kind not in KINDS:
        raise MappingError(f"kind must be one of {', '.join(KINDS)}")
    if kind is not None and mapped_kind != kind:
        raise MappingError(f"this mapping is for {mapped_kind}, not {kind}")
    fields = set(FIELDS[mapped_kind])
    columns = data.get("columns", {})
    if not isinstance(columns, dict):
        raise MappingError("columns must be an object of column -> field")
    clean_columns: dict[str, str | None] = {}
    for column, target in columns.items():
        if target in (None, ""):
            clean_columns[str(column)] = None
            continue
        if not isinstance(target, str) or (target not in fields and not _is_property(mapped_kind, target)):
            raise MappingError(f"columns.{column}: unknown field {target!r} for {mapped_kind}; {_valid(mapped_kind)}")
        clean_columns[str(column)] = target
    targets = [t for t in clean_columns.values() if t and not _is_property(mapped_kind, t)]
    doubled = sorted({t for t in targets if targets.count(t) > 1})
    if doubled:
        raise MappingError(f"several columns map to {', '.join(doubled)}")
    constants = data.get("constants", {})
    if not isinstance(constants, dict) or not all(isinstance(v, str | int | float) for v in constants.values()):
        raise MappingError("constants must be an object of field -> text")
    for name in constants:
        if name not in fields:
            raise MappingError(f"constants.{name}: unknown field for {mapped_kind}; {_valid(mapped_kind)}")
    formats = data.get("date_formats", {})
    if not isinstance(formats, dict) or not all(isinstance(v, str) and "%" in v for v in formats.values()):
        raise MappingError("date_formats must be an object of field -> strftime format, e.g. %d/%m/%Y")
    recognise_rest = data.get("recognise", True)
    if not isinstance(recognise_rest, bool):
        raise MappingError("recognise must be true or false")
    return Mapping(
        kind=mapped_kind,
        columns=clean_columns,
        constants={k: str(v) for k, v in constants.items()},
        date_formats=dict(formats),
        recognise=recognise_rest,
        values=_value_maps(data.get("values", {})),
        on_invalid=_choices(data.get("on_invalid", {}), "on_invalid", fields, BAD_VALUE_CHOICES, mapped_kind),
        conflicts=_conflicts(data.get("conflicts", {}), fields, mapped_kind),
        derive=_derive(data.get("derive", {}), mapped_kind),
    )


def _value_maps(raw: Any) -> dict[str, dict[str, str | None]]:
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise MappingError('values must be an object of column -> {"cell": "value"}, e.g. {"Gender": {"M": "male"}}')
    maps: dict[str, dict[str, str | None]] = {}
    for column, table in raw.items():
        clean: dict[str, str | None] = {}
        for cell, value in table.items():
            if value is not None and not isinstance(value, str | int | float):
                raise MappingError(f"values.{column}.{cell}: must map to text or null")
            clean[str(cell).strip()] = None if value in (None, "") else str(value)
        maps[str(column)] = clean
    return maps


def _choices(raw: Any, key: str, fields: set[str], allowed: tuple[str, ...], kind: str) -> dict[str, str]:
    if isinstance(raw, str):
        raw = {"*": raw}
    if not isinstance(raw, dict):
        raise MappingError(f"{key} must be an object of field -> {' | '.join(allowed)}")
    for name, choice in raw.items():
        if name != "*" and name not in fields:
            raise MappingError(f"{key}.{name}: unknown field for {kind}; {_valid(kind)}")
        if choice not in allowed:
            raise MappingError(f"{key}.{name}: must be one of {', '.join(allowed)} (got {choice!r})")
    return {str(k): str(v) for k, v in raw.items()}


def _conflicts(raw: Any, fields: set[str], kind: str) -> dict[str, str]:
    if raw and kind != "customers":
        raise MappingError("conflicts applies to customer imports only")
    return _choices(raw, "conflicts", fields, CONFLICT_CHOICES, kind)


def _derive(raw: Any, kind: str) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise MappingError(
            'derive must be an object of field -> list of columns, e.g. {"external_id": ["Customer ID", "Date"]}'
        )
    out: dict[str, list[str]] = {}
    for name, parts in raw.items():
        if name not in DERIVABLE[kind]:
            can = ", ".join(DERIVABLE[kind]) or "nothing"
            raise MappingError(f"derive.{name}: only {can} can be derived in a {kind} import")
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p for p in parts):
            raise MappingError(f"derive.{name}: must be a non-empty list of column names (or {LINE_TOKEN})")
        out[str(name)] = [str(p) for p in parts]
    return out


def _valid(kind: str) -> str:
    """The fields a mapping may name, for the message that refuses one it may not."""
    extra = " (and properties.<name> for event properties)" if kind == "events" else ""
    return f"valid fields: {', '.join(FIELDS[kind])}{extra}"


def _is_property(kind: str, target: str) -> bool:
    return kind == "events" and property_column(target) is not None


@dataclass(frozen=True)
class Resolved:
    """What each column of a file feeds: field per column, and the fields still missing."""

    fields: dict[str, str]  # column -> field (or "properties.<name>")
    ignored: list[str]  # columns that feed nothing
    missing: list[str]  # required fields with neither a column nor a constant
    missing_one_of: tuple[str, ...]  # a group none of whose fields is present (empty when satisfied)
    # what the mapping names that this file does not have (derive parts, value-map columns)
    absent: list[str] = field(default_factory=list)


def resolve(headers: list[str], kind: str, mapping: Mapping | None = None) -> Resolved:
    mapping = mapping or Mapping(kind=kind)
    chosen: dict[str, str] = {}
    explicit = mapping.columns
    for column in headers:
        if column in explicit:
            target = explicit[column]
            if target:
                chosen[column] = target
    if mapping.recognise:
        taken = set(chosen.values()) | set(mapping.derive)
        for column, name in recognise([h for h in headers if h not in explicit], kind).items():
            if name not in taken:
                chosen[column] = name
                taken.add(name)
        if kind == "events":
            for column in headers:
                if column not in explicit and column not in chosen and property_column(column):
                    chosen[column] = f"properties.{property_column(column)}"
    # a derived field is built from its columns, never read from one of its own
    chosen = {c: f for c, f in chosen.items() if f not in mapping.derive}
    present = set(chosen.values()) | set(mapping.constants) | set(mapping.derive)
    missing = [f for f in REQUIRED[kind] if f not in present]
    group = ONE_OF[kind]
    missing_group = () if present & set(group) else group
    ignored = [h for h in headers if h not in chosen]
    known = set(headers)
    absent = [
        f"derive.{name}: no column {part!r}"
        for name, parts in mapping.derive.items()
        for part in parts
        if part != LINE_TOKEN and part not in known
    ]
    fed = set(chosen.values())
    absent += [
        f"values.{key}: no column or field {key!r} in this file"
        for key in mapping.values
        if key not in known and key not in fed
    ]
    return Resolved(chosen, ignored, missing, missing_group, absent)


def fields_help(kind: str) -> str:
    """The fields of a kind as `guanxi import KIND --help` and docs/import.md list them."""
    required = REQUIRED.get(kind, ())
    group = ONE_OF.get(kind, ())
    optional = [f for f in FIELDS[kind] if f not in required and f not in group]
    parts = [f"Required: {', '.join(required) or 'none'}."]
    if group:
        parts.append(f"Naming the customer (at least one): {', '.join(group)}.")
    parts.append(f"Optional: {', '.join(optional)}.")
    if DERIVABLE.get(kind):
        parts.append(f"Derivable from other columns (mapping 'derive'): {', '.join(DERIVABLE[kind])}.")
    return " ".join(parts)
