"""API shapes for the reward catalog and coupons. Inputs forbid unknown fields and bound every value;
rules that span fields (a percentage needs 0 < value <= 100, a gift needs its SKU...) are checked by
the services so every error names its field."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from guanxi.kit.inputs import AwareBusinessDateTime, FreeJSON, PatchInput
from guanxi.kit.text import StorableInput
from guanxi.loyalty.program.schemas import Amount

CatalogCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"), max_digits=12, decimal_places=2)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=26)]
RewardKind = Literal["goods", "service", "cash_offset", "lottery"]
CouponKind = Literal["fixed_amount", "percentage", "free_shipping", "gift"]
Trigger = Literal["manual", "birthday", "tier_upgrade", "win_back", "referral"]
# Outputs show money with its two decimals whether it came from the database or from a default.
Cents = Annotated[Decimal, AfterValidator(lambda v: v.quantize(Decimal("0.01")))]


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PrizeIn(_Input):
    code: CatalogCode
    name: str = Field(min_length=1, max_length=100)
    name_en: str = Field(default="", max_length=100)
    weight: int = Field(ge=0, le=1_000_000)
    kind: Literal["nothing", "points", "coupon", "goods"]
    points: int | None = Field(default=None, ge=1, le=1_000_000)
    coupon_template_id: Id | None = None
    cost: Money | None = Field(default=None, description="Cost to the budget; points prizes default to their value")


class _RewardFields(_Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    name_en: str = Field(default="", max_length=100, description="English name; empty shows the name")
    description: str = Field(default="", max_length=2000)
    points_cost: int = Field(default=0, ge=0, le=100_000_000)
    stock: int | None = Field(default=None, ge=0, le=100_000_000)
    per_customer_limit: int | None = Field(default=None, ge=1, le=100_000)
    min_tier: str | None = Field(default=None, max_length=40, description="Lowest tier code that may redeem")
    active: bool = True
    valid_from: AwareBusinessDateTime | None = None
    valid_to: AwareBusinessDateTime | None = None
    points_per_unit: int | None = Field(default=None, ge=1, le=1_000_000)
    unit_value: Money | None = None
    min_points: int | None = Field(default=None, ge=0, le=100_000_000)
    max_share_pct: Decimal | None = Field(default=None, gt=0, le=100, max_digits=5, decimal_places=2)
    prizes: list[PrizeIn] = Field(default_factory=list, max_length=50)
    budget: Money | None = None
    unit_cost: Money = Decimal(0)


class RewardIn(_RewardFields):
    code: CatalogCode
    name: str = Field(min_length=1, max_length=100)
    kind: RewardKind


class RewardPatch(_RewardFields, PatchInput):
    """Every field optional: a PATCH changes only what it names (the kind and code stay); null
    clears a limit, a window or a budget."""

    clearable: ClassVar[frozenset[str]] = frozenset(
        {
            "stock",
            "per_customer_limit",
            "min_tier",
            "valid_from",
            "valid_to",
            "points_per_unit",
            "unit_value",
            "min_points",
            "max_share_pct",
            "budget",
        }
    )


class PrizeOut(BaseModel):
    code: str
    name: str
    name_en: str = ""  # prizes stored before English names had none
    weight: int
    kind: str
    points: int | None = None
    coupon_template_id: str | None = None
    cost: Cents
    odds_pct: Decimal


class RewardOut(BaseModel):
    id: str
    code: str
    name: str
    name_en: str
    description: str
    kind: str
    points_cost: int
    stock: int | None
    redeemed_count: int
    per_customer_limit: int | None
    min_tier: str | None
    min_tier_rank: int
    active: bool
    valid_from: datetime | None
    valid_to: datetime | None
    points_per_unit: int | None
    unit_value: Cents | None
    min_points: int | None
    max_share_pct: Cents | None
    prizes: list[PrizeOut]
    budget: Cents | None
    budget_used: Cents
    unit_cost: Cents
    created_at: datetime
    updated_at: datetime


class RedemptionOut(BaseModel):
    id: str
    reward_id: str
    account_id: str
    entry_id: int | None
    points: int
    quantity: int
    cash_value: Cents
    order_reference: str | None
    status: str
    outcome: dict[str, Any]
    created_at: datetime


class CancelIn(_Input):
    reason: str = Field(min_length=2, max_length=500)


class _TemplateFields(_Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    name_en: str = Field(default="", max_length=100, description="English name; empty shows the name")
    value: Money = Decimal(0)
    max_discount: Money | None = None
    min_spend: Money = Decimal(0)
    currency: str = Field(default="CNY", pattern="^[A-Z]{3}$")
    gift_sku: str | None = Field(default=None, min_length=1, max_length=64)
    categories: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    valid_from: AwareBusinessDateTime | None = None
    valid_to: AwareBusinessDateTime | None = None
    valid_days: int | None = Field(default=None, ge=1, le=3650)
    per_customer_limit: int | None = Field(default=1, ge=1, le=10_000)
    total_quantity: int | None = Field(default=None, ge=1, le=100_000_000)
    stackable: bool = False
    stack_group: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,40}$")
    trigger: Trigger = "manual"
    trigger_params: FreeJSON = Field(default_factory=dict, max_length=10)
    active: bool = True


class CouponTemplateIn(_TemplateFields):
    code: CatalogCode
    name: str = Field(min_length=1, max_length=100)
    kind: CouponKind


class CouponTemplatePatch(_TemplateFields, PatchInput):
    """Every field optional; the kind and code stay. Changes apply to coupons issued afterwards.
    null clears a cap, a window, a limit or the stacking group."""

    clearable: ClassVar[frozenset[str]] = frozenset(
        {
            "max_discount",
            "gift_sku",
            "valid_from",
            "valid_to",
            "valid_days",
            "per_customer_limit",
            "total_quantity",
            "stack_group",
        }
    )


class CouponTemplateOut(BaseModel):
    id: str
    code: str
    name: str
    name_en: str
    kind: str
    value: Cents
    max_discount: Cents | None
    min_spend: Cents
    currency: str
    gift_sku: str | None
    categories: list[str]
    valid_from: datetime | None
    valid_to: datetime | None
    valid_days: int | None
    per_customer_limit: int | None
    total_quantity: int | None
    issued_count: int
    stackable: bool
    stack_group: str | None
    trigger: str
    trigger_params: dict[str, Any]
    active: bool
    created_at: datetime
    updated_at: datetime


class IssueIn(_Input):
    customer_ids: list[Id] | None = Field(default=None, min_length=1, max_length=1000)
    tag: str | None = Field(default=None, min_length=1, max_length=40)
    note: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_audience(self) -> IssueIn:
        if (self.customer_ids is None) == (self.tag is None):
            raise ValueError("give exactly one of customer_ids or tag")
        return self


class CouponOut(BaseModel):
    id: str
    code: str = Field(description="As printed: XXXX-XXXX-XXXXC")
    customer_id: str
    template_id: str
    template_code: str
    name: str
    name_en: str = ""
    kind: str
    status: str
    valid_from: datetime
    valid_to: datetime | None
    issued_via: str
    redeemed_at: datetime | None
    order_reference: str | None
    discount_amount: Cents | None
    created_at: datetime


class SkippedOut(BaseModel):
    customer_id: str
    reason: str


class IssueAnswer(BaseModel):
    template_id: str
    issued: list[CouponOut]
    issued_count: int
    skipped: list[SkippedOut]
    replayed: bool = False


class CouponEventOut(BaseModel):
    from_status: str | None
    to_status: str
    actor_id: str
    reason: str | None
    created_at: datetime


class CouponDetail(CouponOut):
    history: list[CouponEventOut]


class CouponPage(BaseModel):
    items: list[CouponOut]
    next_cursor: str | None


class TillLineIn(_Input):
    sku: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    quantity: int = Field(ge=1, le=100_000)
    unit_price: Amount


class _TillOrder(_Input):
    customer_id: Id
    order_amount: Amount
    currency: str = Field(default="CNY", pattern="^[A-Z]{3}$")
    shipping_amount: Amount = Decimal(0)
    lines: list[TillLineIn] = Field(default_factory=list, max_length=500)
    other_codes: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=10, description="Other coupons presented for the same order"
    )


class CouponCheckIn(_TillOrder):
    code: str = Field(min_length=1, max_length=40)


class CouponRedeemIn(_TillOrder):
    order_reference: str = Field(min_length=1, max_length=64)


class CouponQuoteOut(BaseModel):
    code: str
    coupon_id: str
    template_code: str
    name: str
    kind: str
    valid_to: datetime | None
    discount_amount: Decimal
    eligible_amount: Decimal
    free_shipping: bool
    gift_sku: str | None
    explanation: str


class CouponRedeemAnswer(CouponQuoteOut):
    status: str
    order_reference: str
    redeemed_at: datetime
    replayed: bool = False


class VoidIn(_Input):
    reason: str = Field(min_length=2, max_length=500)
