"""The demo's cities and addresses are places the division table knows."""

from __future__ import annotations

from datetime import UTC, datetime

from guanxi.customers import places
from guanxi.demo import data
from guanxi.demo.generate import DemoGenerator


def test_every_demo_city_is_coded_as_the_demo_says() -> None:
    coded = {(c.province, c.city): places.normalise(c.province, c.city) for c in data.CITIES}
    assert {key: (p.province, p.city, p.city_code) for key, p in coded.items()} == {
        (c.province, c.city): (c.province, c.city, c.code + "00") for c in data.CITIES
    }


def test_demo_addresses_name_a_district_of_their_city() -> None:
    generator = DemoGenerator(7, datetime(2026, 12, 1, tzinfo=UTC))
    profiles = [generator.customer(i, datetime(2026, 1, 1, tzinfo=UTC)) for i in range(400)]
    with_address = [p for p in profiles if p.address]
    assert with_address
    for profile in with_address:
        place = places.normalise(profile.province, profile.city, None, profile.address)
        assert place.warnings == ()
        # 东莞 and 中山 have no districts; everywhere else the address names one in the city.
        if profile.city not in ("东莞市", "中山市"):
            assert place.district_code is not None and place.district_code.startswith(place.city_code[:4])
