"""Provinces, cities and districts to official names and codes (no database)."""

from __future__ import annotations

import pytest

from guanxi.customers import places
from guanxi.customers.places import Place, PlaceWarning

SHANGHAI = Place("上海市", "310000", "上海市", "310100")
GUANGZHOU = Place("广东省", "440000", "广州市", "440100")


@pytest.mark.parametrize(
    ("province", "city"),
    [
        ("上海", None),
        ("上海市", None),
        ("Shanghai", None),
        (None, "上海"),
        (None, "上海市"),
        (None, "Shanghai"),
        (None, "shanghai shi"),
        ("上海", "上海"),
        (" 上海 市 ", None),
        ("SHANGHAI", "Shanghai City"),
    ],
)
def test_shanghai_as_typed_is_the_municipality_at_both_levels(province: str | None, city: str | None) -> None:
    assert places.normalise(province, city) == SHANGHAI


@pytest.mark.parametrize("city", ["广州", "广州市", "Guangzhou", "Guangzhou City"])
def test_a_city_alone_brings_its_province(city: str) -> None:
    assert places.normalise(None, city) == GUANGZHOU


def test_a_given_province_that_agrees_is_written_in_full() -> None:
    assert places.normalise("广东", "广州") == GUANGZHOU


def test_an_address_fills_empty_fields_from_its_start() -> None:
    assert places.normalise(None, None, None, "浙江省杭州市西湖区文三路") == Place(
        "浙江省", "330000", "杭州市", "330100", "西湖区", "330106"
    )


def test_an_address_fills_only_the_levels_the_fields_leave_empty() -> None:
    assert places.normalise(None, "杭州", None, "西湖区文三路 100 号") == Place(
        "浙江省", "330000", "杭州市", "330100", "西湖区", "330106"
    )
    # An address elsewhere does not move a place the fields already give.
    assert places.normalise(None, "杭州", None, "北京市朝阳区建国路") == Place("浙江省", "330000", "杭州市", "330100")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("中国 上海市徐汇区虹漕路461号", Place("上海市", "310000", "上海市", "310100", "徐汇区", "310104")),
        ("江苏南京市鼓楼区中山路1号", Place("江苏省", "320000", "南京市", "320100", "鼓楼区", "320106")),
        ("广州天河区天河路385号", Place("广东省", "440000", "广州市", "440100", "天河区", "440106")),
        ("吉林省吉林市船营区", Place("吉林省", "220000", "吉林市", "220200", "船营区", "220204")),
        # A street named after a city is not that city.
        ("北京路100号", Place()),
        ("南京西路1号", Place()),
        ("上海南京西路1号", SHANGHAI),
    ],
)
def test_addresses_are_read_big_to_small_from_their_start(address: str, expected: Place) -> None:
    assert places.normalise(None, None, None, address) == expected


def test_a_district_needs_its_city_when_its_name_is_shared() -> None:
    assert places.normalise(None, "长春", "朝阳区") == Place("吉林省", "220000", "长春市", "220100", "朝阳区", "220104")
    assert places.normalise(None, "北京", "朝阳区") == Place("北京市", "110000", "北京市", "110100", "朝阳区", "110105")
    assert places.normalise(None, "Beijing", "Chaoyang District") == places.normalise(None, "北京", "朝阳区")
    assert places.normalise(None, None, "朝阳区") == Place(
        district="朝阳区", warnings=(PlaceWarning("district", "ambiguous", "朝阳区"),)
    )


def test_a_district_typed_as_the_city_is_the_district_of_its_province() -> None:
    assert places.normalise("北京", "朝阳") == Place("北京市", "110000", "北京市", "110100", "朝阳区", "110105")


def test_an_unknown_foreign_city_is_kept_as_typed_without_a_code_and_reported() -> None:
    place = places.normalise(None, "Paris")
    assert place == Place(city="Paris", warnings=(PlaceWarning("city", "unknown", "Paris"),))
    assert str(place.warnings[0]) == "City: Paris is not a known province, city or district; kept as typed"
    assert place.warnings[0].text("zh-CN") == "城市：Paris 不是已知的省、市或区县，已按原样保留"
    assert places.normalise("法国", "巴黎") == Place(
        "法国",
        None,
        "巴黎",
        None,
        warnings=(PlaceWarning("province", "unknown", "法国"), PlaceWarning("city", "unknown", "巴黎")),
    )


def test_a_city_outside_the_given_province_is_kept_as_typed() -> None:
    assert places.normalise("广东", "杭州") == Place(
        "广东省", "440000", "杭州", None, warnings=(PlaceWarning("city", "outside", "杭州"),)
    )


