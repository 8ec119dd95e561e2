from __future__ import annotations

import pytest

from guanxi.kit.masking import (
    Visibility,
    mask_email,
    mask_generic,
    mask_id_number,
    mask_phone,
    mask_text,
    present,
)


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+8613800138000", "138****8000"),
        ("+8618612345678", "186****5678"),
        ("+14155552671", "+14*****2671"),
        ("+85261234567", "+85*****4567"),
        ("123", "12*"),
    ],
)
def test_mask_phone(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("zhangwei@qq.com", "zh***@qq.com"),
        ("ab@x.cn", "a***@x.cn"),
        ("a@x.cn", "a***@x.cn"),
        ("no-domain", "***"),
    ],
)
def test_mask_email(email: str, masked: str) -> None:
    assert mask_email(email) == masked


def test_mask_id_number_keeps_first_three_and_last_four() -> None:
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_id_number("1234567") == "*******"


def test_mask_text_and_generic() -> None:
    assert mask_text("上海市浦东新区世纪大道100号") == "上海市浦东****"
    assert mask_text("ab") == "a****"
    assert mask_generic("oAbCdEf123") == "oA******23"
    assert mask_generic("abcd") == "****"


def test_present_by_visibility() -> None:
    phone = "+8613800138000"
    assert present("phone", phone, Visibility.FULL) == phone
    assert present("phone", phone, Visibility.MASKED) == "138****8000"
    assert present("phone", phone, Visibility.HIDDEN) is None
    assert present("email", "zhangwei@qq.com", Visibility.MASKED) == "zh***@qq.com"
    assert present("wechat_openid", "oAbCdEf123", Visibility.MASKED) == "oA******23"
    assert present("phone", None, Visibility.FULL) is None
