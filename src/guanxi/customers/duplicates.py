"""Probable duplicate customers, found with splink (DuckDB backend) and written as candidates for
staff to review (`customers/merge.py`: list, compare, merge or dismiss).

How it works:
1. Live customers (not deleted, not merged) are read with SQLAlchemy in batches and handed to an
   in-memory DuckDB as Arrow columns: name, name pinyin and initials, gender, birthday, province,
   city, and from the encrypted identities the phone (E.164) and its last four digits, and the
   email's local part. Clear phone and email values exist only in this process's memory and the
   in-memory DuckDB for the length of the run; nothing clear is written anywhere.
2. Blocking rules keep the comparisons to pairs that share something specific (same pinyin and
   birthday, same pinyin and city, same initials and phone tail, same initials and email local
   part, same initials, birthday and city), so 1,000,000 customers make a few million pairs,
   not 5e11.
3. Each pair is scored by a Fellegi-Sunter model with fixed m and u probabilities (below), chosen
   for a Chinese consumer base: they need no training data and no download, and make a run
   reproducible. Pairs at or above the threshold (match probability 0.9 by default) become open
   candidates; a pair already reviewed (merged or dismissed) is never proposed again, and an
   open one gets its new score.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.customers.merge_models import DuplicateCandidate
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.kit import clock
from guanxi.kit.crypto import get_cipher
from guanxi.kit.ids import new_id
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.9
# About one pair in a million random pairs of customers is the same person.
PRIOR = 1e-6
BATCH = 50_000

COLUMNS = (
    "unique_id",
    "name",
    "name_pinyin",
    "name_initials",
    "gender",
    "birthday",
    "province",
    "city",
    "phone",
    "phone_tail",
    "email_local",
)


@dataclass
class DetectionReport:
    customers: int = 0
    pairs_scored: int = 0
    above_threshold: int = 0
    created: int = 0
    updated: int = 0
    skipped_reviewed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Reading customers


def _identity_values(session: Session, live: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Each live customer's first phone and email, decrypted in memory. Read without a join (the
    kind is the leading column of the identities' unique index; the live set filters), which on
    a large SQLite file saves a random look-up into customers per identity."""
    cipher = get_cipher()
    phones: dict[str, str] = {}
    emails: dict[str, str] = {}
    identities = table_of(CustomerIdentity)
    stmt = select(identities.c.customer_id, identities.c.kind, identities.c.value_enc).where(
        identities.c.kind.in_(("phone", "email"))
    )
    result = session.connection().execute(stmt.execution_options(yield_per=BATCH))
    for customer_id, kind, value_enc in result:
        if value_enc is None or customer_id not in live:
            continue
        target = phones if kind == "phone" else emails
        if customer_id not in target:
            target[customer_id] = cipher.decrypt(value_enc, context=kind)
    return phones, emails


SCHEMA = pa.schema(
    [
        ("unique_id", pa.string()),
        ("name", pa.string()),
        ("name_pinyin", pa.string()),
        ("name_initials", pa.string()),
        ("gender", pa.string()),
        ("birthday", pa.date32()),
        ("province", pa.string()),
        ("city", pa.string()),
        ("phone", pa.string()),
        ("phone_tail", pa.string()),
        ("email_local", pa.string()),
    ]
)


def read_customers(session: Session) -> pa.Table:
    """Live customers as an Arrow table with the matching columns (Core reads: no ORM rows)."""
    customers = table_of(Customer)
    stmt = select(
        customers.c.id,
        customers.c.name,
        customers.c.name_pinyin,
        customers.c.name_initials,
        customers.c.gender,
        customers.c.birthday,
        customers.c.province,
        customers.c.city,
    ).where(customers.c.deleted_at.is_(None))
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    ids, names, pinyins, initials_, genders = (
        cols["unique_id"],
        cols["name"],
        cols["name_pinyin"],
        cols["name_initials"],
        cols["gender"],
    )
    birthdays, provinces, cities = cols["birthday"], cols["province"], cols["city"]
    for cid, name, pinyin, initials, gender, birthday, province, city in session.connection().execute(
        stmt.execution_options(yield_per=BATCH)
    ):
        ids.append(cid)
        names.append(name)
        pinyins.append(pinyin or None)
        initials_.append(initials or None)
        genders.append(None if gender in (None, "", "unknown") else gender)
        birthdays.append(birthday)
        provinces.append(province or None)
        cities.append(city or None)
    phones, emails = _identity_values(session, set(ids))
    for cid in ids:
        phone = phones.get(cid)
        email = emails.get(cid)
        cols["phone"].append(phone)
        cols["phone_tail"].append(phone[-4:] if phone else None)
        cols["email_local"].append(email.split("@", 1)[0] if email else None)
    return pa.table(cols, schema=SCHEMA)


