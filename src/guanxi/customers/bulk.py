"""Customers in bulk (imports): the create/update rules of the service, applied to a batch with a
fixed number of Core statements.

A batch is matched by identity (phone, email, member card, WeChat unionid, external id, resident
ID): rows whose identities belong to no one create customers; a row matching one customer fills
the fields the customer has empty and never silently replaces a value it has: a differing value is
a conflict, decided per field by the import's choice or else holding the row back
(`bulk_changes`); a re-run of the same file changes nothing. A row whose identities belong to two
different customers is refused (an identity is never silently moved). Names, identities and
profile fields go through the same normalization and limits as `service.create_customer`; the
name is optional (the customer is then shown by member number); member numbers come from the
same counter.

A row is checked first by `bulk_rows.validate` (re-exported here with its record), which names
every problem of the row and drops the bad values the caller says may be dropped.

One audit record per batch (`customer.import`, counts and the changed field names, never values),
and `customer.created` / `customer.updated` outbox events per customer, as the service emits.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.customers import identity_cache, places, repository
from guanxi.customers.bulk_changes import Choice, decide, say_nothing
from guanxi.customers.bulk_rows import CustomerRecord as CustomerRecord
from guanxi.customers.bulk_rows import normalize_value as normalize_value
from guanxi.customers.bulk_rows import validate as validate
from guanxi.customers.identities import NormalizedIdentity, blind_index, stored_value
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.normalize import name_search_keys
from guanxi.kit import clock, outbox, sequence
from guanxi.kit.crypto import get_cipher
from guanxi.kit.masking import Visibility, present
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

Status = Literal["created", "updated", "unchanged", "rejected", "conflict"]
MEMBER_NO_START = 10000001  # the service's first member number (`service.create_customer`)


@dataclass
class Outcome:
    line: int
    status: Status
    customer_id: str | None = None
    reason: str | None = None
    fields: list[str] = field(default_factory=list)
    # field -> (before, after) of an update; (the customer's, the row's) of a conflict
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@lru_cache(maxsize=100_000)
def search_keys(name: str) -> tuple[str, str]:
    """`name_search_keys`, remembered: names repeat a lot (a bounded cache keeps memory flat)."""
    return name_search_keys(name)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ids(count: int) -> list[str]:
    """`count` ULIDs (the format of `kit.ids.new_id`: 48-bit milliseconds + 80 random bits in
    Crockford base32), made in one go: the ulid package spends most of a bulk insert's id time
    building objects."""
    millis = time.time_ns() // 1_000_000
    noise = os.urandom(10 * count)
    out = []
    for i in range(count):
        value = (millis << 80) | int.from_bytes(noise[10 * i : 10 * i + 10], "big")
        out.append("".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5)))
    return out


_pool: list[str] = []


def next_id() -> str:
    """The next of a pool of fresh ULIDs (refilled a thousand at a time)."""
    if not _pool:
        _pool.extend(reversed(new_ids(1000)))
    return _pool.pop()


def _in_scope(actor: Principal, region: str | None, team: str | None, owner_id: str | None) -> bool:
    if actor.scope == "all":
        return True
    return repository.in_scope(actor, Customer(region=region, team=team, owner_id=owner_id))


def _holder_name(actor: Principal, customer_id: str, state: dict[str, dict[str, Any]]) -> str:
    """How a refusal names the customer holding an identity: by id only if the importer may see
    them (a reason must not tell anyone which customers exist outside their scope)."""
    current = state.get(customer_id)
    if current is not None and _in_scope(actor, current["region"], current["team"], current["owner_id"]):
        return f"customer {customer_id}"
    return "another customer"


def holders_of(session: Session, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """(kind, namespace, blind index) -> customer id for the keys already held. One query per kind
    and namespace (a few per batch), shaped for the unique index (kind, namespace, value_index)."""
    identities = table_of(CustomerIdentity)
    groups: dict[tuple[str, str], list[str]] = {}
    for kind, namespace, value_index in keys:
        groups.setdefault((kind, namespace), []).append(value_index)
    holders: dict[tuple[str, str, str], str] = {}
    for (kind, namespace), values in groups.items():
        values.sort()
        for start in range(0, len(values), 5000):
            rows = session.execute(
                select(identities.c.value_index, identities.c.customer_id).where(
                    identities.c.kind == kind,
                    identities.c.namespace == namespace,
                    identities.c.value_index.in_(values[start : start + 5000]),
                )
            )
            for value_index, customer_id in rows:
                holders[(kind, namespace, value_index)] = customer_id
    return holders


def _index(ident: NormalizedIdentity) -> tuple[str, str, str]:
    return (ident.kind.value, ident.namespace, blind_index(ident.kind.value, ident.namespace, ident.value))


_STATE_COLUMNS = (
    "id",
    "name",
    "gender",
    "birthday",
    "province",
    "city",
    "district",
    "province_code",
    "city_code",
    "district_code",
    "region",
    "occupation",
    "source_channel",
    "address_enc",
    "owner_id",
    "team",
    "updated_at",
)


def apply(
    session: Session,
    actor: Principal,
    records: list[CustomerRecord],
    *,
    job_id: str | None = None,
    choose: Choice = say_nothing,
) -> list[Outcome]:
    """Create or update the batch's customers. Records must not share an identity (the caller
    reports repeated identities inside a file as duplicates). `choose` says per field which side
    wins when a row differs from a customer's value (`bulk_changes`); by default neither does and
    such a row is held back as a conflict."""
    auth_service.require(actor, "customers", "create")
    auth_service.require(actor, "customers", "update")
    if not records:
        return []
    identity_cache.changed_all(session)  # identities of matched customers may be added
    cipher = get_cipher()
    customers = table_of(Customer)
    identities = table_of(CustomerIdentity)
    now = clock.now()
    indexed = [[_index(i) for i in r.identities] for r in records]
    holders = holders_of(session, {key for keys in indexed for key in keys})
    matched_ids = sorted({holders[k] for keys in indexed for k in keys if k in holders})
    state: dict[str, dict[str, Any]] = {}
    if matched_ids:
        cols = [customers.c[c] for c in _STATE_COLUMNS]
        for start in range(0, len(matched_ids), 5000):
            rows = session.execute(
                select(*cols).where(
                    customers.c.id.in_(matched_ids[start : start + 5000]), customers.c.deleted_at.is_(None)
                )
            )
            for found in rows:
                state[found.id] = dict(found._mapping)

    outcomes: list[Outcome] = []
    new_customers: list[dict[str, Any]] = []
    new_identities: list[dict[str, Any]] = []
    changed: dict[str, set[str]] = {}
    default_owner = actor.id if actor.kind == "staff" and actor.scope in ("own", "team") else None
    for record, keys in zip(records, indexed, strict=True):
        owners = {holders[k] for k in keys if k in holders}
        if len(owners) > 1:
            detail = ", ".join(
                f"{ident.kind.value} belongs to {_holder_name(actor, holders[k], state)}"
                for ident, k in zip(record.identities, keys, strict=True)
                if k in holders
            )
            outcomes.append(Outcome(record.line, "rejected", reason=f"identities of different customers: {detail}"))
            continue
        if not owners:
            pinyin, initials = search_keys(record.name)
            row: dict[str, Any] = {
                "id": next_id(),
                "member_no": "",
                "name": record.name,
                "name_pinyin": pinyin,
                "name_initials": initials,
                "gender": record.profile.get("gender") or "unknown",
                "birthday": record.profile.get("birthday"),
                **_place(record.profile).columns(),
                "region": record.profile.get("region") or actor.region,
                "occupation": record.profile.get("occupation"),
                "source_channel": record.profile.get("source_channel") or "import",
                "owner_id": default_owner,
                "team": actor.team if default_owner else None,
                "preferred_language": "zh-CN",
                "address_enc": cipher.encrypt(record.address, context="address") if record.address else None,
                "created_at": now,
                "updated_at": now,
            }
            if not _in_scope(actor, row["region"], row["team"], row["owner_id"]):
                outcomes.append(
                    Outcome(record.line, "rejected", reason="the customer would fall outside your scope (region)")
                )
                continue
            new_customers.append(row)
            for ident, key in zip(record.identities, keys, strict=True):
                new_identities.append(_identity_row(cipher, row["id"], ident, key, now))
                holders[key] = row["id"]
            given = sorted({*record.profile, *(["name"] if record.name else [])} | _kinds(record))
            outcomes.append(Outcome(record.line, "created", row["id"], fields=given, warnings=record.warnings))
            continue
        (customer_id,) = owners
        current = state.get(customer_id)
        if current is None:
            outcomes.append(Outcome(record.line, "rejected", reason=f"customer {customer_id} is deleted or merged"))
            continue
        if not _in_scope(actor, current["region"], current["team"], current["owner_id"]):
            outcomes.append(Outcome(record.line, "rejected", reason="matches a customer outside your scope"))
            continue
        outcome = _update(actor, cipher, record, keys, current, holders, new_identities, choose, now)
        if outcome.status == "updated":
            changed.setdefault(customer_id, set()).update(outcome.fields)
        outcomes.append(outcome)

    if new_customers:
        numbers = sequence.reserve_block(session, "member_no", len(new_customers), start=MEMBER_NO_START)
        for row, number in zip(new_customers, numbers, strict=True):
            row["member_no"] = f"GX{number:010d}"
        session.execute(insert(customers), new_customers)
    if new_identities:
        session.execute(insert(identities), new_identities)
    _write_updates(session, state, changed, now)
    if new_customers:
        outbox.emit_many(
            session,
            "customer.created",
            [{"customer_id": r["id"], "source_channel": r["source_channel"]} for r in new_customers],
        )
    if changed:
        outbox.emit_many(
            session,
            "customer.updated",
            [{"customer_id": cid, "fields": sorted(f for f in fs if "." not in f)} for cid, fs in changed.items()],
        )
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("created", "updated", "unchanged", "rejected")}
    counts["conflicts"] = sum(1 for o in outcomes if o.status == "conflict")
    if new_customers or changed:
        touched = sorted({f for o in outcomes if o.status in ("created", "updated") for f in o.fields})
        audit.record(
            session,
            actor,
            "customer.import",
            entity_type="import_job" if job_id else "customer",
            entity_id=job_id,
            fields=touched,
            detail={**counts, "first_line": records[0].line, "last_line": records[-1].line},
        )
    return outcomes


def _update(
    actor: Principal,
    cipher: Any,
    record: CustomerRecord,
    keys: list[tuple[str, str, str]],
    current: dict[str, Any],
    holders: dict[tuple[str, str, str], str],
    new_identities: list[dict[str, Any]],
    choose: Choice,
    now: Any,
) -> Outcome:
    """A row matching a known customer: fills, decided conflicts and new identities written into
    `current` and `new_identities`, or the row held back as a conflict (nothing written)."""
    customer_id = current["id"]
    given = record.given()
    known = current
    if "address" in given:
        address = cipher.decrypt(current["address_enc"], context="address") if current["address_enc"] else None
        known = {**current, "address": address}
    decision = decide(given, known, choose, now)
    if decision.held:
        differing = sorted(decision.differing)
        return Outcome(
            record.line,
            "conflict",
            customer_id,
            reason=f"differs from the customer's {', '.join(differing)}; the import says nothing of which side wins",
            fields=differing,
            changes=_shown(decision.differing),
            warnings=record.warnings,
        )
    moved = decision.applied.get("region", (None, current["region"]))[1]
    if moved != current["region"] and not _in_scope(actor, moved, current["team"], current["owner_id"]):
        return Outcome(record.line, "rejected", reason="the customer would fall outside your scope (region)")
    fields = list(decision.applied)
    moved_place = _moved_place(current, decision.applied)
    for name, (_, value) in decision.applied.items():
        if name == "address":
            current["address_enc"] = cipher.encrypt(value, context="address")
        else:
            current[name] = value
    for name, value in moved_place.items():
        if current[name] != value:
            current[name] = value
            if name not in fields:
                fields.append(name)
    changes = _shown(decision.applied)
    for ident, key in zip(record.identities, keys, strict=True):
        if key not in holders:
            new_identities.append(_identity_row(cipher, customer_id, ident, key, now))
            holders[key] = customer_id
            fields.append(f"identity.{ident.kind.value}")
            changes[f"identity.{ident.kind.value}"] = (None, present(ident.kind.value, ident.value, Visibility.MASKED))
    if not fields:
        return Outcome(record.line, "unchanged", customer_id, warnings=record.warnings)
    return Outcome(record.line, "updated", customer_id, fields=fields, changes=changes, warnings=record.warnings)


def _place(profile: dict[str, Any]) -> places.Place:
    return places.normalise(profile.get("province"), profile.get("city"), profile.get("district"))


def _moved_place(current: dict[str, Any], applied: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """The whole place (names and codes) once a row writes a level of it: the levels it does not
    write follow, as an edit in the service moves them (`places.relocate`)."""
    given: dict[str, Any] = {level: applied[level][1] for level in places.LEVELS if level in applied}
    if not given:
        return {}
    return places.relocate({level: current[level] for level in places.LEVELS}, given).columns()


def _shown(pairs: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    """Field-level changes as a report may keep them: the address (stored encrypted) masked."""
    shown = dict(pairs)
    if "address" in shown:
        before, after = shown["address"]
        shown["address"] = (present("address", before, Visibility.MASKED), present("address", after, Visibility.MASKED))
    return shown


def _kinds(record: CustomerRecord) -> set[str]:
    return {f"identity.{i.kind.value}" for i in record.identities}


def _identity_row(
    cipher: Any, customer_id: str, ident: NormalizedIdentity, key: tuple[str, str, str], now: Any
) -> dict[str, Any]:
    return {
        "id": next_id(),
        "customer_id": customer_id,
        "kind": key[0],
        "namespace": key[1],
        "value_index": key[2],
        **stored_value(cipher, ident.kind.value, ident.value),
        "verified": False,
        "created_at": now,
    }


def _write_updates(session: Session, state: dict[str, dict[str, Any]], changed: dict[str, set[str]], now: Any) -> None:
    """One executemany per set of changed columns (rows changing the same columns share a statement)."""
    customers = table_of(Customer)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for customer_id, fields in changed.items():
        columns = sorted(f for f in fields if "." not in f)
        current = state[customer_id]
        params: dict[str, Any] = {"b_id": customer_id, "b_updated_at": now}
        for column in columns:
            if column == "address":
                params["b_address_enc"] = current["address_enc"]
            else:
                params[f"b_{column}"] = current[column]
        if "name" in columns:
            params["b_name_pinyin"], params["b_name_initials"] = search_keys(current["name"])
        groups.setdefault(tuple(columns), []).append(params)
    for group, batch in groups.items():
        names = ["address_enc" if c == "address" else c for c in group]
        if "name" in names:
            names += ["name_pinyin", "name_initials"]
        values: dict[str, Any] = {name: bindparam(f"b_{name}") for name in [*names, "updated_at"]}
        stmt = update(customers).where(customers.c.id == bindparam("b_id")).values(**values)
        session.execute(stmt, batch)
