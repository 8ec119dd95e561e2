"""API shapes for orders, refunds, the member card, the statement, redemption, adjustments and
actions. Inputs forbid unknown fields and bound every value, so bad input is a 422 naming the field.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)

from guanxi.customers.schemas import IdentityKindName
from guanxi.kit.inputs import BusinessDateTime
from guanxi.kit.text import StorableInput
from guanxi.loyalty.orders.statuses import OrderStatusName, normalise_status

Amount = Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"), max_digits=12, decimal_places=2)]
PositiveAmount = Annotated[Decimal, Field(gt=0, le=Decimal("99999999.99"), max_digits=12, decimal_places=2)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Points = Annotated[int, Field(ge=1, le=100_000_000)]


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _status_word(value: object) -> object:
    # Anything but text is left for the type check to refuse.
    return normalise_status(value) if isinstance(value, str) else value


OrderStatus = Annotated[OrderStatusName, BeforeValidator(_status_word)]


class IdentityRef(_Input):
    kind: IdentityKindName
    value: str = Field(min_length=1, max_length=254)
    namespace: str = Field(default="", max_length=64)


class OrderLineIn(_Input):
    sku: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    quantity: int = Field(ge=1, le=100_000)
    unit_price: Amount


class OrderIn(_Input):
    external_id: Code
    source: Code
    customer_id: str | None = Field(default=None, min_length=1, max_length=26)
    identity: IdentityRef | None = None
    paid_amount: Amount
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    occurred_at: BusinessDateTime
    store: str | None = Field(default=None, max_length=40)
    channel: str | None = Field(default=None, max_length=30)
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=500)
    status: OrderStatus = Field(
        default="completed", description="completed, cancelled, returned or partially_returned (any case)"
    )
    refunded_amount: PositiveAmount | None = Field(
        default=None, description="With status partially_returned: the amount given back (below paid_amount)"
    )

    @model_validator(mode="after")
    def _one_customer_reference(self) -> OrderIn:
        if (self.customer_id is None) == (self.identity is None):
            raise ValueError("give exactly one of customer_id or identity")
        return self

    @model_serializer(mode="wrap")
    def _without_later_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An order's request hash (per order, in batches, in imports) is taken over this dump: an
        # order that leaves the fields added later at their defaults hashes as it did before they
        # existed, so a replay of an order recorded then still matches.
        dumped: dict[str, Any] = handler(self)
        for name, default in _LATER_DEFAULTS.items():
            if name in dumped and dumped[name] == default:
                del dumped[name]
        return dumped


_LATER_DEFAULTS: dict[str, Any] = {"status": "completed", "refunded_amount": None}


class RefundLineIn(_Input):
    line_no: int | None = Field(default=None, ge=1, le=500)
    sku: str | None = Field(default=None, max_length=64)
    quantity: int = Field(ge=1, le=100_000)

    @model_validator(mode="after")
    def _names_a_line(self) -> RefundLineIn:
        if self.line_no is None and self.sku is None:
            raise ValueError("name the line by line_no or sku")
        return self


class RefundIn(_Input):
    amount: PositiveAmount | None = None
    lines: list[RefundLineIn] | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _amount_or_lines(self) -> RefundIn:
        if (self.amount is None) == (self.lines is None):
            raise ValueError("give exactly one of amount or lines")
        return self


class Award(BaseModel):
    rule: str
    kind: str
    points: int
    description: str
    params: dict[str, str] = Field(default_factory=dict)


class TierMoveOut(BaseModel):
    from_tier: str = Field(alias="from")
    to: str
    kind: str
    reason: str

    model_config = ConfigDict(populate_by_name=True)


class OrderExchange(BaseModel):
    """What an order paid in another currency paid in it, and the rate that converted it."""

    currency: str
    amount: Decimal
    rate: Decimal = Field(description="Units of the program's currency per 1 unit of `currency`")
    valid_from: date = Field(description="First day of the rate's period")


class OrderAnswer(BaseModel):
    id: str
    external_id: str
    source: str
    customer_id: str
    paid_amount: Decimal
    currency: str
    # Null for an order in the program's currency; amounts above are always in that currency.
    exchange: OrderExchange | None = None
    occurred_at: datetime
    points_earned: int
    pending: bool
    awards: list[Award]
    notes: list[str]
    growth_earned: int
    points_balance: int
    pending_points: int
    tier: str
    tier_change: dict[str, str] | None
    status: str
    # Given back when the order was recorded as returned (in full or in part).
    refunded_amount: Decimal = Decimal(0)
    points_reversed: int = 0
    replayed: bool = False


class OrderLineOut(BaseModel):
    line_no: int
    sku: str | None
    category: str | None
    quantity: int
    unit_price: Decimal
    paid_share: Decimal
    refunded_quantity: int
    refunded_amount: Decimal


class RefundOut(BaseModel):
    id: str
    amount: Decimal
    lines: list[dict[str, Any]]
    policy: str
    points_reversed: int
    points_shortfall: int
    cash_deduction: Decimal
    created_at: datetime


class OrderOut(OrderAnswer):
    cancelled_at: datetime | None = None
    lines: list[OrderLineOut]
    refunds: list[RefundOut]


class CancelAnswer(BaseModel):
    """What cancelling an order took back (an order recorded as cancelled took back nothing)."""

    order_id: str
    status: str
    cancelled_at: datetime | None
    points_reversed: int
    points_from_order: int
    points_from_other_lots: int
    debt_created: int
    points_uncollected: int
    growth_reversed: int
    points_balance: int
    pending_points: int
    replayed: bool = False


class RefundAnswer(BaseModel):
    id: str
    order_id: str
    amount: Decimal
    refund_cash: Decimal
    cash_deduction: Decimal
    currency: str
    policy: str
    points_reversed: int
    points_from_order: int
    points_from_other_lots: int
    debt_created: int
    points_uncollected: int
    growth_reversed: int
    points_balance: int
    pending_points: int
    order_status: str
    order_refunded_amount: Decimal
    replayed: bool = False


class TierOut(BaseModel):
    code: str
    name: str
    name_en: str
    rank: int
    threshold: Decimal
    benefits: dict[str, Any]


class NextTierOut(BaseModel):
    code: str
    name: str
    name_en: str = ""
    needed: Decimal
    progress: Decimal


class ExpiringOut(BaseModel):
    points: int
    within_days: int
    first_expires_at: datetime | None


class CardOut(BaseModel):
    customer_id: str
    account_id: str | None
    program: str
    enrolled: bool
    tier: TierOut
    tier_since: datetime | None
    tier_basis: str
    points_balance: int
    pending_points: int
    growth_value: int
    qualifying_spend: Decimal
    next_tier: NextTierOut | None
    expiring: ExpiringOut
    points_value: Decimal
    currency: str
    lifetime_earned: int
    lifetime_redeemed: int
    lifetime_expired: int
    next_review_on: date | None
    downgrade_due_at: datetime | None
    downgrade_to: str | None
    referral_code: str | None
    checkin_streak: int


class EntryOut(BaseModel):
    id: int
    kind: str
    points: int
    balance_after: int
    pending_after: int
    reason: str
    note: str | None
    order_id: str | None
    refund_id: str | None
    reference: str | None
    occurred_at: datetime
    created_at: datetime
    detail: dict[str, Any]


class EntryPage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


class RedeemIn(_Input):
    points: Points | None = None
    reward_id: str | None = Field(default=None, min_length=1, max_length=26)
    order_id: str | None = Field(default=None, min_length=1, max_length=64)
    order_amount: PositiveAmount | None = Field(
        default=None, description="Amount of the order being paid (cash offset caps apply to it)"
    )
    quantity: int = Field(default=1, ge=1, le=100)
    note: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _something_to_redeem(self) -> RedeemIn:
        if self.points is None and self.reward_id is None:
            raise ValueError("give points, a reward_id, or both")
        return self


class RedeemAnswer(BaseModel):
    entry_id: int | None
    points: int
    points_balance: int
    reward_id: str | None = None
    redemption_id: str | None = None
    cash_value: Decimal = Decimal(0)
    currency: str = "CNY"
    lots: list[dict[str, Any]] = Field(default_factory=list)
    outcome: dict[str, Any] = Field(default_factory=dict)
    replayed: bool = False


class AdjustIn(_Input):
    points: int = Field(ge=-100_000_000, le=100_000_000)
    reason: str = Field(min_length=2, max_length=500)

    @model_validator(mode="after")
    def _not_zero(self) -> AdjustIn:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


class AdjustAnswer(BaseModel):
    status: Literal["applied", "pending_approval"]
    request_id: str | None
    entry_id: int | None
    points: int
    points_balance: int
    replayed: bool = False


class AdjustmentOut(BaseModel):
    id: str
    account_id: str
    customer_id: str
    points: int
    reason: str
    status: str
    requested_by: str
    requested_by_name: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    entry_id: int | None


class DecisionIn(_Input):
    note: str | None = Field(default=None, max_length=500)


class ActionIn(_Input):
    action: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    reference: str | None = Field(default=None, min_length=1, max_length=64)


class ActionAnswer(BaseModel):
    action: str
    reference: str
    points: int
    growth: int
    awards: list[Award]
    notes: list[str]
    checkin_streak: int
    points_balance: int
    growth_value: int
    tier: str
    tier_change: dict[str, str] | None
    replayed: bool = False


class TierChangeOut(BaseModel):
    from_tier: str | None
    to_tier: str
    kind: str
    reason: str
    # The reason as a catalog code and its figures ({"code": ..., "params": {...}}); None on
    # changes recorded before it was kept, which only have `reason`.
    detail: dict[str, Any] | None = None
    value: Decimal
    created_at: datetime


class TransferIn(_Input):
    to_customer_id: str = Field(min_length=1, max_length=26)
    points: Points
    note: str | None = Field(default=None, max_length=200)