# ---------------------------------------------------------------------------------------------
# The model


def _level(cll: Any, level: Any, m: float, u: float, label: str) -> Any:
    return level.configure(m_probability=m, u_probability=u, label_for_charts=label)


def settings() -> Any:
    """The splink settings: comparisons with fixed m/u probabilities, and the blocking rules."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_description="name: same characters, same pinyin, similar pinyin, same initials",
        comparison_levels=[
            cll.NullLevel("name_pinyin"),
            _level(cll, cll.ExactMatchLevel("name"), 0.80, 0.0005, "exact"),
            _level(cll, cll.ExactMatchLevel("name_pinyin"), 0.10, 0.001, "pinyin"),
            _level(cll, cll.JaroWinklerLevel("name_pinyin", 0.9), 0.05, 0.01, "similar"),
            _level(cll, cll.ExactMatchLevel("name_initials"), 0.03, 0.05, "initials"),
            _level(cll, cll.ElseLevel(), 0.02, 0.9385, "different"),
        ],
    )
    birthday = cl.CustomComparison(
        output_column_name="birthday",
        comparison_levels=[
            cll.NullLevel("birthday"),
            _level(cll, cll.ExactMatchLevel("birthday"), 0.85, 0.00005, "exact"),
            _level(
                cll,
                cll.CustomLevel(
                    "(month(birthday_l) = month(birthday_r) AND day(birthday_l) = day(birthday_r)) "
                    "OR (year(birthday_l) = year(birthday_r) AND month(birthday_l) = month(birthday_r))",
                    label_for_charts="close",
                ),
                0.07,
                0.003,
                "close",
            ),
            _level(cll, cll.ElseLevel(), 0.08, 0.99695, "different"),
        ],
    )
    city = cl.CustomComparison(
        output_column_name="city",
        comparison_levels=[
            cll.NullLevel("city"),
            _level(cll, cll.ExactMatchLevel("city"), 0.85, 0.05, "exact"),
            _level(cll, cll.ExactMatchLevel("province"), 0.05, 0.05, "province"),
            _level(cll, cll.ElseLevel(), 0.10, 0.90, "different"),
        ],
    )
    phone = cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phone"),
            _level(cll, cll.ExactMatchLevel("phone"), 0.30, 0.000001, "exact"),
            _level(cll, cll.DamerauLevenshteinLevel("phone", 1), 0.25, 0.00001, "one_digit"),
            _level(cll, cll.ExactMatchLevel("phone_tail"), 0.05, 0.0001, "tail"),
            _level(cll, cll.ElseLevel(), 0.40, 0.999889, "different"),
        ],
    )
    email = cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email_local"),
            _level(cll, cll.ExactMatchLevel("email_local"), 0.50, 0.0002, "local_part"),
            _level(cll, cll.ElseLevel(), 0.50, 0.9998, "different"),
        ],
    )
    gender = cl.CustomComparison(
        output_column_name="gender",
        comparison_levels=[
            cll.NullLevel("gender"),
            _level(cll, cll.ExactMatchLevel("gender"), 0.97, 0.5, "exact"),
            _level(cll, cll.ElseLevel(), 0.03, 0.5, "different"),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        probability_two_random_records_match=PRIOR,
        comparisons=[name, birthday, city, phone, email, gender],
        blocking_rules_to_generate_predictions=BLOCKING_RULES(block_on),
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
    )


def BLOCKING_RULES(block_on: Any) -> list[Any]:
    return [
        block_on("name_pinyin", "birthday"),
        block_on("name_pinyin", "city"),
        block_on("name_initials", "phone_tail"),
        block_on("name_initials", "email_local"),
        block_on("name_initials", "birthday", "city"),
    ]


BLOCKING_KEYS = (
    ("name_pinyin", "birthday"),
    ("name_pinyin", "city"),
    ("name_initials", "phone_tail"),
    ("name_initials", "email_local"),
    ("name_initials", "birthday", "city"),
)

COMPARISONS = ("name", "birthday", "city", "phone", "email", "gender")
# gamma value -> label, per comparison (the level order above, highest gamma first; -1 is null).
LEVEL_LABELS = {
    "name": {4: "exact", 3: "pinyin", 2: "similar", 1: "initials"},
    "birthday": {2: "exact", 1: "close"},
    "city": {2: "exact", 1: "province"},
    "phone": {3: "exact", 2: "one_digit", 1: "tail"},
    "email": {1: "local_part"},
    "gender": {1: "exact"},
}


def score_pairs(
    table: pa.Table, *, threshold: float = DEFAULT_THRESHOLD
) -> Iterator[tuple[str, str, float, float, dict[str, str]]]:
    """(id_a, id_b, match probability, match weight, matched fields) for every pair at or above
    the threshold, id_a < id_b."""
    from splink import DuckDBAPI, Linker

    if table.num_rows < 2:
        return
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads TO 2")
        db_api = DuckDBAPI(connection=con)
        frame = db_api.register(table, table_name="customers_in")
        linker = Linker(frame, settings(), log_level=logging.WARNING)
        predictions = linker.inference.predict(threshold_match_probability=threshold)
        gammas = ", ".join(f"gamma_{c}" for c in COMPARISONS)
        rows = con.execute(
            f"SELECT unique_id_l, unique_id_r, match_probability, match_weight, {gammas} "  # noqa: S608
            f"FROM {predictions.physical_name}"
        ).fetchall()
    finally:
        con.close()
    for row in rows:
        a, b, probability, weight = row[0], row[1], float(row[2]), float(row[3])
        matched = {
            comparison: LEVEL_LABELS[comparison][gamma]
            for comparison, gamma in zip(COMPARISONS, row[4:], strict=True)
            if gamma in LEVEL_LABELS[comparison]
        }
        if a > b:
            a, b = b, a
        yield a, b, probability, weight, matched


# ---------------------------------------------------------------------------------------------
# The job


def detect(session: Session, actor: Principal, *, threshold: float = DEFAULT_THRESHOLD) -> DetectionReport:
    """Find probable duplicates among all live customers and write them as candidates. Runs over
    the whole base (a system job or an admin): the scope is all customers."""
    auth_service.require(actor, "merges", "create")
    if not 0 < threshold < 1:
        from guanxi.kit.errors import field_error

        raise field_error(
            "threshold", "must be between 0 and 1 (exclusive)", "out_of_range", key="problem.duplicates.threshold"
        )
    report = DetectionReport()
    started = time.perf_counter()
    table = read_customers(session)
    report.customers = table.num_rows
    report.seconds["read"] = round(time.perf_counter() - started, 3)
    step = time.perf_counter()
    pairs = list(score_pairs(table, threshold=threshold))
    report.seconds["score"] = round(time.perf_counter() - step, 3)
    report.above_threshold = len(pairs)
    step = time.perf_counter()
    _write(session, pairs, report)
    report.seconds["write"] = round(time.perf_counter() - step, 3)
    report.seconds["total"] = round(time.perf_counter() - started, 3)
    audit.record(
        session,
        actor,
        "customer.duplicates_detect",
        entity_type="customer",
        detail={
            "customers": report.customers,
            "above_threshold": report.above_threshold,
            "created": report.created,
            "updated": report.updated,
            "threshold": threshold,
        },
    )
    return report


def _write(
    session: Session, pairs: list[tuple[str, str, float, float, dict[str, str]]], report: DetectionReport
) -> None:
    if not pairs:
        return
    table = table_of(DuplicateCandidate)
    existing: dict[tuple[str, str], tuple[str, str]] = {}
    # Candidates already known: reviewed pairs stay as they are, open ones are re-scored.
    for a, b, cid, status in session.execute(
        select(table.c.customer_a_id, table.c.customer_b_id, table.c.id, table.c.status).execution_options(
            yield_per=BATCH
        )
    ):
        existing[(a, b)] = (cid, status)
    now = clock.now()
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for a, b, probability, weight, matched in pairs:
        known = existing.get((a, b))
        if known is None:
            new_rows.append(
                {
                    "id": new_id(),
                    "customer_a_id": a,
                    "customer_b_id": b,
                    "score": round(probability, 6),
                    "match_weight": round(weight, 4),
                    "matched": matched,
                    "status": "open",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif known[1] == "open":
            updates.append(
                {"cid": known[0], "score": round(probability, 6), "match_weight": round(weight, 4), "matched": matched}
            )
        else:
            report.skipped_reviewed += 1
    for i in range(0, len(new_rows), 5000):
        session.execute(insert(table), new_rows[i : i + 5000])
    if updates:
        from sqlalchemy import bindparam

        stmt = (
            update(table)
            .where(table.c.id == bindparam("cid"))
            .values(
                score=bindparam("score"),
                match_weight=bindparam("match_weight"),
                matched=bindparam("matched"),
                updated_at=now,
            )
        )
        session.connection().execute(stmt, updates)
    report.created = len(new_rows)
    report.updated = len(updates)


def run(database: Any, *, threshold: float = DEFAULT_THRESHOLD, actor: Principal | None = None) -> DetectionReport:
    """Detection in its own unit of work (the job and the CLI)."""
    from guanxi.kit.principal import SYSTEM

    with database.unit_of_work() as session:
        return detect(session, actor or SYSTEM, threshold=threshold)
