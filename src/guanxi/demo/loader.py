"""Load the demo: staff users of every role, customers, identities, tags, notes, B2B accounts.

Rows are written with bulk inserts in batches, inside one unit of work, so a failed load leaves
nothing behind. Identities are normalized with the real functions and encrypted and indexed with
the platform's cipher exactly as `customers.identities.build` does (checked at the start of every
load), so search, lookup and masking work as for customers created through the API.

The load is recorded as one audit record (action `demo.load`, counts only). That record marks the
database as holding demo data: loading again reuses it and adds nothing. Demo data is only loaded
into a database without customers, so it never mixes with a brand's real members. The order
history is replayed afterwards through the loyalty services (`demo.orders`), once as well.
"""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.auth.models import StaffUser
from guanxi.config import get_settings
from guanxi.customers import identities as identity_store
from guanxi.customers import places
from guanxi.customers.models import (
    Account,
    AccountContact,
    Customer,
    CustomerIdentity,
    CustomerNote,
    CustomerTag,
)
from guanxi.customers.normalize import ENCRYPTED_KINDS, IdentityKind
from guanxi.demo import behaviour as demo_behaviour
from guanxi.demo import data
from guanxi.demo import orders as demo_orders
from guanxi.demo import targets as demo_targets
from guanxi.demo.generate import AccountProfile, CustomerProfile, DemoGenerator, account_count
from guanxi.demo.words import count as figure
from guanxi.demo.words import said
from guanxi.kit import clock, formatting, sequence
from guanxi.kit.crypto import FieldCipher, get_cipher
from guanxi.kit.db import Database
from guanxi.kit.i18n import t
from guanxi.kit.principal import SYSTEM
from guanxi.privacy import audit
from guanxi.privacy.models import AuditRecord

DEFAULT_SEED = 888
BATCH = 2000
AUDIT_ACTION = "demo.load"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoUser:
    role: str
    username: str
    password: str
    display_name: str
    region: str | None = None
    team: str | None = None
    scope: str | None = None


DEMO_REGION = "华东"
DEMO_TEAM = "华东一组"

# One login per role; the password is the role name followed by "-demo".
DEMO_USERS: list[DemoUser] = [
    DemoUser("admin", "admin", "admin-demo", "系统管理员"),
    DemoUser("manager", "manager", "manager-demo", "华东区经理 周静", region=DEMO_REGION, scope="region"),
    DemoUser("sales", "sales", "sales-demo", "销售 李强", region=DEMO_REGION, team=DEMO_TEAM, scope="own"),
    DemoUser("service", "service", "service-demo", "客服 王芳"),
    DemoUser("marketing", "marketing", "marketing-demo", "市场 刘洋"),
    DemoUser("analyst", "analyst", "analyst-demo", "数据分析 陈晨"),
    DemoUser("auditor", "auditor", "auditor-demo", "合规审计 赵敏"),
    DemoUser("integration", "integration", "integration-demo", "系统集成 POS"),
]

# The identity kinds the summary counts, in this order (names: catalog `demo.identity.<kind>`).
_IDENTITY_KINDS = (
    IdentityKind.PHONE,
    IdentityKind.EMAIL,
    IdentityKind.RESIDENT_ID,
    IdentityKind.WECHAT_UNIONID,
    IdentityKind.WECHAT_OPENID,
    IdentityKind.APP_USER_ID,
    IdentityKind.MEMBER_CARD,
    IdentityKind.EXTERNAL_ID,
)


