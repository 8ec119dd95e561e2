"""Coupon codes: random, checkable, forgiving of the usual typing slips and strict about the rest."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.loyalty.catalog import codes as coupon_codes
from guanxi.loyalty.catalog.codes import ALPHABET, LENGTH, CodeError

bodies = st.text(alphabet=ALPHABET, min_size=12, max_size=12)


def _code(body: str) -> str:
    return body + coupon_codes.check_character(body)


def test_generated_codes_have_the_documented_shape() -> None:
    code = coupon_codes.generate()
    assert len(code) == LENGTH == 13
    assert set(code) <= set(ALPHABET)
    assert coupon_codes.is_valid(code)
    shown = coupon_codes.display(code)
    assert shown == f"{code[:4]}-{code[4:8]}-{code[8:]}"
    assert coupon_codes.normalize(shown) == code


def test_generation_draws_every_character_from_the_source() -> None:
    rng = random.Random(7)
    code = coupon_codes.generate(rng.choice)
    rng = random.Random(7)
    body = "".join(rng.choice(ALPHABET) for _ in range(12))
    assert code == body + coupon_codes.check_character(body)


def test_codes_do_not_repeat() -> None:
    assert len({coupon_codes.generate() for _ in range(2000)}) == 2000


def test_known_check_characters() -> None:
    assert coupon_codes.check_character("000000000000") == "0"
    assert _code("000000000001") == "0000000000012"
    assert coupon_codes.is_valid(_code("ABCDEFGHJKMN"))


@given(bodies)
def test_every_generated_code_validates_in_every_typed_form(body: str) -> None:
    code = _code(body)
    assert coupon_codes.is_valid(code)
    typed = coupon_codes.display(code).lower().replace("0", "o").replace("1", "l")
    assert coupon_codes.normalize(f"  {typed} ") == code
    assert coupon_codes.normalize(code.replace("1", "I")) == code


@given(bodies, st.integers(min_value=0, max_value=LENGTH - 1), st.sampled_from(ALPHABET))
def test_a_single_character_typo_is_always_detected(body: str, position: int, typo: str) -> None:
    code = _code(body)
    if code[position] == typo:
        return
    wrong = code[:position] + typo + code[position + 1 :]
    assert not coupon_codes.is_valid(wrong)
    with pytest.raises(CodeError, match="mistyped"):
        coupon_codes.normalize(wrong)


@given(bodies, st.integers(min_value=0, max_value=LENGTH - 2))
def test_swapping_two_neighbours_is_always_detected(body: str, position: int) -> None:
    code = _code(body)
    if code[position] == code[position + 1]:
        return
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    assert not coupon_codes.is_valid(swapped)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("ABCD-EFGH-JKMN", "has 12 characters"),
        ("ABCD-EFGH-JKMN-PQ", "has 14 characters"),
        ("ABCD-EFGH-JKMU-P", "'U'"),
        ("ABCD EFGH JK*N P", "'*'"),
        ("券券券券-EFGH-JKMN-P", "'券'"),
        ("A" * 41, "too long"),
        ("", "has 0 characters"),
    ],
)
def test_malformed_input_says_what_is_wrong(typed: str, message: str) -> None:
    with pytest.raises(CodeError, match=message):
        coupon_codes.normalize(typed)
