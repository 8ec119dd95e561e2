"""API shapes for referrals and partner exchange. Inputs forbid unknown fields and bound every
value, so bad input is a 422 naming the field."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guanxi.kit.inputs import PatchInput
from guanxi.kit.text import StorableInput
from guanxi.loyalty.program.schemas import IdentityRef, Points, PositiveAmount

PartnerCode = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
# Rates and settlement values fit NUMERIC(12, 4); a rate of 0 would make points vanish.
Rate = Annotated[Decimal, Field(gt=0, le=Decimal("99999999"), max_digits=12, decimal_places=4)]
SettlementValue = Annotated[Decimal, Field(ge=0, le=Decimal("99999999"), max_digits=12, decimal_places=4)]
Limit = Annotated[int, Field(ge=1, le=100_000_000)]


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Referrals


class ReferralAttachIn(_Input):
    code: str = Field(min_length=1, max_length=32, description="The referrer's referral code")


class ReferralOut(BaseModel):
    id: str
    referrer_customer_id: str
    referee_customer_id: str
    code: str
    status: str
    qualifying_order_id: str | None
    referrer_points: int
    referee_points: int
    created_at: datetime
    rewarded_at: datetime | None


class ReferralSummaryOut(BaseModel):
    customer_id: str
    code: str
    referred_by: ReferralOut | None
    # Newest first, at most REFERRALS_SHOWN; `counts` covers them all.
    referrals: list[ReferralOut]
    counts: dict[str, int]


# Partners


class PartnerIn(_Input):
    code: PartnerCode
    name: str = Field(min_length=1, max_length=100)
    rate_in: Rate = Field(description="Our points per partner point coming in")
    rate_out: Rate = Field(description="Partner points per our point going out")
    settlement_value: SettlementValue = Field(description="Money per one of our points, in the program currency")
    min_points: Limit = 1
    max_points: Limit | None = None
    daily_limit: Limit | None = Field(default=None, description="Our points a member may send out per local day")
    allow_in: bool = True
    allow_out: bool = True
    active: bool = True


class PartnerPatch(_Input, PatchInput):
    """Every field optional; `null` clears max_points or daily_limit."""

    clearable: ClassVar[frozenset[str]] = frozenset({"max_points", "daily_limit"})

    name: str | None = Field(default=None, min_length=1, max_length=100)
    rate_in: Rate | None = None
    rate_out: Rate | None = None
    settlement_value: SettlementValue | None = None
    min_points: Limit | None = None
    max_points: Limit | None = None
    daily_limit: Limit | None = None
    allow_in: bool | None = None
    allow_out: bool | None = None
    active: bool | None = None


class PartnerOut(BaseModel):
    id: str
    code: str
    name: str
    rate_in: Decimal
    rate_out: Decimal
    settlement_value: Decimal
    min_points: int
    max_points: int | None
    daily_limit: int | None
    allow_in: bool
    allow_out: bool
    active: bool
    created_at: datetime
    updated_at: datetime

    @field_validator("rate_in", "rate_out", "settlement_value")
    @classmethod
    def _four_places(cls, value: Decimal) -> Decimal:
        """As stored (NUMERIC(12, 4)), whether read back or just written: "0.5000", never "0.5"."""
        return value.quantize(Decimal("0.0001"))


class ExchangeIn(_Input):
    """`partner_points` for direction "in", `points` for "out"; the customer by id or identity."""

    direction: Literal["in", "out"]
    partner_txn_id: str = Field(min_length=1, max_length=64)
    customer_id: str | None = Field(default=None, min_length=1, max_length=26)
    identity: IdentityRef | None = None
    partner_points: Points | None = None
    points: Points | None = None
    note: str | None = Field(default=None, max_length=200)


class ExchangeOut(BaseModel):
    id: str
    partner: str
    partner_txn_id: str
    direction: str
    customer_id: str
    partner_points: int
    points: int
    points_balance: int
    entry_id: int | None
    # Signed as in the settlement ledger: positive, we owe the partner; negative, they owe us.
    settlement_amount: Decimal
    currency: str
    created_at: datetime
    replayed: bool = False


class PaymentIn(_Input):
    amount: PositiveAmount
    payer: Literal["us", "partner"] = Field(description="us: we paid the partner; partner: the partner paid us")
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    note: str | None = Field(default=None, max_length=200)


class SettlementEntryOut(BaseModel):
    id: int
    transaction_id: str | None
    kind: str
    amount: Decimal
    currency: str
    balance_after: Decimal
    note: str | None
    actor_id: str
    created_at: datetime
    replayed: bool = False


class SettlementOut(BaseModel):
    partner: str
    currency: str
    # Open balance: positive, we owe the partner; negative, the partner owes us.
    balance: Decimal
    owed_by: Literal["us", "partner", "nobody"]
    items: list[SettlementEntryOut]
    next_cursor: str | None