@dataclass
class DemoSummary:
    customers: int = 0
    identities: dict[str, int] = field(default_factory=dict)
    tags: int = 0
    notes: int = 0
    accounts: int = 0
    contacts: int = 0
    new_this_week: int = 0
    users_created: list[str] = field(default_factory=list)
    users_kept: list[str] = field(default_factory=list)
    seconds: float = 0.0
    seed: int = DEFAULT_SEED
    reused: bool = False
    loaded_at: datetime | None = None
    refused: str | None = None
    existing_customers: int = 0  # why a load was refused: customers that are not demo data
    orders: demo_orders.OrdersSummary | None = None
    behaviour: demo_behaviour.BehaviourSummary | None = None

    def describe(self, language: str) -> str:
        """What was loaded (or why nothing was), in `language`: the CLI shows it to the operator."""

        def say(key: str, **params: object) -> str:
            return t(key, language, **params)

        def count(value: int) -> str:
            return formatting.number(value, language)

        if self.refused:
            return say("demo.cli.refused", count=count(self.existing_customers))
        separator = "，" if language == "zh-CN" else ", "
        kinds = separator.join(
            say("demo.cli.identity", count=count(self.identities[kind.value]), kind=say(f"demo.identity.{kind.value}"))
            for kind in _IDENTITY_KINDS
            if self.identities.get(kind.value)
        )
        if self.reused and self.loaded_at:
            head = say("demo.cli.reused", when=formatting.moment(self.loaded_at, language))
        elif self.reused:
            head = say("demo.cli.reused_unknown")
        else:
            head = say("demo.cli.loaded", seconds=formatting.number(self.seconds, language, decimals=1), seed=self.seed)
        lines = [
            head,
            say(
                "demo.cli.customers",
                customers=count(self.customers),
                new=count(self.new_this_week),
                tags=count(self.tags),
                notes=count(self.notes),
            ),
            say("demo.cli.identities", kinds=kinds or say("demo.cli.none")),
            say("demo.cli.accounts", accounts=count(self.accounts), contacts=count(self.contacts)),
            say("demo.cli.users", count=len(DEMO_USERS)),
        ]
        if self.users_kept and not self.reused:
            lines.append(say("demo.cli.users_kept", users=", ".join(self.users_kept)))
        if self.orders is not None and (self.orders.orders or self.orders.reused):
            lines.extend(self.orders.describe(language))
        if self.behaviour is not None:
            lines.extend(self.behaviour.describe(language))
        lines.append(say("demo.cli.logins"))
        lines.extend(f"  {_pad(say(f'role.{u.role}'), 14)} {u.username:12} / {u.password}" for u in DEMO_USERS)
        return "\n".join(lines)


