"""B2B accounts (companies) and their contacts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth.service import get_user, require
from guanxi.customers import presenter, repository
from guanxi.customers import service as customers
from guanxi.customers.models import Account, AccountContact, Customer
from guanxi.customers.normalize import InvalidValue, normalize_uscc
from guanxi.customers.schemas import (
    AccountCreate,
    AccountDetail,
    AccountOut,
    AccountUpdate,
    ContactIn,
    ContactOut,
)
from guanxi.kit import clock, outbox
from guanxi.kit.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

SORTS = {"created_at": Account.created_at, "name": Account.name, "updated_at": Account.updated_at}


def _validated(session: Session, values: dict[str, Any], *, account_id: str | None = None) -> dict[str, Any]:
    errors: list[FieldError] = []
    if values.get("uscc"):
        try:
            values["uscc"] = normalize_uscc(values["uscc"])
        except InvalidValue as exc:
            errors.append(exc.field_error("uscc", "invalid_uscc"))
    if "name" in values and not (values["name"] or "").strip():
        errors.append(FieldError("name", "is required", "required"))
    if values.get("owner_id"):
        try:
            values["team"] = get_user(session, values["owner_id"]).team
        except NotFound:
            errors.append(FieldError("owner_id", "no staff user has this id", "unknown_owner"))
    elif "owner_id" in values:  # no owner, no team: the team scope follows the owner
        values["team"] = None
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    if values.get("uscc"):
        other = session.scalar(select(Account.id).where(Account.uscc == values["uscc"]))
        if other is not None and other != account_id:
            raise Conflict(
                message=f"uscc: already registered to account {other}",
                errors=[FieldError("uscc", f"already registered to account {other}", "taken")],
                extra={"existing_account_id": other},
            )
    return values


def _scoped(session: Session, actor: Principal, account_id: str) -> Account:
    account = session.scalar(repository.accounts(actor).where(Account.id == account_id))
    if account is None:
        raise NotFound(
            message=f"account {account_id} not found", key="problem.not_found.account", params={"id": account_id}
        )
    return account


def _ensure_scope(actor: Principal, account: Account) -> None:
    if not repository.in_scope(actor, account):
        raise PermissionDenied(
            message="the account would fall outside your scope",
            extra={"resource": "accounts", "action": "scope"},
            key="problem.permission_denied.account_scope",
        )


def create_account(session: Session, actor: Principal, data: AccountCreate) -> Account:
    require(actor, "accounts", "create")
    values = _validated(session, data.model_dump())
    if values.get("owner_id") is None and actor.kind == "staff" and actor.scope in ("own", "team"):
        values["owner_id"] = actor.id
        values["team"] = actor.team
    values["region"] = values.get("region") or actor.region
    account = Account(**values)
    _ensure_scope(actor, account)
    session.add(account)
    session.flush()
    audit.record(
        session,
        actor,
        "account.create",
        entity_type="account",
        entity_id=account.id,
        fields=[k for k, v in data.model_dump().items() if v is not None],
    )
    outbox.emit(session, "account.created", {"account_id": account.id})
    return account


def update_account(session: Session, actor: Principal, account_id: str, patch: AccountUpdate) -> Account:
    require(actor, "accounts", "update")
    account = _scoped(session, actor, account_id)
    changes = _validated(session, patch.model_dump(exclude_unset=True), account_id=account.id)
    changed = []
    for key, value in changes.items():
        if getattr(account, key) != value:
            setattr(account, key, value)
            if key != "team":
                changed.append(key)
    _ensure_scope(actor, account)
    if changed:
        account.updated_at = clock.now()
        session.flush()
        audit.record(session, actor, "account.update", entity_type="account", entity_id=account.id, fields=changed)
    return account


def delete_account(session: Session, actor: Principal, account_id: str) -> None:
    require(actor, "accounts", "delete")
    account = _scoped(session, actor, account_id)
    account.deleted_at = clock.now()
    account.uscc = None  # release the code so the company can be registered again
    session.flush()
    audit.record(session, actor, "account.delete", entity_type="account", entity_id=account.id)


def _listed(actor: Principal, q: str | None) -> Any:
    stmt = repository.accounts(actor)
    if q:
        stmt = stmt.where(Account.name.contains(q.strip(), autoescape=True))
    return stmt


def list_accounts(session: Session, actor: Principal, page: PageRequest, q: str | None = None) -> Page[Account]:
    require(actor, "accounts", "read")
    stmt, _ = paginate(_listed(actor, q), page, SORTS, Account.id)
    rows = list(session.scalars(stmt))
    attr = SORTS[page.sort].key
    return make_page(rows, page, key=lambda a: (getattr(a, attr), a.id))


def count_accounts(session: Session, actor: Principal, q: str | None = None, *, cap: int | None = None) -> int:
    """How many accounts `list_accounts` pages through (at most cap + 1 read, see count_customers)."""
    require(actor, "accounts", "read")
    ids = _listed(actor, q).with_only_columns(Account.id)
    sub = (ids.limit(cap + 1) if cap is not None else ids).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def account_detail(session: Session, actor: Principal, account_id: str) -> AccountDetail:
    require(actor, "accounts", "read")
    account = _scoped(session, actor, account_id)
    rows = session.execute(
        select(AccountContact, Customer)
        .join(Customer, Customer.id == AccountContact.customer_id)
        # Contacts the viewer may not see are left out, not shown masked: not even their id.
        .where(
            AccountContact.account_id == account.id,
            Customer.deleted_at.is_(None),
            repository.scope_clause(actor, Customer),
        )
        .order_by(AccountContact.is_primary.desc(), AccountContact.created_at)
    ).all()
    vis = permissions.visibility(actor)
    contacts = [
        ContactOut(
            id=contact.id,
            customer_id=customer.id,
            name=presenter.customer_out(customer, [], [], actor, visibility=vis).display_name,
            title=contact.title,
            is_primary=contact.is_primary,
        )
        for contact, customer in rows
    ]
    return AccountDetail(**AccountOut.model_validate(account).model_dump(), contacts=contacts)


def add_contact(session: Session, actor: Principal, account_id: str, data: ContactIn) -> AccountContact:
    require(actor, "accounts", "update")
    account = _scoped(session, actor, account_id)
    customer = customers.get_customer(session, actor, data.customer_id)
    existing = session.scalar(
        select(AccountContact).where(AccountContact.account_id == account.id, AccountContact.customer_id == customer.id)
    )
    if existing is not None:
        raise Conflict(
            message="this customer is already a contact of the account",
            errors=[FieldError("customer_id", "is already a contact", "taken")],
        )
    if data.is_primary:
        for other in session.scalars(select(AccountContact).where(AccountContact.account_id == account.id)):
            other.is_primary = False
    contact = AccountContact(
        account_id=account.id, customer_id=customer.id, title=data.title, is_primary=data.is_primary
    )
    session.add(contact)
    session.flush()
    audit.record(
        session,
        actor,
        "account.contact.add",
        entity_type="account",
        entity_id=account.id,
        fields=["contacts"],
        detail={"customer_id": customer.id},
    )
    return contact


def remove_contact(session: Session, actor: Principal, account_id: str, contact_id: str) -> None:
    require(actor, "accounts", "update")
    account = _scoped(session, actor, account_id)
    contact = session.scalar(
        select(AccountContact).where(AccountContact.id == contact_id, AccountContact.account_id == account.id)
    )
    if contact is None:
        raise NotFound(
            message=f"contact {contact_id} not found on account {account_id}",
            key="problem.not_found.contact",
            params={"id": contact_id, "account_id": account_id},
        )
    session.delete(contact)
    session.flush()
    audit.record(
        session,
        actor,
        "account.contact.remove",
        entity_type="account",
        entity_id=account.id,
        fields=["contacts"],
        detail={"customer_id": contact.customer_id},
    )
