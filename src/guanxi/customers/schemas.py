"""API shapes for customers, identities, notes, tags and accounts.

Input models forbid unknown fields and bound every string, so bad input is a 422 naming the field.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from guanxi.customers.normalize import display_name
from guanxi.kit.inputs import BusinessDate, PatchInput
from guanxi.kit.text import StorableInput

Gender = Literal["male", "female", "unknown"]
IncomeBand = Literal["lt5k", "5k_10k", "10k_20k", "20k_50k", "gt50k"]
Channel = Literal["sms", "wechat", "email", "phone", "app", "none"]
SourceChannel = Literal[
    "store", "wechat", "mini_program", "app", "web", "tmall", "jd", "douyin", "referral", "import", "other"
]
Language = Literal["zh-CN", "en"]
IdentityKindName = Literal[
    "phone",
    "email",
    "resident_id",
    "wechat_openid",
    "wechat_unionid",
    "app_user_id",
    "member_card",
    "external_id",
    "anonymous_id",
]

ShortText = Annotated[str, StringConstraints(max_length=40)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=40, strip_whitespace=True)]

GENDERS: tuple[str, ...] = ("male", "female", "unknown")
INCOME_BANDS: tuple[str, ...] = ("lt5k", "5k_10k", "10k_20k", "20k_50k", "gt50k")
CHANNELS: tuple[str, ...] = ("sms", "wechat", "email", "phone", "app", "none")
SOURCE_CHANNELS: tuple[str, ...] = (
    "store",
    "wechat",
    "mini_program",
    "app",
    "web",
    "tmall",
    "jd",
    "douyin",
    "referral",
    "import",
    "other",
)


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IdentityIn(_Input):
    kind: IdentityKindName
    value: str = Field(min_length=1, max_length=254)
    namespace: str = Field(
        default="", max_length=64, description="WeChat app id for openids; source system for external ids"
    )
    verified: bool = False


class ProfileFields(_Input):
    gender: Gender | None = None
    birthday: BusinessDate | None = None
    province: ShortText | None = None
    city: ShortText | None = None
    district: ShortText | None = None
    occupation: str | None = Field(default=None, max_length=60)
    income_band: IncomeBand | None = None
    preferred_channel: Channel | None = None
    preferred_language: Language | None = None
    source_channel: SourceChannel | None = None
    owner_id: str | None = Field(default=None, max_length=26)
    region: ShortText | None = None
    address: str | None = Field(default=None, max_length=300)


class CustomerCreate(ProfileFields):
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    resident_id: str | None = Field(default=None, max_length=32)
    wechat_unionid: str | None = Field(default=None, max_length=128)
    member_card: str | None = Field(default=None, max_length=128)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class CustomerUpdate(ProfileFields, PatchInput):
    # null clears a profile field (gender back to unknown); a name and a language are always set.
    clearable: ClassVar[frozenset[str]] = frozenset(ProfileFields.model_fields) - {"preferred_language"}
    name: str | None = Field(default=None, min_length=1, max_length=100)


class IdentityOut(BaseModel):
    id: str
    kind: str
    namespace: str
    value: str | None = Field(description="Masked or hidden unless the caller may see it")
    verified: bool
    created_at: datetime


class CustomerOut(BaseModel):
    id: str
    member_no: str
    name: str | None = Field(description="None when the customer has no name (imported without one)")
    gender: str
    birthday: date | None
    province: str | None
    city: str | None
    district: str | None
    # Administrative division codes (GB/T 2260); None where the place names no division.
    province_code: str | None
    city_code: str | None
    district_code: str | None
    occupation: str | None
    income_band: str | None
    preferred_channel: str | None
    preferred_language: str
    source_channel: str | None
    owner_id: str | None
    region: str | None
    phone: str | None
    email: str | None
    address: str | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    @computed_field(description="How to show the customer: the name as you may see it, else the member number")  # type: ignore[prop-decorator]
    @property
    def display_name(self) -> str:
        return display_name(self.name, self.member_no)


class ChurnReasonOut(BaseModel):
    code: str
    key: str = Field(description="catalog key of the sentence")
    params: dict[str, float | int]
    text: str = Field(description="the reason in the caller's language")


class CustomerScoresOut(BaseModel):
    """The latest analytics run's scores (absent before the first run, and for who refused profiling)."""

    as_of: date
    recency_days: int | None
    frequency: int
    monetary: Decimal
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_score: float | None
    rfm_segment: str | None
    lifecycle_stage: str | None
    lifecycle_since: date | None
    value_tier: str | None
    clv: Decimal | None
    p_alive: float | None
    expected_purchases: float | None = Field(description="expected purchases in the next 90 days")
    churn_risk: float | None = Field(description="health score: 0 (healthy) to 100 (slipping away)")
    churn_probability: float | None = Field(description="the churn model's probability of no purchase in 90 days")
    churn_band: str | None
    churn_reasons: list[ChurnReasonOut]
    cluster: int | None
    cluster_name: str | None


class CustomerDetail(CustomerOut):
    identities: list[IdentityOut]
    scores: CustomerScoresOut | None = None


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class NoteIn(_Input):
    body: str = Field(min_length=1, max_length=5000)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    customer_id: str
    author_id: str
    author_name: str
    body: str
    created_at: datetime


class TagIn(_Input):
    tag: Tag


class AccountCreate(_Input):
    name: str = Field(min_length=1, max_length=200)
    uscc: str | None = Field(default=None, max_length=32)
    industry: str | None = Field(default=None, max_length=60)
    province: ShortText | None = None
    city: ShortText | None = None
    region: ShortText | None = None
    owner_id: str | None = Field(default=None, max_length=26)


class AccountUpdate(_Input, PatchInput):
    clearable: ClassVar[frozenset[str]] = frozenset({"uscc", "industry", "province", "city", "region", "owner_id"})
    name: str | None = Field(default=None, min_length=1, max_length=200)
    uscc: str | None = Field(default=None, max_length=32)
    industry: str | None = Field(default=None, max_length=60)
    province: ShortText | None = None
    city: ShortText | None = None
    region: ShortText | None = None
    owner_id: str | None = Field(default=None, max_length=26)


class ContactIn(_Input):
    customer_id: str = Field(min_length=26, max_length=26)
    title: str | None = Field(default=None, max_length=60)
    is_primary: bool = False


class ContactOut(BaseModel):
    id: str
    customer_id: str
    name: str | None
    title: str | None
    is_primary: bool


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    uscc: str | None
    industry: str | None
    province: str | None
    city: str | None
    region: str | None
    owner_id: str | None
    created_at: datetime
    updated_at: datetime


class AccountDetail(AccountOut):
    contacts: list[ContactOut]


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None


class CustomerStats(BaseModel):
    total: int
    new_this_week: int
    by_city: list[tuple[str, int]]
    by_region: list[tuple[str, int]]
