"""Header recognition, mapping files and cell values (pure, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from guanxi.dataio import headers, values
from guanxi.dataio.headers import FIELDS, recognise
from guanxi.dataio.mappings import MappingError, parse_mapping, resolve
from guanxi.dataio.runner import missing_message

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_common_chinese_customer_headers_are_recognised() -> None:
    found = recognise(
        ["客户姓名", "手机号码", "出生日期", "所在城市", "省份", "性别", "电子邮件", "会员卡号", "微信UnionID", "备注"],
        "customers",
    )
    assert found == {
        "客户姓名": "name",
        "手机号码": "phone",
        "出生日期": "birthday",
        "所在城市": "city",
        "省份": "province",
        "性别": "gender",
        "电子邮件": "email",
        "会员卡号": "member_card",
        "微信UnionID": "wechat_unionid",
    }


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("姓名", "name"),
        ("名字", "name"),
        ("手机", "phone"),
        ("手机号", "phone"),
        ("电话", "phone"),
        ("生日", "birthday"),
        ("城市", "city"),
        ("邮箱", "email"),
        ("Name", "name"),
        ("Phone", "phone"),
        ("Mobile", "phone"),
        ("mobile_phone", "phone"),
        ("Birthday", "birthday"),
        ("City", "city"),
        ("E-mail", "email"),
        ("手机号码（必填）", "phone"),
        (" 姓名* ", "name"),
    ],
)
def test_one_header(header: str, field: str) -> None:
    assert recognise([header], "customers") == {header: field}


def test_order_headers_and_kind_specific_meaning() -> None:
    found = recognise(["订单号", "手机号", "实付金额", "下单时间", "门店", "品类"], "orders")
    assert found == {
        "订单号": "external_id",
        "手机号": "phone",
        "实付金额": "paid_amount",
        "下单时间": "occurred_at",
        "门店": "store",
        "品类": "category",
    }
    # an order number means nothing for customers
    assert recognise(["订单号"], "customers") == {}


def test_the_first_column_wins_a_field() -> None:
    assert recognise(["手机", "电话"], "customers") == {"手机": "phone"}


def test_resolve_reports_missing_required_and_identity_columns() -> None:
    resolved = resolve(["城市", "生日"], "customers")
    assert resolved.missing == []  # a customer may come without a name, never without an identity
    assert resolved.missing_one_of == headers.IDENTITY_FIELDS
    assert resolved.ignored == []
    ok = resolve(["姓名", "手机号", "备注"], "customers")
    assert ok.missing == [] and ok.missing_one_of == ()
    assert ok.ignored == ["备注"]


def test_mapping_overrides_recognition_ignores_and_fills_constants() -> None:
    mapping = parse_mapping(
        '{"kind": "customers", "columns": {"客户": "name", "手机": null, "联系方式": "phone"},'
        ' "constants": {"city": "上海"}, "date_formats": {"birthday": "%d/%m/%Y"}}'
    )
    resolved = resolve(["客户", "手机", "联系方式", "生日"], "customers", mapping)
    assert resolved.fields == {"客户": "name", "联系方式": "phone", "生日": "birthday"}
    assert resolved.ignored == ["手机"]
    assert mapping.constants == {"city": "上海"}
    no_auto = parse_mapping({"kind": "customers", "columns": {"客户": "name"}, "recognise": False})
    assert resolve(["客户", "手机"], "customers", no_auto).fields == {"客户": "name"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({"kind": "pets"}, "kind must be one of"),
        ({"kind": "customers", "columns": {"a": "shoe_size"}}, "unknown field 'shoe_size'"),
        ({"kind": "customers", "columns": {"a": "name", "b": "name"}}, "several columns map to name"),
        ({"kind": "customers", "constants": {"colour": "x"}}, "constants.colour"),
        ({"kind": "customers", "date_formats": {"birthday": "dd/mm"}}, "strftime"),
        ({"kind": "customers", "extra": 1}, "unknown mapping key"),
        ({"kind": "orders"}, "this mapping is for orders, not customers"),
    ],
)
def test_bad_mappings_are_named(data: object, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse_mapping(data, "customers")


def test_an_unknown_field_lists_the_valid_ones() -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping({"kind": "customers", "columns": {"Age": "age"}}, "customers")
    message = str(caught.value)
    assert message.startswith("columns.Age: unknown field 'age' for customers; valid fields: ")
    assert message.removeprefix("columns.Age: unknown field 'age' for customers; valid fields: ").split(", ") == list(
        FIELDS["customers"]
    )
    with pytest.raises(
        MappingError, match=r"constants.colour: unknown field for events; valid fields: .*properties\.<name>"
    ):
        parse_mapping({"kind": "events", "constants": {"colour": "x"}}, "events")


def test_event_property_columns() -> None:
    resolved = resolve(["事件ID", "事件类型", "发生时间", "手机号", "properties.sku"], "events")
    assert resolved.fields["properties.sku"] == "properties.sku"
    assert resolved.missing == [] and resolved.missing_one_of == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990-05-01", date(1990, 5, 1)),
        ("1990/5/1", date(1990, 5, 1)),
        ("1990.05.01", date(1990, 5, 1)),
        ("19900501", date(1990, 5, 1)),
        ("1990年5月1日", date(1990, 5, 1)),
        ("1990-05-01 00:00:00", date(1990, 5, 1)),
    ],
)
def test_dates(text: str, expected: date) -> None:
    assert values.parse_date(text) == expected


def test_bad_dates_and_formats() -> None:
    with pytest.raises(values.BadValue, match="not a date"):
        values.parse_date("May 1st")
    with pytest.raises(values.BadValue, match="real calendar date"):
        values.parse_date("1990-02-30")
    assert values.parse_date("01/05/1990", "%d/%m/%Y") == date(1990, 5, 1)
    with pytest.raises(values.BadValue, match="format %d/%m/%Y"):
        values.parse_date("1990-05-01", "%d/%m/%Y")


def test_datetimes_are_local_unless_they_say_otherwise() -> None:
    assert values.parse_datetime("2024-05-01 14:30", SHANGHAI) == datetime(2024, 5, 1, 14, 30, tzinfo=SHANGHAI)
    utc = values.parse_datetime("2024-05-01T06:30:00Z", SHANGHAI)
    assert utc == datetime(2024, 5, 1, 6, 30, tzinfo=UTC)
    offset = values.parse_datetime("2024-05-01 14:30:00+0800", SHANGHAI)
    assert offset.utcoffset() == timedelta(hours=8)
    assert values.parse_datetime("2024/5/1", SHANGHAI) == datetime(2024, 5, 1, tzinfo=SHANGHAI)
    with pytest.raises(values.BadValue):
        values.parse_datetime("yesterday", SHANGHAI)


def test_genders_and_amounts() -> None:
    assert [values.parse_gender(g) for g in ("男", "女", "未知", "M", "female")] == [
        "male",
        "female",
        "unknown",
        "male",
        "female",
    ]
    with pytest.raises(values.BadValue):
        values.parse_gender("x")
    assert values.parse_amount("¥1,299.50") == Decimal("1299.50")
    assert values.parse_amount("199") == Decimal("199.00")
    for bad in ("-1", "1.234", "abc", "NaN"):
        with pytest.raises(values.BadValue):
            values.parse_amount(bad)


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_cells_are_neutralised_and_restored(text: str) -> None:
    safe = values.neutralise(text)
    assert safe == "'" + text
    assert values.unprotect(safe) == text


def test_plain_cells_are_left_alone() -> None:
    assert values.neutralise("张伟") == "张伟"
    assert values.neutralise("") == ""
    assert values.unprotect("'quoted") == "'quoted"


def test_the_mobile_shortcut_agrees_with_the_full_phone_rules() -> None:
    import random

    from guanxi.customers.bulk import normalize_value
    from guanxi.customers.normalize import IdentityKind, InvalidValue, normalize_phone

    rng = random.Random(3)
    samples = [f"1{rng.randrange(10**10):010d}" for _ in range(3000)]
    samples += [f"+86{s}" for s in samples[:300]] + [f"86{s}" for s in samples[:300]]
    samples += ["１３８００１３８０００", "138 0013 8000", "+85291234567", "02112345678", "1380013800"]
    for text in samples:
        try:
            expected: str | None = normalize_phone(text, "CN")
        except InvalidValue:
            expected = None
        try:
            got: str | None = normalize_value(IdentityKind.PHONE, text, "CN")
        except InvalidValue:
            got = None
        assert got == expected, text


def test_a_foreign_customer_id_is_never_taken_for_guanxis_id() -> None:
    # In an order file the shop's customer id names the customer by (source, external id).
    assert recognise(["Customer ID", "Amount", "Order ID"], "orders") == {
        "Customer ID": "customer_external_id",
        "Amount": "paid_amount",
        "Order ID": "external_id",
    }
    assert recognise(["customer_id", "订单号"], "orders") == {
        "customer_id": "customer_external_id",
        "订单号": "external_id",
    }
    assert recognise(["Customer ID", "Event ID"], "events") == {
        "Customer ID": "customer_external_id",
        "Event ID": "event_id",
    }
    assert recognise(["客户系统ID", "金额"], "orders") == {"客户系统ID": "customer_id", "金额": "paid_amount"}
    # In a customer import the source system's id is the customer's external id.
    assert recognise(["Customer ID", "姓名"], "customers") == {"Customer ID": "external_id", "姓名": "name"}


def test_the_missing_customer_message_lists_what_names_a_customer() -> None:
    resolved = resolve(["Order ID", "Amount", "Order Date"], "orders")
    message = missing_message(resolved, 3)
    assert message == (
        "at least one of these columns is needed: customer_id, customer_external_id, phone, email, member_card,"
        " wechat_unionid"
    )


def test_a_mapping_carries_value_maps_policies_and_derived_fields() -> None:
    mapping = parse_mapping(
        {
            "kind": "orders",
            "values": {"Order Status": {"Cancelled": "cancelled", "#N/A": None}},
            "on_invalid": {"store": "drop"},
            "derive": {"external_id": ["Customer ID", "Date", "{line}"]},
        }
    )
    assert mapping.values == {"Order Status": {"Cancelled": "cancelled", "#N/A": None}}
    assert mapping.bad_value_policy("store", "reject") == "drop"
    assert mapping.bad_value_policy("paid_amount", "reject") == "reject"
    assert mapping.derive == {"external_id": ["Customer ID", "Date", "{line}"]}
    assert parse_mapping(mapping.as_dict()) == mapping
    # the derived field is not read from the file's own order-number column
    resolved = resolve(["Customer ID", "Date", "Amount", "Order ID", "Order Status"], "orders", mapping)
    assert resolved.fields == {
        "Customer ID": "customer_external_id",
        "Date": "occurred_at",
        "Amount": "paid_amount",
        "Order Status": "status",
    }
    assert resolved.missing == [] and resolved.absent == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "orders", "derive": {"paid_amount": ["a"]}}, "derive.paid_amount: only external_id can be derived"),
        ({"kind": "orders", "derive": {"external_id": []}}, "derive.external_id: must be a non-empty list"),
        ({"kind": "customers", "on_invalid": {"gender": "ignore"}}, "on_invalid.gender: must be one of reject, drop"),
        ({"kind": "customers", "on_invalid": {"age": "drop"}}, "on_invalid.age: unknown field for customers; valid"),
        ({"kind": "orders", "conflicts": {"*": "file"}}, "conflicts applies to customer imports only"),
        ({"kind": "customers", "values": {"Gender": ["M"]}}, "values must be an object of column"),
        ({"kind": "customers", "extra": 1}, "unknown mapping key(s): extra; valid keys: columns"),
    ],
)
def test_a_bad_mapping_key_is_refused_with_what_is_allowed(data: dict[str, object], message: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(data)
    assert str(caught.value).startswith(message)


def test_derive_and_value_map_columns_the_file_lacks_are_named() -> None:
    mapping = parse_mapping(
        {"kind": "orders", "derive": {"external_id": ["Cust", "{line}"]}, "values": {"Status": {"X": "cancelled"}}}
    )
    resolved = resolve(["Customer ID", "Amount", "Date"], "orders", mapping)
    assert resolved.absent == [
        "derive.external_id: no column 'Cust'",
        "values.Status: no column or field 'Status' in this file",
    ]


@pytest.mark.parametrize(
    ("text", "amount"),
    [("$19.99", "19.99"), ("USD 19.99", "19.99"), ("US$5", "5.00"), ("HK$10", "10.00"), ("€1,250.00", "1250.00")],
)
def test_amounts_with_a_foreign_currency_sign_are_read(text: str, amount: str) -> None:
    assert values.parse_amount(text) == Decimal(amount)


def test_a_decimal_comma_is_refused_not_read_as_thousands() -> None:
    with pytest.raises(values.BadValue) as refused:
        values.parse_amount("€7,50")
    assert str(refused.value) == "has a decimal comma; write it with a point (7.50)"
