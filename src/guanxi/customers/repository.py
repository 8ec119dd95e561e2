"""Queries for customers and accounts, always starting from a statement that applies the
caller's row scope, so no query path can forget it.

The reads on the hot path of the API (a customer by id or by identity, the identities and tags
of a page of customers) are prepared once with bound parameters, scope included: building and
fingerprinting a statement for every request costs SQLAlchemy more than running it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, false, select, true
from sqlalchemy.orm import Session

from guanxi.customers.models import Account, Customer, CustomerIdentity
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