def test_a_province_in_the_city_field_fills_the_province() -> None:
    assert places.normalise(None, "广东") == Place(
        "广东省", "440000", "广东", None, warnings=(PlaceWarning("city", "not_a_city", "广东"),)
    )
    # 海南 is the province, not the start of 海南藏族自治州 or the district 海南区.
    assert places.normalise(None, "海南").province_code == "460000"


def test_county_level_cities_under_a_province_are_the_city() -> None:
    xiantao = Place("湖北省", "420000", "仙桃市", "429004")
    assert places.normalise(None, "仙桃") == xiantao
    assert places.normalise("湖北", None, "仙桃市") == xiantao


def test_chongqing_keeps_the_data_sets_two_city_codes() -> None:
    assert places.normalise(None, "重庆") == Place("重庆市", "500000", "重庆市", "500100")
    assert places.normalise(None, None, "城口县") == Place("重庆市", "500000", "重庆市", "500200", "城口县", "500229")


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("新疆", "650000"),
        ("广西", "450000"),
        ("内蒙古", "150000"),
        ("Shaanxi", "610000"),
        ("Shanxi", "140000"),
        ("Hong Kong SAR", "810000"),
        ("Guangdong Province", "440000"),
    ],
)
def test_provinces_by_short_and_latin_names(typed: str, code: str) -> None:
    assert places.normalise(typed, None).province_code == code


def test_autonomous_prefectures_by_the_start_of_their_name() -> None:
    assert places.normalise(None, "延边") == Place("吉林省", "220000", "延边朝鲜族自治州", "222400")


def test_an_ambiguous_pinyin_is_not_guessed() -> None:
    assert places.normalise(None, "Suzhou") == Place(
        city="Suzhou", warnings=(PlaceWarning("city", "ambiguous", "Suzhou"),)
    )
    assert places.normalise("Jiangsu", "Suzhou").city_code == "320500"


def test_condition_values_mean_every_division_of_their_name() -> None:
    assert places.codes_for("city", "上海") == places.codes_for("city", "Shanghai") == frozenset({"310100"})
    assert places.codes_for("province", "上海市") == frozenset({"310000"})
    assert places.codes_for("city", "重庆") == frozenset({"500100", "500200"})
    assert places.codes_for("district", "朝阳区") == frozenset({"110105", "220104"})
    assert places.codes_for("city", "巴黎") is None
    assert places.name_of("440100") == "广州市"
    assert places.name_of("999999") is None


def test_an_import_row_gives_the_levels_it_names_and_those_below() -> None:
    assert places.given_names({"city": "上海"}) == {"city": "上海市"}
    # The province of a city is implied, not given: a conflict on it would be the file's doing.
    assert places.given_names({"city": "杭州"}, "浙江省杭州市西湖区文三路") == {"city": "杭州市", "district": "西湖区"}
    assert places.given_names({"province": "上海"}) == {"province": "上海市", "city": "上海市"}
    assert places.given_names({"province": "浙江"}) == {"province": "浙江省"}
    assert places.given_names({}, "上海市徐汇区") == {"province": "上海市", "city": "上海市", "district": "徐汇区"}
    assert places.given_names({"province": "湖北", "district": "仙桃市"}) == {"province": "湖北省", "city": "仙桃市"}
    assert places.given_names({"city": "Paris"}) == {"city": "Paris"}
    assert places.given_names({}) == {}


HANGZHOU_XIHU = {"province": "浙江省", "city": "杭州市", "district": "西湖区"}


def test_an_edit_moves_the_place_as_one_unit() -> None:
    # A new city brings its province and drops the old district.
    assert places.relocate(HANGZHOU_XIHU, {"city": "广州"}) == GUANGZHOU
    # A district inside the current city keeps it; one elsewhere brings its own city.
    assert places.relocate({"province": "浙江省", "city": "杭州市"}, {"district": "西湖区"}).district_code == "330106"
    assert places.relocate(HANGZHOU_XIHU, {"district": "天河区"}) == Place(
        "广东省", "440000", "广州市", "440100", "天河区", "440106"
    )
    # The same province, written otherwise, keeps the city and district.
    assert places.relocate(HANGZHOU_XIHU, {"province": "浙江"}).district_code == "330106"
    assert places.relocate(HANGZHOU_XIHU, {"province": "广东"}) == Place("广东省", "440000")
    # Clearing the city clears the district below it.
    assert places.relocate(HANGZHOU_XIHU, {"city": None}) == Place("浙江省", "330000")
    # A foreign city cannot hold a Chinese district.
    assert places.relocate(HANGZHOU_XIHU, {"city": "Paris"}) == Place(
        "浙江省", "330000", "Paris", None, warnings=(PlaceWarning("city", "unknown", "Paris"),)
    )


def test_nothing_typed_is_nowhere() -> None:
    assert places.normalise(None, None, None, None) == Place()
    assert places.normalise("", "  ", None, "") == Place()
