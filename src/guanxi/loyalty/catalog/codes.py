"""Coupon codes: random, non-guessable, easy to read out and type at a till.

A code is 12 random characters of Crockford's base32 alphabet (60 bits from `secrets`, so guessing
one among a million issued codes takes about 10^12 tries) and one check character, shown as
`XXXX-XXXX-XXXXC`. Stored and compared in the normalized form (13 characters, no separators).

The check character uses the Damm algorithm over the field GF(32) (x * y = 2x + y), not Crockford's
own mod-37 check: that one needs five extra symbols (* ~ $ = U) that are awkward to type, while the
Damm quasigroup stays inside the 32-letter alphabet and still catches every single-character error
and every swap of two adjacent characters.

Typed input is forgiving where it cannot be ambiguous: case, spaces and dashes are ignored, and the
letters people confuse with digits (O -> 0, I and L -> 1) are read as those digits.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from guanxi.kit.errors import CatalogValueError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 12
LENGTH = BODY_LENGTH + 1
MAX_INPUT_LENGTH = 40

_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_ALIASES = {"O": "0", "I": "1", "L": "1"}
_SEPARATORS = frozenset(" -_.\t")
# x^5 + x^2 + 1, irreducible over GF(2): the field GF(32) the check character lives in.
_MODULUS = 0b100101


class CodeError(CatalogValueError):
    """A typed code that cannot be a coupon code; the message says what is wrong with it."""


def _times_two(x: int) -> int:
    x <<= 1
    return x ^ _MODULUS if x & 0b100000 else x


def _interim(values: list[int]) -> int:
    interim = 0
    for value in values:
        interim = _times_two(interim) ^ value
    return interim


def check_character(body: str) -> str:
    """The character that makes `body + check` come out to zero under the Damm operation."""
    return ALPHABET[_times_two(_interim([_VALUE[ch] for ch in body]))]


def is_valid(code: str) -> bool:
    """Whether a normalized code's check character matches."""
    return len(code) == LENGTH and all(ch in _VALUE for ch in code) and _interim([_VALUE[ch] for ch in code]) == 0


def generate(choice: Callable[[str], str] = secrets.choice) -> str:
    """A new normalized code (13 characters). `choice` is injectable for tests only."""
    body = "".join(choice(ALPHABET) for _ in range(BODY_LENGTH))
    return body + check_character(body)


def display(code: str) -> str:
    """The printed form: XXXX-XXXX-XXXXC."""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def normalize(typed: str) -> str:
    """The stored form of a typed code, or CodeError saying why it cannot be one."""
    if len(typed) > MAX_INPUT_LENGTH:
        raise CodeError(
            f"is too long for a coupon code ({LENGTH} characters)", "problem.coupon.code_too_long", length=LENGTH
        )
    chars = []
    for ch in typed.upper():
        if ch in _SEPARATORS:
            continue
        ch = _ALIASES.get(ch, ch)
        if ch not in _VALUE:
            raise CodeError(
                f"contains {ch!r}, which is not used in coupon codes",
                "problem.coupon.code_bad_character",
                char=repr(ch),
            )
        chars.append(ch)
    code = "".join(chars)
    if len(code) != LENGTH:
        raise CodeError(
            f"has {len(code)} characters; a coupon code has {LENGTH}",
            "problem.coupon.code_length",
            count=len(code),
            length=LENGTH,
        )
    if not is_valid(code):
        raise CodeError("is mistyped: its check character does not match", "problem.coupon.code_check")
    return code
