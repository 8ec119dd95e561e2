from __future__ import annotations

import pytest
from pydantic import ValidationError

from guanxi.kit.text import StorableInput, has_nul


class Sample(StorableInput):
    name: str
    tags: list[str] = []
    count: int = 0


def test_has_nul_looks_inside_containers() -> None:
    assert has_nul("a\x00b")
    assert has_nul(["ok", "b\x00"])
    assert has_nul({"k": ["\x00"]})
    assert not has_nul(["ok", 1, None])


def test_storable_input_names_the_field() -> None:
    assert Sample(name="张伟", tags=["vip"]).name == "张伟"
    with pytest.raises(ValidationError) as info:
        Sample(name="a\x00")
    assert info.value.errors()[0]["loc"] == ("name",)
    with pytest.raises(ValidationError) as info:
        Sample(name="ok", tags=["fine", "bad\x00"])
    assert info.value.errors()[0]["loc"] == ("tags",)
