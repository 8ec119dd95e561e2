"""Customers, their identities, B2B accounts and contacts, notes and manual tags."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from guanxi.kit import clock
from guanxi.kit.models import Base, TimestampMixin, public_id_column


class Customer(TimestampMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_region_created", "region", "created_at"),
        Index("ix_customers_city", "city"),
        # the analytics warehouse pages through changed customers by this column
        Index("ix_customers_updated", "updated_at"),
    )

    id: Mapped[str] = public_id_column()
    member_no: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    # Search keys derived from the name (pinyin with surname readings, initials).
    name_pinyin: Mapped[str] = mapped_column(String(300), index=True)
    name_initials: Mapped[str] = mapped_column(String(100), index=True)
    gender: Mapped[str] = mapped_column(String(10), default="unknown")
    birthday: Mapped[date | None] = mapped_column(Date, default=None)
    province: Mapped[str | None] = mapped_column(String(40), default=None)
    city: Mapped[str | None] = mapped_column(String(40), default=None)
    district: Mapped[str | None] = mapped_column(String(40), default=None)
    # Administrative division codes (GB/T 2260) of the three levels, empty for a place none names:
    # segments and reports match and group by these (customers.places).
    province_code: Mapped[str | None] = mapped_column(String(6), default=None, index=True)
    city_code: Mapped[str | None] = mapped_column(String(6), default=None, index=True)
    district_code: Mapped[str | None] = mapped_column(String(6), default=None, index=True)
    occupation: Mapped[str | None] = mapped_column(String(60), default=None)
    income_band: Mapped[str | None] = mapped_column(String(20), default=None)
    preferred_channel: Mapped[str | None] = mapped_column(String(20), default=None)
    preferred_language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    source_channel: Mapped[str | None] = mapped_column(String(30), default=None)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"), default=None, index=True)
    team: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    region: Mapped[str | None] = mapped_column(String(40), default=None)
    address_enc: Mapped[str | None] = mapped_column(Text, default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # The person refused profiling: no analytics score is computed, kept or shown for them
    # (PIPL art. 24; the consent ledger will drive it).
    profiling_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Set (with deleted_at) when this customer was merged into another; cleared by an undo.
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), default=None, index=True)

    identities: Mapped[list[CustomerIdentity]] = relationship(
        back_populates="customer", lazy="raise", order_by="CustomerIdentity.created_at"
    )
    tags: Mapped[list[CustomerTag]] = relationship(lazy="raise", order_by="CustomerTag.tag")


class CustomerIdentity(Base):
    """One identifier of a customer. Unique per (kind, namespace, blind index) across customers."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "namespace", "value_index"),)

    id: Mapped[str] = public_id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    namespace: Mapped[str] = mapped_column(String(64), default="")
    value_index: Mapped[str] = mapped_column(String(64))
    # PII kinds keep only ciphertext; channel ids are kept in clear for display and joins.
    value_enc: Mapped[str | None] = mapped_column(Text, default=None)
    value_plain: Mapped[str | None] = mapped_column(String(128), default=None)
    verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    customer: Mapped[Customer] = relationship(back_populates="identities", lazy="raise")


class CustomerTag(Base):
    __tablename__ = "customer_tags"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CustomerNote(Base):
    __tablename__ = "customer_notes"

    id: Mapped[str] = public_id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    author_id: Mapped[str] = mapped_column(String(64))
    author_name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)


class Account(TimestampMixin, Base):
    """A business customer (B2B): a company with contacts who are customers themselves."""

    __tablename__ = "accounts"

    id: Mapped[str] = public_id_column()
    name: Mapped[str] = mapped_column(String(200), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True, default=None)
    industry: Mapped[str | None] = mapped_column(String(60), default=None)
    province: Mapped[str | None] = mapped_column(String(40), default=None)
    city: Mapped[str | None] = mapped_column(String(40), default=None)
    region: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"), default=None, index=True)
    team: Mapped[str | None] = mapped_column(String(40), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class AccountContact(Base):
    __tablename__ = "account_contacts"
    __table_args__ = (UniqueConstraint("account_id", "customer_id"),)

    id: Mapped[str] = public_id_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(60), default=None)
    is_primary: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
