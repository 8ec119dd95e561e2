"""Money is a Decimal amount with an ISO 4217 currency, never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Minor units per currency; the ones a Chinese brand meets most.
MINOR_UNITS = {"CNY": 2, "HKD": 2, "USD": 2, "EUR": 2, "JPY": 0, "TWD": 2, "MOP": 2, "KRW": 0}


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money amount must be a Decimal")
        if self.currency not in MINOR_UNITS:
            raise ValueError(f"unsupported currency {self.currency!r}")
        if not self.amount.is_finite():
            raise ValueError("Money amount must be finite")

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str = "CNY") -> Money:
        if isinstance(amount, float):  # floats lose cents; refuse them outright
            raise TypeError("use a string or Decimal for money, not float")
        try:
            value = Decimal(amount)
        except (InvalidOperation, ValueError) as exc:
            raise ValueError(f"not a money amount: {amount!r}") from exc
        return cls(value, currency.upper()).quantized()

    def quantized(self) -> Money:
        exponent = Decimal(1).scaleb(-MINOR_UNITS[self.currency])
        try:
            amount = self.amount.quantize(exponent, rounding=ROUND_HALF_UP)
        except InvalidOperation as exc:  # more digits than the decimal context holds
            raise ValueError(f"money amount out of range: {self.amount}") from exc
        return Money(amount, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, float):  # the same rule as Money.of: no binary fractions in money
            raise TypeError("multiply money by an int or Decimal, not float")
        return Money(self.amount * Decimal(factor), self.currency).quantized()

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
