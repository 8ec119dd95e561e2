from __future__ import annotations

import pytest

from guanxi.auth.permissions import (
    ACTIONS,
    MATRIX,
    READ_ONLY_ROLES,
    RESOURCES,
    Role,
    Scope,
    default_scope,
    is_allowed,
    parse_role,
    valid_api_scope,
    visibility,
)
from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal

WRITES = tuple(action for action in ACTIONS if action != "read")


def _p(role: str, api_scopes: frozenset[str] | None = None) -> Principal:
    return Principal(id="u1", name="u1", role=role, api_scopes=api_scopes)


@pytest.mark.parametrize("role", sorted(READ_ONLY_ROLES))
@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("action", WRITES)
def test_read_only_roles_write_nothing(role: Role, resource: str, action: str) -> None:
    assert not is_allowed(_p(role), resource, action)


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("action", ACTIONS)
def test_admin_may_do_everything(resource: str, action: str) -> None:
    assert is_allowed(_p("admin"), resource, action)


def test_the_matrix_in_detail() -> None:
    assert is_allowed(_p("service"), "customers", "reveal")
    assert not is_allowed(_p("marketing"), "customers", "reveal")
    assert is_allowed(_p("marketing"), "customers", "export")
    assert not is_allowed(_p("service"), "customers", "delete")
    assert not is_allowed(_p("sales"), "customers", "delete")
    assert is_allowed(_p("manager"), "customers", "delete")
    assert not is_allowed(_p("manager"), "users", "create")
    assert not is_allowed(_p("integration"), "audit", "read")
    assert is_allowed(_p("auditor"), "audit", "read")
    assert not is_allowed(_p("analyst"), "audit", "read")
    assert not is_allowed(_p("analyst"), "notes", "read")
    # loyalty: staff adjust, managers approve; the till earns, redeems and refunds, never adjusts
    assert is_allowed(_p("service"), "points", "adjust")
    assert not is_allowed(_p("service"), "points", "approve")
    assert is_allowed(_p("manager"), "points", "approve")
    assert is_allowed(_p("integration"), "orders", "create")
    assert is_allowed(_p("integration"), "orders", "refund")
    assert not is_allowed(_p("integration"), "points", "adjust")
    assert not is_allowed(_p("sales"), "points", "redeem")
    assert is_allowed(_p("marketing"), "programs", "update")
    assert not is_allowed(_p("service"), "programs", "update")
    for role in Role:
        if role is not Role.ADMIN:
            assert not is_allowed(_p(role), "api_keys", "create"), role
            assert not is_allowed(_p(role), "users", "create"), role
        assert set(MATRIX[role]) <= set(RESOURCES)
        assert all(actions <= set(ACTIONS) for actions in MATRIX[role].values())


@pytest.mark.parametrize("role", ["", "root", "ADMIN", "superuser", "none"])
def test_unknown_roles_are_denied(role: str) -> None:
    for resource in RESOURCES:
        for action in ACTIONS:
            assert not is_allowed(_p(role), resource, action)
    assert visibility(_p(role)) is Visibility.HIDDEN
    with pytest.raises(ValueError):
        parse_role(role)


def test_api_key_scopes_narrow_the_role() -> None:
    reader = _p("integration", frozenset({"customers:read"}))
    assert is_allowed(reader, "customers", "read")
    assert not is_allowed(reader, "customers", "create")
    assert not is_allowed(reader, "tags", "read")
    wildcard = _p("integration", frozenset({"customers:*"}))
    assert is_allowed(wildcard, "customers", "create")
    assert is_allowed(wildcard, "customers", "update")
    assert not is_allowed(wildcard, "customers", "delete")  # the role itself may not delete
    everything = _p("integration", frozenset({"*"}))
    assert is_allowed(everything, "notes", "create")
    assert not is_allowed(everything, "audit", "read")
    empty = _p("integration", frozenset())
    assert not is_allowed(empty, "customers", "read")


def test_pii_visibility_by_role() -> None:
    assert visibility(_p("admin")) is Visibility.FULL
    assert visibility(_p("service")) is Visibility.MASKED
    assert visibility(_p("marketing")) is Visibility.MASKED
    assert visibility(_p("analyst")) is Visibility.HIDDEN
    assert visibility(_p("auditor")) is Visibility.HIDDEN


def test_default_scopes_and_api_scope_names() -> None:
    assert default_scope(Role.MANAGER) is Scope.REGION
    assert default_scope(Role.SALES) is Scope.OWN
    assert default_scope(Role.ADMIN) is Scope.ALL
    assert parse_role("service") is Role.SERVICE
    assert valid_api_scope("*")
    assert valid_api_scope("customers:read")
    assert valid_api_scope("tags:*")
    assert not valid_api_scope("customers")
    assert not valid_api_scope("customers:destroy")
    assert valid_api_scope("orders:create")
    assert valid_api_scope("points:redeem")
    assert not valid_api_scope("loyalty:write")
    assert not valid_api_scope("ledger:read")
