"""The data set the language test renders every console page with, built once per test module.

It is the demo (`guanxi.demo.loader`, a small one: customers with orders, points, coupons, check-ins,
redemptions, events, tags, notes, B2B accounts, segments, tag rules, duplicates), plus an import
job with refused rows, a customer note and a manual tag, and two admins: one reading Chinese, one
English.

What staff or customers typed is data, not the product's language: a Chinese brand's customers
have Chinese names on the English console too. `typed_values` lists those values (by table and
column, reviewed below) so that the scan can take them out of a text before judging the rest.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.customers import notes
from guanxi.customers import service as customer_service
from guanxi.customers.models import Customer
from guanxi.dataio import service as imports
from guanxi.demo import campaigns, loader
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.migrations.all_models import metadata
from tests.factories import create_staff

CUSTOMERS = 30
ORDERS = 150
ADMINS = {"zh-CN": "lang-admin-zh", "en": "lang-admin-en"}

# (table, column): values typed by staff, customers or the brand (names, places, notes, tags,
# codes and names the brand gave its rewards, coupons, segments and rules, file names). Not in
# the list on purpose: tier names (the product shows `name_en` in English), event type labels
# (label_zh / label_en), enumerations and codes the product defines (gender, channel, status,
# kind, audit actions): those must be shown in the page's language.
TYPED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customers", "name"),
    ("customers", "member_no"),
    ("customers", "name_pinyin"),
    ("customers", "province"),
    ("customers", "city"),
    ("customers", "district"),
    ("customers", "occupation"),
    ("customers", "team"),
    ("customers", "region"),
    ("customer_identities", "value_plain"),
    ("customer_identities", "namespace"),
    ("customer_notes", "body"),
    ("customer_notes", "author_name"),
    ("customer_tags", "tag"),
    ("customer_tag_history", "tag"),
    ("accounts", "name"),
    ("accounts", "uscc"),
    ("accounts", "industry"),
    ("accounts", "province"),
    ("accounts", "city"),
    ("accounts", "region"),
    ("accounts", "team"),
    ("account_contacts", "title"),
    ("staff_users", "username"),
    ("staff_users", "display_name"),
    ("staff_users", "region"),
    ("staff_users", "team"),
    ("segments", "name"),
    ("segments", "description"),
    ("tag_rules", "code"),
    ("tag_rules", "tag"),
    ("tag_rules", "description"),
    ("import_jobs", "file_name"),
    ("import_jobs", "actor_name"),
    ("import_mappings", "name"),
    ("loyalty_programs", "name"),
    ("loyalty_coupon_templates", "code"),
    ("loyalty_coupon_templates", "name"),
    ("loyalty_coupon_templates", "gift_sku"),
    ("loyalty_coupons", "code"),
    ("loyalty_rewards", "code"),
    ("loyalty_rewards", "name"),
    ("loyalty_rewards", "description"),
    ("loyalty_rules", "code"),
    ("loyalty_partners", "code"),
    ("loyalty_partners", "name"),
    ("loyalty_accounts", "referral_code"),
    ("loyalty_orders", "store"),
    ("loyalty_orders", "source"),
    ("loyalty_orders", "external_id"),
    ("loyalty_order_lines", "sku"),
    ("loyalty_order_lines", "category"),
    ("loyalty_point_entries", "note"),
    ("loyalty_point_entries", "reference"),
    ("loyalty_adjustment_requests", "reason"),
    ("loyalty_adjustment_requests", "requested_by_name"),
    ("loyalty_adjustment_requests", "decision_note"),
    ("customer_merges", "actor_name"),
    ("audit_records", "actor_name"),
    ("background_runs", "actor_name"),
)
# JSON columns whose string values (not keys) are typed data: event properties (a product's name,
# a search query), a rule's display name inside its definition.
TYPED_JSON: tuple[tuple[str, str], ...] = (("customer_events", "properties"),)

IMPORT_FILE = "姓名,手机号,生日,城市\n林晓,13912345678,1990-02-30,杭州市\n周宁,12345,1988-07-01,上海市\n".encode()


@dataclass
class World:
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> id
    typed: set[str] = field(default_factory=set)
    audit_actions: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # what could not be made (named on failure)


def _table(name: str) -> Table | None:
    return metadata.tables.get(name)


def _first(session: Session, table_name: str, *where: Any, order: Any = None) -> str | None:
    table = _table(table_name)
    if table is None:
        return None
    key = next(iter(table.primary_key.columns))
    query = select(key).where(*where).limit(1)
    if order is not None:
        query = query.order_by(order)
    value = session.scalar(query)
    return str(value) if value is not None else None


def _busiest_customer(session: Session) -> str:
    """The customer with the most to show: orders, coupons, events and point entries."""
    counts: dict[str, int] = {}
    accounts = metadata.tables["loyalty_accounts"]
    entries = metadata.tables["loyalty_point_entries"]
    queries = [
        select(table.c.customer_id, func.count()).group_by(table.c.customer_id)
        for table in (metadata.tables[name] for name in ("loyalty_orders", "loyalty_coupons", "customer_events"))
    ]
    queries.append(
        select(accounts.c.customer_id, func.count())
        .join(entries, entries.c.account_id == accounts.c.id)
        .group_by(accounts.c.customer_id)
    )
    for query in queries:
        for customer_id, count in session.execute(query):
            if customer_id is not None:
                counts[customer_id] = counts.get(customer_id, 0) + min(int(count), 20)
    return max(sorted(counts), key=lambda c: counts[c])


def _import_job(database: Database) -> str:
    """A finished customer import with one kept and two refused rows (a date, a phone)."""
    folder = Path(tempfile.mkdtemp(prefix="guanxi-language-"))
    path = folder / "会员名单.csv"
    path.write_bytes(IMPORT_FILE)
    with database.unit_of_work() as session:
        admin = _admin(session)
        job = imports.create_job(session, admin, kind="customers", file_name=path.name, path=path)
        job_id = job.id
    imports.run_job(database, job_id)
    return job_id


def _simulation_run(database: Database) -> str:
    """A finished loyalty simulation (three months replayed under the current program)."""
    from guanxi.loyalty.insights import simulation

    with database.unit_of_work() as session:
        admin = _admin(session)
        run_id = simulation.start(session, admin, simulation.ScenarioIn(months=3), database).id
    for _ in range(600):  # the run goes on in the background; it ends in a few seconds
        with database.unit_of_work(read_only=True) as session:
            if simulation.get_run(session, admin, run_id).status in ("done", "failed"):
                return str(run_id)
        time.sleep(0.1)
    raise RuntimeError(f"simulation run {run_id} did not finish")


def _admin(session: Session) -> Principal:
    user = auth_service.find_user_by_username(session, "admin")
    assert user is not None, "the demo's admin is missing"
    return auth_service.principal_for(user)


def _ids(session: Session, customer_id: str, job_id: str) -> dict[str, str]:
    orders = metadata.tables["loyalty_orders"]
    ids = {
        "customer_id": customer_id,
        "account_id": _first(session, "accounts"),
        "segment_id": _first(session, "segments"),
        "rule_id": _first(session, "tag_rules"),
        "job_id": job_id,
        "import_id": job_id,
        "order_id": _first(session, "loyalty_orders", orders.c.customer_id == customer_id),
        "reward_id": _first(session, "loyalty_rewards"),
        "template_id": _first(session, "loyalty_coupon_templates"),
        "event_type_id": _first(session, "event_types"),
        "candidate_id": _first(session, "customer_duplicate_candidates"),
        "merge_id": _first(session, "customer_merges"),
        "user_id": _first(session, "staff_users"),
        "mapping_id": _first(session, "import_mappings"),
    }
    return {name: value for name, value in ids.items() if value is not None}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def typed_values(session: Session) -> set[str]:
    values: set[str] = set()
    for table_name, column in TYPED_COLUMNS:
        table = _table(table_name)
        if table is None or column not in table.c:
            continue
        values.update(v for v in session.scalars(select(table.c[column]).distinct()) if isinstance(v, str))
    for customer in session.scalars(select(Customer)):
        address = customer_service.identity_plain_address(customer)
        if address:
            values.add(address)
    # The demo brand's own rule names (the product's default rules are not data: their names are
    # the product's words and must follow the page's language).
    values.update(rule["name"] for rule in campaigns.earning_rules(date(2024, 1, 1), date(2024, 12, 31)))
    # A custom type's property names are the brand's own identifiers, shown as it declared them
    # (the product's built-in types show display names for theirs).
    types = _table("event_types")
    if types is not None:
        for declared in session.scalars(select(types.c.properties).where(types.c.builtin.is_(False))):
            values.update(declared or {})
    for table_name, column in TYPED_JSON:
        table = _table(table_name)
        if table is not None and column in table.c:
            for document in session.scalars(select(table.c[column])):
                values.update(_strings(document))
    return values


def build(database: Database) -> World:
    """Load the demo and the extras; the ids of what the pages show and the typed values."""
    loader.load(database, customers=CUSTOMERS, orders=ORDERS)
    with database.unit_of_work() as session:
        for language, username in ADMINS.items():
            user = create_staff(session, username=username, role="admin")
            auth_service.set_language(session, user.id, language)
        customer_id = _busiest_customer(session)
        notes.add_note(session, SYSTEM, customer_id, "客户希望周末到店试穿新款跑鞋。")
        notes.add_tag(session, SYSTEM, customer_id, "高潜")
    job_id = _import_job(database)
    problems = []
    try:
        run_id: str | None = _simulation_run(database)
    except Exception as exc:  # the page's test then fails naming this
        run_id, problems = None, [f"no simulation run: {type(exc).__name__}: {exc}"]
    with database.unit_of_work(read_only=True) as session:
        world = World(ids=_ids(session, customer_id, job_id), typed=typed_values(session), problems=problems)
        if run_id is not None:
            world.ids["run_id"] = run_id
        world.audit_actions = {a for a in session.scalars(select(metadata.tables["audit_records"].c.action).distinct())}
    return world


def refresh_typed(database: Database, world: World) -> None:
    """Values typed since the build (the test's own logins write audit records with names)."""
    with database.unit_of_work(read_only=True) as session:
        world.typed |= typed_values(session)
