"""Normalizing, encrypting and indexing customer identities."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.config import get_settings
from guanxi.customers import repository
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.normalize import (
    ENCRYPTED_KINDS,
    NAMESPACED_KINDS,
    IdentityKind,
    InvalidValue,
    normalize_identity,
)
from guanxi.customers.schemas import CustomerCreate, IdentityIn
from guanxi.kit import i18n
from guanxi.kit.crypto import FieldCipher, get_cipher
from guanxi.kit.errors import Conflict, DomainError, FieldError
from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal


@dataclass(frozen=True)
class NormalizedIdentity:
    field: str  # where it came from in the request, for error messages
    kind: IdentityKind
    namespace: str
    value: str
    verified: bool = False

    @property
    def index(self) -> str:
        return blind_index(self.kind, self.namespace, self.value)


def cache_key(ident: NormalizedIdentity) -> tuple[str, str, str]:
    """The identity's key in `identity_cache`: kind, namespace, blind index."""
    return (ident.kind.value, ident.namespace, ident.index)


def blind_index(kind: str, namespace: str, value: str) -> str:
    return _blind_index(get_cipher(), f"{kind}/{namespace}", value)


# Event batches name the same people over and over: an HMAC per identity per event was a fifth of
# ingestion's CPU. Keyed by the cipher too, so a changed secret key never reuses an old index.
@lru_cache(maxsize=20_000)
def _blind_index(cipher: FieldCipher, scope: str, value: str) -> str:
    return cipher.blind_index(scope, value)


# Parsing a phone number costs ~0.3 ms; the till looks up the same regulars all day.
_normalized = lru_cache(maxsize=20_000)(normalize_identity)


def identities_from_create(data: CustomerCreate) -> list[tuple[str, IdentityIn]]:
    """The shorthand fields (phone, email, ...) and the explicit list, labelled by request field."""
    items: list[tuple[str, IdentityIn]] = []
    for field_name in ("phone", "email", "resident_id", "wechat_unionid", "member_card"):
        value = getattr(data, field_name)
        if value:
            items.append((field_name, IdentityIn(kind=field_name, value=value)))
    items.extend((f"identities[{i}]", ident) for i, ident in enumerate(data.identities))
    return items


def _request_field(label: str, part: str) -> str:
    """Where an error belongs in the request: `phone` for a shorthand field, `identities[0].value`
    for an item of the list, plain `value` / `namespace` when the identity is the whole body (label "")."""
    if not label:
        return part
    if label.startswith("identities"):
        return f"{label}.{part}"
    return label


def normalize_all(items: list[tuple[str, IdentityIn]], errors: list[FieldError]) -> list[NormalizedIdentity]:
    region = get_settings().default_region_code
    result: list[NormalizedIdentity] = []
    seen: set[tuple[str, str, str]] = set()
    for label, item in items:
        kind = IdentityKind(item.kind)
        namespace = item.namespace.strip()
        if kind in NAMESPACED_KINDS and not namespace:
            errors.append(
                FieldError(
                    _request_field(label, "namespace"),
                    f"a {kind.value} needs a namespace (app id or source system)",
                    "required",
                )
            )
            continue
        if kind not in NAMESPACED_KINDS:
            namespace = ""
        try:
            value = _normalized(kind, item.value, region)
        except InvalidValue as exc:
            errors.append(exc.field_error(_request_field(label, "value"), f"invalid_{kind.value}"))
            continue
        key = (kind.value, namespace, value)
        if key in seen:
            continue
        seen.add(key)
        result.append(NormalizedIdentity(_request_field(label, "value"), kind, namespace, value, item.verified))
    return result


OUT_OF_SCOPE_HOLDER = "belongs to another customer; ask a manager"
TAKEN_KEY = "error.identity_taken"  # catalog key of the conflict's sentence: {name} and {member_no}
TAKEN_UNNAMED_KEY = "error.identity_taken_unnamed"  # a holder without a name: {member_no} only