def _pad(text: str, width: int) -> str:
    """Pad to a terminal width: a Chinese character takes two columns."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def load(
    database: Database,
    *,
    customers: int = 5000,
    orders: int | None = 0,
    behaviour: bool = True,
    progress: Progress | None = None,
    seed: int = DEFAULT_SEED,
) -> DemoSummary:
    """Load `customers` demo customers (and users, accounts, ...) once, then `orders` orders of
    history (None: `ORDERS_PER_CUSTOMER` per customer; 0: none), then behaviour events and
    duplicate sign-ups (`demo.behaviour`); later calls reuse them."""
    summary = _load_people(database, customers=customers, progress=progress, seed=seed)
    if summary.refused is None and orders != 0:
        count = demo_orders.ORDERS_PER_CUSTOMER * summary.customers if orders is None else orders
        summary.orders = demo_orders.load_orders(database, orders=count, seed=summary.seed, progress=progress)
    if summary.refused is None and behaviour:
        summary.behaviour = demo_behaviour.load_behaviour(database, seed=summary.seed, progress=progress)
        demo_targets.set_plan(database)  # after the behaviour's night: its analytics run gives the baselines
    fresh = not summary.reused or (summary.orders is not None and not summary.orders.reused)
    if summary.refused is None and (fresh or (summary.behaviour is not None and not summary.behaviour.reused)):
        database.analyze()
    return summary


def _load_people(database: Database, *, customers: int, progress: Progress | None, seed: int) -> DemoSummary:
    say: Progress = progress or (lambda _message: None)
    started = time.perf_counter()
    with database.unit_of_work() as session:
        previous = session.scalar(
            select(AuditRecord).where(AuditRecord.action == AUDIT_ACTION).order_by(AuditRecord.seq.desc()).limit(1)
        )
        if previous is not None:
            summary = _existing(session)
            summary.reused = True
            summary.loaded_at = clock.as_utc(previous.occurred_at)
            summary.seed = int((previous.detail or {}).get("seed", seed))
            say(said("demo.progress.reusing", count=figure(summary.customers)))
            return summary
        existing = session.scalar(select(func.count()).select_from(Customer)) or 0
        if existing:
            return DemoSummary(
                existing_customers=existing,
                refused=f"the database already holds {existing:,} customers that are not demo data "
                "(demo data is only loaded into a database without customers)",
            )
        summary = DemoSummary(seed=seed)
        users = _ensure_users(session, summary, say)
        loader = _Loader(session, users, seed, summary, say)
        loader.customers(customers)
        loader.accounts(account_count(customers))
        summary.seconds = time.perf_counter() - started
        audit.record(
            session,
            SYSTEM,
            AUDIT_ACTION,
            entity_type="demo",
            detail={
                "seed": seed,
                "customers": summary.customers,
                "identities": summary.identities,
                "tags": summary.tags,
                "notes": summary.notes,
                "accounts": summary.accounts,
                "contacts": summary.contacts,
                "users_created": len(summary.users_created),
            },
        )
    summary.seconds = time.perf_counter() - started
    say(said("demo.progress.committed", seconds=figure(summary.seconds, 1)))
    return summary


def _ensure_users(session: Session, summary: DemoSummary, say: Progress) -> dict[str, StaffUser]:
    say(said("demo.progress.users", count=len(DEMO_USERS)))
    users: dict[str, StaffUser] = {}
    for demo_user in DEMO_USERS:
        user = auth_service.find_user_by_username(session, demo_user.username)
        if user is None:
            user = auth_service.create_user(
                session,
                SYSTEM,
                username=demo_user.username,
                password=demo_user.password,
                role=demo_user.role,
                display_name=demo_user.display_name,
                region=demo_user.region,
                team=demo_user.team,
                scope=demo_user.scope,
            )
            summary.users_created.append(user.username)
        else:
            summary.users_kept.append(user.username)
        users[demo_user.role] = user
    return users


def _existing(session: Session) -> DemoSummary:
    """Counts of what an earlier load left (as it is now)."""

    def count(model: Any, *where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    week_ago = clock.now() - timedelta(days=7)
    live = Customer.deleted_at.is_(None)
    kinds = session.execute(select(CustomerIdentity.kind, func.count()).group_by(CustomerIdentity.kind)).all()
    return DemoSummary(
        customers=count(Customer, live),
        identities={str(kind): int(n) for kind, n in kinds},
        tags=count(CustomerTag),
        notes=count(CustomerNote),
        accounts=count(Account, Account.deleted_at.is_(None)),
        contacts=count(AccountContact),
        new_this_week=count(Customer, live, Customer.created_at >= week_ago),
    )


def _batches(count: int, size: int) -> Iterator[range]:
    for start in range(0, count, size):
        yield range(start, min(start + size, count))


def _insert(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """One executemany per batch (NULLs rendered so every row has the same columns)."""
    if rows:
        session.execute(insert(model).execution_options(render_nulls=True), list(rows))


class _Loader:
    def __init__(
        self, session: Session, users: dict[str, StaffUser], seed: int, summary: DemoSummary, say: Progress
    ) -> None:
        self.session = session
        self.users = users
        self.summary = summary
        self.say = say
        self.now = clock.now()
        self.generator = DemoGenerator(seed, self.now, get_settings().timezone)
        self.cipher = _checked_cipher()
        self.kinds: Counter[str] = Counter()

    def customers(self, count: int) -> None:
        started = time.perf_counter()
        self.say(said("demo.progress.customers", count=figure(count)))
        joined = self.generator.join_times(count)
        numbers = sequence.reserve_block(self.session, "member_no", count, start=10000001) if count else range(0)
        week_ago = self.now - timedelta(days=7)
        next_report = started + 5
        for batch in _batches(count, BATCH):
            profiles = [self.generator.customer(i, joined[i]) for i in batch]
            self._write_customers(profiles, [numbers[i] for i in batch])
            self.summary.customers += len(profiles)
            self.summary.new_this_week += sum(1 for p in profiles if p.created_at >= week_ago)
            if time.perf_counter() >= next_report and batch.stop < count:
                rate = batch.stop / (time.perf_counter() - started)
                self.say(
                    said(
                        "demo.progress.customers_done", done=figure(batch.stop), count=figure(count), rate=figure(rate)
                    )
                )
                next_report = time.perf_counter() + 5
        self.summary.identities = dict(sorted(self.kinds.items()))

    def _write_customers(self, profiles: list[CustomerProfile], numbers: list[int]) -> None:
        encrypt, index = self.cipher.encrypt, self.cipher.blind_index
        sales = self.users["sales"]
        customer_rows: list[dict[str, Any]] = []
        identity_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        note_rows: list[dict[str, Any]] = []
        for profile, number in zip(profiles, numbers, strict=True):
            customer_rows.append(
                {
                    "id": profile.id,
                    "member_no": f"GX{number:010d}",
                    "name": profile.name,
                    "name_pinyin": profile.name_pinyin,
                    "name_initials": profile.name_initials,
                    "gender": profile.gender,
                    "birthday": profile.birthday,
                    # official names and division codes, the district read from the address
                    **places.normalise(profile.province, profile.city, None, profile.address).columns(),
                    "occupation": profile.occupation,
                    "income_band": profile.income_band,
                    "preferred_channel": profile.preferred_channel,
                    "preferred_language": profile.preferred_language,
                    "source_channel": profile.source_channel,
                    "owner_id": sales.id if profile.owned else None,
                    "team": sales.team if profile.owned else None,
                    "region": profile.region,
                    "address_enc": encrypt(profile.address, context="address") if profile.address else None,
                    "deleted_at": None,
                    "created_at": profile.created_at,
                    "updated_at": profile.updated_at,
                }
            )
            for ident in profile.identities:
                kind = ident.kind.value
                sealed = ident.kind in ENCRYPTED_KINDS
                identity_rows.append(
                    {
                        "id": ident.id,
                        "customer_id": profile.id,
                        "kind": kind,
                        "namespace": ident.namespace,
                        "value_index": index(_index_scope(kind, ident.namespace), ident.value),
                        "value_enc": encrypt(ident.value, context=kind) if sealed else None,
                        "value_plain": None if sealed else ident.value,
                        "verified": ident.verified,
                        "created_at": ident.created_at,
                    }
                )
                self.kinds[kind] += 1
            for tag, role, when in profile.tags:
                tag_rows.append(
                    {
                        "customer_id": profile.id,
                        "tag": tag,
                        "source": "manual",
                        "created_by": self.users[role].id,
                        "created_at": when,
                    }
                )
            for note_id, role, body, when in profile.notes:
                author = self.users[role]
                note_rows.append(
                    {
                        "id": note_id,
                        "customer_id": profile.id,
                        "author_id": author.id,
                        "author_name": author.username,
                        "body": body,
                        "created_at": when,
                    }
                )
        _insert(self.session, Customer, customer_rows)
        _insert(self.session, CustomerIdentity, identity_rows)
        _insert(self.session, CustomerTag, tag_rows)
        _insert(self.session, CustomerNote, note_rows)
        self.summary.tags += len(tag_rows)
        self.summary.notes += len(note_rows)

    def accounts(self, count: int) -> None:
        self.say(said("demo.progress.accounts", count=figure(count)))
        profiles = self.generator.accounts(count)
        _insert(self.session, Account, [self._account_row(a) for a in profiles])
        contact_rows = [
            {
                "id": c.id,
                "account_id": a.id,
                "customer_id": c.customer_id,
                "title": c.title,
                "is_primary": c.is_primary,
                "created_at": c.created_at,
            }
            for a in profiles
            for c in a.contacts
        ]
        _insert(self.session, AccountContact, contact_rows)
        marketing = self.users["marketing"]
        _insert(
            self.session,
            CustomerTag,
            [
                {
                    "customer_id": row["customer_id"],
                    "tag": data.CONTACT_TAG,
                    "source": "manual",
                    "created_by": marketing.id,
                    "created_at": row["created_at"],
                }
                for row in contact_rows
            ],
        )
        self.summary.accounts = len(profiles)
        self.summary.contacts = len(contact_rows)
        self.summary.tags += len(contact_rows)

    def _account_row(self, account: AccountProfile) -> dict[str, Any]:
        sales = self.users["sales"]
        return {
            "id": account.id,
            "name": account.name,
            "uscc": account.uscc,
            "industry": account.industry,
            "province": account.province,
            "city": account.city,
            "region": account.region,
            "owner_id": sales.id if account.owned else None,
            "team": sales.team if account.owned else None,
            "deleted_at": None,
            "created_at": account.created_at,
            "updated_at": account.created_at,
        }


def _index_scope(kind: str, namespace: str) -> str:
    """The blind-index scope `customers.identities.blind_index` uses for a kind and namespace."""
    return f"{kind}/{namespace}"


def _checked_cipher() -> FieldCipher:
    """The platform cipher, after proving that rows written with it read back like API-made ones.

    `customers.identities` looks the cipher up on every call; a bulk load holds it once, and this
    check fails the load if the identity scheme (index scope, encryption context) ever changes.
    """
    cipher = get_cipher()
    probe = identity_store.NormalizedIdentity("probe", IdentityKind.PHONE, "", "+8613800138000")
    reference = identity_store.build("probe", probe)
    ours = cipher.encrypt(probe.value, context=probe.kind.value)
    readable = identity_store.clear_value(
        CustomerIdentity(kind=probe.kind.value, namespace="", value_index="", value_enc=ours)
    )
    namespaced = identity_store.NormalizedIdentity("probe", IdentityKind.WECHAT_OPENID, "wx-app", "o-probe")
    if (
        reference.value_index != cipher.blind_index(_index_scope("phone", ""), probe.value)
        or namespaced.index != cipher.blind_index(_index_scope("wechat_openid", "wx-app"), namespaced.value)
        or readable != probe.value
    ):
        raise RuntimeError("the demo loader's identity encoding no longer matches customers.identities")
    return cipher
