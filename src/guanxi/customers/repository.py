"""Queries for customers and accounts, always starting from a statement that applies the
caller's row scope, so no query path can forget it.

The reads on the hot path of the API (a customer by id or by identity, the identities and tags
of a page of customers) are prepared once with bound parameters, scope included: building and
fingerprinting a statement for every request costs SQLAlchemy more than running it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, aggregate_order_by, bindparam, false, func, select, true
from sqlalchemy.orm import Session

from guanxi.customers.models import Account, Customer, CustomerIdentity, CustomerTag
from guanxi.kit.principal import Principal


def scope_clause(principal: Principal, model: Any) -> ColumnElement[bool]:
    """Row scope as SQL: all / region / team / own."""
    if principal.scope == "all":
        return true()
    if principal.scope == "region":
        return model.region == principal.region if principal.region else false()
    if principal.scope == "team":
        return model.team == principal.team if principal.team else false()
    if principal.scope == "own":
        return model.owner_id == principal.id
    return false()


def in_scope(principal: Principal, row: Customer | Account) -> bool:
    """The same rule as `scope_clause`, for a row about to be written."""
    if principal.scope == "all":
        return True
    if principal.scope == "region":
        return principal.region is not None and row.region == principal.region
    if principal.scope == "team":
        return principal.team is not None and row.team == principal.team
    if principal.scope == "own":
        return row.owner_id == principal.id
    return False


def customers(principal: Principal) -> Select[Customer]:
    return select(Customer).where(Customer.deleted_at.is_(None), scope_clause(principal, Customer))


def accounts(principal: Principal) -> Select[Account]:
    return select(Account).where(Account.deleted_at.is_(None), scope_clause(principal, Account))


def identity_by_index(session: Session, kind: str, namespace: str, value_index: str) -> CustomerIdentity | None:
    return session.scalar(
        select(CustomerIdentity).where(
            CustomerIdentity.kind == kind,
            CustomerIdentity.namespace == namespace,
            CustomerIdentity.value_index == value_index,
        )
    )


def _scope_criterion(scope: str, has_value: bool) -> ColumnElement[bool]:
    """`scope_clause` for customers with the principal's region, team or id as a parameter."""
    value: Any = bindparam("scope_value")
    if scope == "all":
        return true()
    if scope == "region" and has_value:
        return Customer.region == value
    if scope == "team" and has_value:
        return Customer.team == value
    if scope == "own":
        return Customer.owner_id == value
    return false()


def _scope_key(principal: Principal) -> tuple[tuple[str, bool], dict[str, Any]]:
    """The shape of the principal's scope (which statement to use) and its parameter."""
    value = {"region": principal.region, "team": principal.team, "own": principal.id}.get(principal.scope)
    params = {"scope_value": value} if value is not None else {}
    return (principal.scope, value is not None), params


@lru_cache(maxsize=32)
def _customer_by_id(scope: str, has_value: bool) -> Select[Customer]:
    return select(Customer).where(
        Customer.deleted_at.is_(None), _scope_criterion(scope, has_value), Customer.id == bindparam("customer_id")
    )


@lru_cache(maxsize=32)
def _customer_by_identity(scope: str, has_value: bool) -> Select[Customer]:
    holders = select(CustomerIdentity.customer_id).where(
        CustomerIdentity.kind == bindparam("kind"),
        CustomerIdentity.namespace == bindparam("namespace"),
        CustomerIdentity.value_index == bindparam("value_index"),
    )
    return select(Customer).where(
        Customer.deleted_at.is_(None), _scope_criterion(scope, has_value), Customer.id.in_(holders)
    )


def customer_by_id(session: Session, principal: Principal, customer_id: str) -> Customer | None:
    """The customer with this id, if it exists, is not deleted and is in the principal's scope."""
    shape, params = _scope_key(principal)
    return session.scalar(_customer_by_id(*shape), {**params, "customer_id": customer_id})


def customer_by_identity(
    session: Session, principal: Principal, kind: str, namespace: str, value_index: str
) -> Customer | None:
    """The customer holding this identity (by blind index), within the principal's scope."""
    shape, params = _scope_key(principal)
    return session.scalar(
        _customer_by_identity(*shape), {**params, "kind": kind, "namespace": namespace, "value_index": value_index}
    )


# A customer with its identities and tags, in one statement: the customer joined to each of its
# identities (oldest first), every row carrying the customer's tags aggregated. Lookups at the
# till and the app's profile read this; three round trips were most of their time.
Card = tuple[Customer, list[CustomerIdentity], list[str]]


def _tags_aggregate(dialect: str) -> Any:
    """The customer's tags as one value: an array in tag order (PostgreSQL, the database's
    collation as `ORDER BY tag` has it), or a JSON array sorted here (SQLite before 3.44 cannot
    order inside an aggregate; its BINARY collation is code point order, Python's)."""
    if dialect == "postgresql":
        agg: Any = aggregate_order_by(func.array_agg(CustomerTag.tag), CustomerTag.tag)
    else:
        agg = func.json_group_array(CustomerTag.tag)
    return select(agg).where(CustomerTag.customer_id == Customer.id).correlate(Customer).scalar_subquery()


def _tags_value(dialect: str, value: Any) -> list[str]:
    if value is None:
        return []
    if dialect == "postgresql":
        return [str(tag) for tag in value if tag is not None]
    return sorted(str(tag) for tag in json.loads(value) if tag is not None)


def _card_statement(dialect: str, criterion: ColumnElement[bool], scope: str, has_value: bool) -> Select[Any]:
    return (
        select(Customer, CustomerIdentity, _tags_aggregate(dialect))
        .outerjoin(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
        .where(Customer.deleted_at.is_(None), _scope_criterion(scope, has_value), criterion)
        .order_by(CustomerIdentity.created_at, CustomerIdentity.id)
    )


@lru_cache(maxsize=64)
def _card_by_identity(dialect: str, scope: str, has_value: bool) -> Select[Any]:
    holders = select(CustomerIdentity.customer_id).where(
        CustomerIdentity.kind == bindparam("kind"),
        CustomerIdentity.namespace == bindparam("namespace"),
        CustomerIdentity.value_index == bindparam("value_index"),
    )
    return _card_statement(dialect, Customer.id.in_(holders.scalar_subquery()), scope, has_value)


@lru_cache(maxsize=64)
def _card_by_id(dialect: str, scope: str, has_value: bool) -> Select[Any]:
    return _card_statement(dialect, Customer.id == bindparam("customer_id"), scope, has_value)


def _card(session: Session, dialect: str, rows: list[Any]) -> Card | None:
    if not rows:
        return None
    customer = rows[0][0]
    identities = [row[1] for row in rows if row[1] is not None]
    return customer, identities, _tags_value(dialect, rows[0][2])


def card_by_identity(
    session: Session, principal: Principal, kind: str, namespace: str, value_index: str
) -> Card | None:
    """`customer_by_identity` with the customer's identities and tags, in one statement."""
    dialect = session.get_bind().dialect.name
    shape, params = _scope_key(principal)
    stmt = _card_by_identity(dialect, *shape)
    rows = session.execute(stmt, {**params, "kind": kind, "namespace": namespace, "value_index": value_index}).all()
    return _card(session, dialect, list(rows))


def card_by_id(session: Session, principal: Principal, customer_id: str) -> Card | None:
    """`customer_by_id` with the customer's identities and tags, in one statement."""
    dialect = session.get_bind().dialect.name
    shape, params = _scope_key(principal)
    rows = session.execute(_card_by_id(dialect, *shape), {**params, "customer_id": customer_id}).all()
    return _card(session, dialect, list(rows))
