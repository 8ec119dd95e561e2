"""Queries for customers and accounts, always starting from a statement that applies the
caller's row scope, so no query path can forget it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, false, select, true
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
