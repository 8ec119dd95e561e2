"""Column headers of import files: the fields of each kind, and recognition of common Chinese and
English headers (`recognise`). Pure: no database, no web. Mappings (what a user says about a file:
columns, constants, value maps, …) are in `mappings`.
"""

from __future__ import annotations

import re
import unicodedata

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


# What may be built from other columns, per kind (an order number where the file has none).
DERIVABLE: dict[str, tuple[str, ...]] = {
    "customers": (),
    "orders": ("external_id",),
    "events": ("event_id",),
    "balances": (),
}


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
