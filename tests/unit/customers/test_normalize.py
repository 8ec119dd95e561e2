from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from guanxi.customers.normalize import (
    IdentityKind,
    InvalidValue,
    has_han,
    looks_like_phone,
    name_search_keys,
    normalize_email,
    normalize_identity,
    normalize_phone,
    normalize_resident_id,
    normalize_token,
    normalize_uscc,
    search_key,
    validate_name,
)

VALID_RESIDENT_ID = "11010519491231002X"
VALID_USCC = "91110000600037341L"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("(138) 0013-8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("+8613800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("0086 138 0013 8000", "+8613800138000"),
        ("  13800138000  ", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("010-12345678", "+861012345678"),
        ("+852 6123 4567", "+85261234567"),
        ("+1 415 555 2671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_formats_normalize_to_e164(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("12345", "is not a valid phone number"),
        ("1380013800", "is not a valid phone number"),
        ("138001380001", "is not a valid phone number"),
        ("11111111111", "is not a valid phone number"),
        ("+86 000 0000 0000", "is not a valid phone number"),
        ("abc", "is not a phone number"),
        ("+99912345678", "is not a phone number"),
        ("1" * 40, "is too long to be a phone number"),
    ],
)
def test_invalid_phones_raise(raw: str, message: str) -> None:
    with pytest.raises(InvalidValue) as info:
        normalize_phone(raw)
    assert str(info.value) == message


phone_like = st.text(alphabet="0123456789 +-()", max_size=24)
cn_mobiles = st.builds(
    lambda prefix, rest, sep, cc: cc + sep.join([prefix, rest[:4], rest[4:]]),
    st.sampled_from(["130", "138", "150", "159", "177", "186", "199"]),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.sampled_from(["", " ", "-"]),
    st.sampled_from(["", "+86", "+86 ", "0086", "86"]),
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(phone_like, cn_mobiles, st.text(max_size=40)))
@example("8613800138000")
@example("+1 415 555 2671")
def test_phone_normalization_is_idempotent(raw: str) -> None:
    try:
        once = normalize_phone(raw)
    except InvalidValue:
        return
    assert once.startswith("+")
    assert once[1:].isdigit()
    assert normalize_phone(once) == once


@settings(max_examples=100, deadline=None, database=None)
@given(cn_mobiles)
def test_generated_cn_mobiles_are_valid(raw: str) -> None:
    digits = "".join(ch for ch in raw if ch.isdigit())
    assert normalize_phone(raw) == "+86" + digits[-11:]


def test_looks_like_phone() -> None:
    assert looks_like_phone("138 0013 8000")
    assert looks_like_phone("+86-138-0013-8000")
    assert not looks_like_phone("zhangwei")
    assert not looks_like_phone("123")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Zhang.Wei@Example.COM", "zhang.wei@example.com"),
        ("  LI@QQ.com ", "li@qq.com"),
        ("user+tag@163.com", "user+tag@163.com"),
    ],
)
def test_emails_are_lowercased(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "plain", "a@", "@b.com", "a@@b.com", "a b@c.com", "a@b..com", "x" * 250 + "@a.com"]
)
def test_invalid_emails_raise(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_email(raw)


def test_resident_id_check_digit() -> None:
    assert normalize_resident_id(VALID_RESIDENT_ID) == VALID_RESIDENT_ID
    assert normalize_resident_id(" 11010519491231002x ") == VALID_RESIDENT_ID


@pytest.mark.parametrize(
    "raw",
    [
        "110105194912310021",  # wrong check digit
        "11010519491231002",  # 17 characters
        "110105194913310029",  # month 13
        "ABCDEFGHIJKLMNOPQR",
        "",
    ],
)
def test_invalid_resident_ids_raise(raw: str) -> None:
    with pytest.raises(InvalidValue) as info:
        normalize_resident_id(raw)
    assert "resident ID" in str(info.value)


def test_uscc_check_digit() -> None:
    assert normalize_uscc(VALID_USCC) == VALID_USCC
    assert normalize_uscc(" 91110000600037341l ") == VALID_USCC


@pytest.mark.parametrize("raw", ["91110000600037341M", "9111000060003734", "", "not a code at all!"])
def test_invalid_uscc_raise(raw: str) -> None:
    with pytest.raises(InvalidValue) as info:
        normalize_uscc(raw)
    assert "unified social credit code" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张伟", "张伟"),
        ("  王  小明 ", "王 小明"),
        ("欧阳娜娜", "欧阳娜娜"),
        ("阿卜杜·热合曼", "阿卜杜·热合曼"),
        ("O'Brien", "O'Brien"),
        ("Jean-Luc Picard", "Jean-Luc Picard"),
        ("Zoë", "Zoë"),
        # WeChat nicknames: digits, Latin letters, emoji and punctuation
        ("小明🌟", "小明🌟"),
        ("Amy_2024", "Amy_2024"),
        ("A.J.", "A.J."),
        ("🍀Lucky", "🍀Lucky"),
        ("王-小二", "王-小二"),
        ("张三1", "张三1"),
        ("１号", "１号"),
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),
        ("张\t伟\n", "张 伟"),
        # text that looks like markup or SQL is a name like any other: stored and shown as text
        ("<b>张伟</b>", "<b>张伟</b>"),
        ("'; DROP TABLE customers; --", "'; DROP TABLE customers; --"),
    ],
)
def test_valid_names(raw: str, expected: str) -> None:
    assert validate_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        # a spreadsheet would run these as formulas in an export
        '=HYPERLINK("http://x")',
        "+86 138",
        "-Amy",
        "@SUM(A1)",
        " \t=1",
        # control, invisible and private-use characters
        "张\x00伟",
        "张\x1f伟",
        "\x07",
        "\u202e张伟",
        "张\ufeff伟",
        "\ue000",
        "'",
        "-- .",
        "",
        "   ",
        "名" * 101,
    ],
)
def test_invalid_names_raise(raw: str) -> None:
    with pytest.raises(InvalidValue):
        validate_name(raw)


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("张伟", ("zhangwei", "zw")),
        ("单雄信", ("shanxiongxin", "sxx")),
        ("曾国藩", ("zengguofan", "zgf")),
        ("欧阳娜娜", ("ouyangnana", "oynn")),
        ("解", ("xie", "x")),
        ("区", ("ou", "o")),
        ("解小东", ("xiexiaodong", "xxd")),
        ("区志明", ("ouzhiming", "ozm")),
        ("尉迟恭", ("yuchigong", "ycg")),
        ("查良镛", ("zhaliangyong", "zly")),
        ("朴槿惠", ("piaojinhui", "pjh")),
        ("李·小龙", ("lixiaolong", "lxl")),
        ("John Smith", ("johnsmith", "js")),
        # nicknames: Chinese read as pinyin, Latin words and digits kept, emoji and marks left out
        ("小明🌟", ("xiaoming", "xm")),
        ("Amy_2024", ("amy2024", "a2")),
        ("A.J.", ("aj", "aj")),
        ("🍀Lucky", ("lucky", "l")),
        ("王-小二", ("wangxiaoer", "wxe")),
        ("小明Leo", ("xiaomingleo", "xml")),
        ("🌟单雄信", ("shanxiongxin", "sxx")),
        ("Zoë", ("zoe", "z")),
        ("Ａｍｙ", ("amy", "a")),
        ("🌟", ("", "")),
    ],
)
def test_pinyin_search_keys_read_surnames(name: str, keys: tuple[str, str]) -> None:
    assert name_search_keys(name) == keys


def test_search_key_folds_like_stored_keys() -> None:
    assert search_key("Zhang Wei") == "zhangwei"
    assert search_key("ou-yang") == "ouyang"
    assert has_han("Li 伟")
    assert not has_han("Li Wei")


def test_identity_normalization_by_kind() -> None:
    assert normalize_identity(IdentityKind.PHONE, "138 0013 8000") == "+8613800138000"
    assert normalize_identity(IdentityKind.EMAIL, "A@B.CN") == "a@b.cn"
    assert normalize_identity(IdentityKind.MEMBER_CARD, " vip-001 ") == "VIP-001"
    assert normalize_identity(IdentityKind.WECHAT_OPENID, " oAbC_123 ") == "oAbC_123"
    with pytest.raises(InvalidValue):
        normalize_token("has space")
    with pytest.raises(InvalidValue):
        normalize_token("x" * 129)
