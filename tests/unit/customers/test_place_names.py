"""Places on English pages: the division's name without its kind, in pinyin, with the official
English names where they are not the pinyin, and anything that is no division as typed."""

from __future__ import annotations

import pytest

from guanxi.customers import place_names


@pytest.mark.parametrize(
    ("name", "english"),
    [
        ("广东省", "Guangdong"),
        ("深圳市", "Shenzhen"),
        ("上海市", "Shanghai"),
        ("徐汇区", "Xuhui"),
        ("陕西省", "Shaanxi"),
        ("山西省", "Shanxi"),
        ("广西壮族自治区", "Guangxi"),
        ("内蒙古自治区", "Inner Mongolia"),
        ("西藏自治区", "Tibet"),
        ("香港特别行政区", "Hong Kong"),
        ("延边朝鲜族自治州", "Yanbian"),
        ("朝阳区", "Chaoyang"),  # read in the whole name: 朝阳 alone would be "zhao"
        ("长宁区", "Changning"),
        ("西安市", "Xi'an"),
        ("宝安区", "Bao'an"),
        ("东京", "东京"),  # no division: as typed
        ("Shanghai", "Shanghai"),
    ],
)
def test_english_names(name: str, english: str) -> None:
    assert place_names.english(name) == english


def test_only_english_pages_change_the_name() -> None:
    assert place_names.label("深圳市", "zh-CN") == "深圳市"
    assert place_names.label("深圳市", "en") == "Shenzhen"
    assert place_names.label(None, "en") is None