def holder_name(name: str, visibility: Visibility) -> str | None:
    """The holder's name as a conflict may show it: whole only to roles that see personal data in
    full. A conflict answers "whose is this phone number?", so a masked role learns the member
    number and the surname, enough to open the right record, not the name that goes with a number."""
    if not name:
        return None
    if visibility is Visibility.FULL:
        return name
    return name[:1] + "*" * max(len(name) - 1, 1)


def taken_text(error: DomainError, language: str) -> str:
    """The sentence of a conflict from `ensure_free` in `language` (its catalog key and params)."""
    return i18n.t(error.key, language, **error.params) if error.key else error.message


def ensure_free(
    session: Session, identities: list[NormalizedIdentity], actor: Principal, *, owner_id: str | None = None
) -> None:
    """409 when another customer already holds one of these identities: naming that customer (by
    name, masked as `holder_name` says, and member number) with a pointer to them if the actor may
    see them, else without (nor anything else about them), so a conflict cannot tell anyone
    whether a phone number belongs to a customer they may not see."""
    for ident in identities:
        existing = repository.identity_by_index(session, ident.kind.value, ident.namespace, ident.index)
        if existing is not None and existing.customer_id != owner_id:
            holder = session.get(Customer, existing.customer_id)
            if holder is None or not repository.in_scope(actor, holder):
                raise Conflict(
                    message=f"{ident.field}: {OUT_OF_SCOPE_HOLDER}",
                    errors=[FieldError(ident.field, OUT_OF_SCOPE_HOLDER, "taken_out_of_scope")],
                )
            name = holder_name(holder.name, permissions.visibility(actor))
            key = TAKEN_KEY if name else TAKEN_UNNAMED_KEY
            params: dict[str, object] = {"name": name or "", "member_no": holder.member_no}
            sentence = i18n.t(key, "en", **params)
            raise Conflict(
                message=f"{ident.field}: {sentence}",
                errors=[FieldError(ident.field, sentence, "taken", params, key=key)],
                extra={
                    "existing_customer_id": existing.customer_id,
                    "existing_customer": {"name": name, "member_no": holder.member_no},
                },
                key=key,
                params=params,
            )


def stored_value(cipher: FieldCipher, kind: str, value: str) -> dict[str, str | None]:
    """The value columns of an identity row: ciphertext for every kind that names a person, the
    clear value only for anonymous ids. Every writer (service, events, bulk import, demo) uses it."""
    if kind in ENCRYPTED_KINDS:
        return {"value_enc": cipher.encrypt(value, context=kind), "value_plain": None}
    return {"value_enc": None, "value_plain": value}


def build(customer_id: str, ident: NormalizedIdentity) -> CustomerIdentity:
    return CustomerIdentity(
        customer_id=customer_id,
        kind=ident.kind.value,
        namespace=ident.namespace,
        value_index=ident.index,
        verified=ident.verified,
        **stored_value(get_cipher(), ident.kind.value, ident.value),
    )


def clear_value(identity: CustomerIdentity) -> str:
    if identity.value_enc is not None:
        return get_cipher().decrypt(identity.value_enc, context=identity.kind)
    return identity.value_plain or ""


# Prepared once: building the statement for every request costs more than running it.
_IDENTITIES_OF = (
    select(CustomerIdentity)
    .where(CustomerIdentity.customer_id.in_(bindparam("customer_ids", expanding=True)))
    .order_by(CustomerIdentity.created_at, CustomerIdentity.id)
)


def for_customers(session: Session, customer_ids: list[str]) -> dict[str, list[CustomerIdentity]]:
    by_customer: dict[str, list[CustomerIdentity]] = {cid: [] for cid in customer_ids}
    if not customer_ids:
        return by_customer
    rows = session.scalars(_IDENTITIES_OF, {"customer_ids": customer_ids})
    for row in rows:
        by_customer[row.customer_id].append(row)
    return by_customer
