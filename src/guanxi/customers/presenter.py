"""Turn rows into API/console shapes with the caller's masking applied."""

from __future__ import annotations

from guanxi.auth import permissions
from guanxi.customers import identities as identity_store
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.schemas import CustomerDetail, CustomerOut, IdentityOut
from guanxi.kit.crypto import get_cipher
from guanxi.kit.masking import Visibility, present
from guanxi.kit.principal import Principal


def _name(name: str, visibility: Visibility) -> str | None:
    """The name as this caller sees it; None for a customer who has none (stored as "")."""
    if not name:
        return None
    if visibility is Visibility.HIDDEN:
        return name[:1] + "*" * max(len(name) - 1, 1)
    return name


def identity_out(identity: CustomerIdentity, visibility: Visibility) -> IdentityOut:
    value = identity_store.clear_value(identity) if visibility is not Visibility.HIDDEN else None
    return IdentityOut(
        id=identity.id,
        kind=identity.kind,
        namespace=identity.namespace,
        value=present(identity.kind, value, visibility),
        verified=identity.verified,
        created_at=identity.created_at,
    )


def _first(identities: list[CustomerIdentity], kind: str, visibility: Visibility) -> str | None:
    if visibility is Visibility.HIDDEN:
        return None
    for identity in identities:
        if identity.kind == kind:
            return present(kind, identity_store.clear_value(identity), visibility)
    return None


def customer_out(
    customer: Customer,
    identities: list[CustomerIdentity],
    tags: list[str],
    principal: Principal,
    *,
    visibility: Visibility | None = None,
) -> CustomerOut:
    vis = visibility or permissions.visibility(principal)
    address = None
    if customer.address_enc and vis is not Visibility.HIDDEN:
        address = present("address", get_cipher().decrypt(customer.address_enc, context="address"), vis)
    return CustomerOut(
        id=customer.id,
        member_no=customer.member_no,
        name=_name(customer.name, vis),
        gender=customer.gender,
        birthday=None if vis is Visibility.HIDDEN else customer.birthday,
        province=customer.province,
        city=customer.city,
        district=customer.district,
        province_code=customer.province_code,
        city_code=customer.city_code,
        district_code=customer.district_code,
        occupation=customer.occupation,
        income_band=customer.income_band,
        preferred_channel=customer.preferred_channel,
        preferred_language=customer.preferred_language,
        source_channel=customer.source_channel,
        owner_id=customer.owner_id,
        region=customer.region,
        phone=_first(identities, "phone", vis),
        email=_first(identities, "email", vis),
        address=address,
        tags=tags,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


def customer_detail(
    customer: Customer,
    identities: list[CustomerIdentity],
    tags: list[str],
    principal: Principal,
    *,
    visibility: Visibility | None = None,
) -> CustomerDetail:
    vis = visibility or permissions.visibility(principal)
    base = customer_out(customer, identities, tags, principal, visibility=vis)
    return CustomerDetail(**base.model_dump(), identities=[identity_out(i, vis) for i in identities])
