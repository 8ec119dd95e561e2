"""Who may do what: the permission matrix, default row scopes and personal-data visibility.

This module is the one place that answers "may role R do action A on resource B". It is pure data
and functions (no database) and is unit-tested on its own.
"""

from __future__ import annotations

from enum import StrEnum

from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    SALES = "sales"
    SERVICE = "service"
    MARKETING = "marketing"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    INTEGRATION = "integration"


class Scope(StrEnum):
    ALL = "all"
    REGION = "region"
    TEAM = "team"
    OWN = "own"


RESOURCES = (
    "customers",
    "accounts",
    "notes",
    "tags",
    "users",
    "api_keys",
    "audit",
    # loyalty: the member card and statement; points moved by staff or till; orders and refunds;
    # program configuration (settings, tiers, rules); the reward catalog; coupons; partner
    # exchange; liability reports and what-if simulation.
    "loyalty",
    "points",
    "orders",
    "programs",
    "rewards",
    "coupons",
    "partners",
    "liability",
    # customer data platform: behaviour events and their registered types; duplicate review and
    # merges (create = merge, delete = undo, update = dismiss a candidate); imports; segments;
    # rule-based tags; the data-quality report.
    "events",
    "merges",
    "imports",
    "segments",
    "tag_rules",
    "quality",
    # the exchange-rate table foreign-currency orders are converted with (written by administrators)
    "exchange_rates",
    # customer analytics: dashboards and scores (read), a run (create), targets (update), result
    # files (export)
    "analytics",
)
ACTIONS = (
    "read",
    "create",
    "update",
    "delete",
    "reveal",
    "export",
    "redeem",
    "adjust",
    "approve",
    "refund",
    "issue",
)

_ALL = frozenset(ACTIONS)
_R = frozenset({"read"})
_RC = frozenset({"read", "create"})
_RCU = frozenset({"read", "create", "update"})
_RCD = frozenset({"read", "create", "delete"})
_CRUD = frozenset({"read", "create", "update", "delete"})

# resource -> actions, per role. Anything not listed is denied.
MATRIX: dict[Role, dict[str, frozenset[str]]] = {
    Role.ADMIN: {resource: _ALL for resource in RESOURCES},
    Role.MANAGER: {
        "customers": _ALL,
        "accounts": frozenset({"read", "create", "update", "delete", "export"}),
        "notes": _RCD,
        "tags": _RCD,
        "users": _R,
        "audit": _R,
        "loyalty": _R,
        "points": frozenset({"read", "redeem", "adjust", "approve", "create"}),
        "orders": frozenset({"read", "create", "refund"}),
        "programs": frozenset({"read", "update"}),
        "rewards": _CRUD,
        "coupons": frozenset({"read", "create", "update", "delete", "issue", "redeem"}),
        "partners": _RCU,
        "liability": _R,
        "events": _RCU,
        "merges": _CRUD,
        "imports": _RC,
        "segments": frozenset({"read", "create", "update", "delete", "export"}),
        "tag_rules": _CRUD,
        "quality": _R,
        "exchange_rates": _R,
        "analytics": frozenset({"read", "create", "update", "export"}),
    },
    Role.SALES: {
        "customers": _RCU,
        "accounts": _RCU,
        "notes": _RC,
        "tags": _RC,
        "loyalty": _R,
        "orders": _R,
        "rewards": _R,
        "coupons": frozenset({"read", "issue"}),
        "events": _R,
        "segments": _R,
        "exchange_rates": _R,
        "analytics": _R,
    },
    Role.SERVICE: {
        "customers": frozenset({"read", "create", "update", "reveal"}),
        "accounts": _R,
        "notes": _RC,
        "tags": _RC,
        "loyalty": _R,
        "points": frozenset({"read", "redeem", "adjust", "create"}),
        "orders": frozenset({"read", "refund"}),
        "programs": _R,
        "rewards": _R,
        "coupons": frozenset({"read", "issue", "redeem"}),
        "events": _R,
        "merges": _RC,
        "quality": _R,
        "exchange_rates": _R,
        "analytics": _R,
    },
    Role.MARKETING: {
        "customers": frozenset({"read", "export"}),
        "accounts": _R,
        "notes": _R,
        "tags": _RCD,
        "loyalty": _R,
        "orders": _R,
        "programs": frozenset({"read", "update"}),
        "rewards": _CRUD,
        "coupons": frozenset({"read", "create", "update", "delete", "issue"}),
        "partners": _R,
        "liability": _R,
        "events": _RCU,
        "imports": _RC,
        "segments": frozenset({"read", "create", "update", "delete", "export"}),
        "tag_rules": _CRUD,
        "quality": _R,
        "exchange_rates": _R,
        "analytics": frozenset({"read", "create", "export"}),
    },
    Role.ANALYST: {
        "customers": _R,
        "accounts": _R,
        "tags": _R,
        "loyalty": _R,
        "orders": _R,
        "programs": _R,
        "rewards": _R,
        "coupons": _R,
        "liability": _R,
        "events": _R,
        "segments": _R,
        "tag_rules": _R,
        "quality": _R,
        "exchange_rates": _R,
        "analytics": _R,
    },
    Role.AUDITOR: {
        "customers": _R,
        "accounts": _R,
        "notes": _R,
        "tags": _R,
        "users": _R,
        "audit": _R,
        "loyalty": _R,
        "points": _R,
        "orders": _R,
        "programs": _R,
        "rewards": _R,
        "coupons": _R,
        "partners": _R,
        "liability": _R,
        "events": _R,
        "merges": _R,
        "imports": _R,
        "segments": _R,
        "tag_rules": _R,
        "quality": _R,
        "exchange_rates": _R,
        "analytics": _R,
    },
    Role.INTEGRATION: {
        "customers": _RCU,
        "accounts": _RCU,
        "notes": _RC,
        "tags": _RC,
        "loyalty": _R,
        "points": frozenset({"read", "redeem", "create"}),
        "orders": frozenset({"read", "create", "refund"}),
        "programs": _R,
        "rewards": _R,
        "coupons": frozenset({"read", "issue", "redeem"}),
        "partners": frozenset({"read", "create"}),
        "events": _RC,
        "imports": _RC,
        "exchange_rates": _R,
    },
}

DEFAULT_SCOPE: dict[Role, Scope] = {
    Role.ADMIN: Scope.ALL,
    Role.MANAGER: Scope.REGION,
    Role.SALES: Scope.OWN,
    Role.SERVICE: Scope.ALL,
    Role.MARKETING: Scope.ALL,
    Role.ANALYST: Scope.ALL,
    Role.AUDITOR: Scope.ALL,
    Role.INTEGRATION: Scope.ALL,
}

# How personal data (phone, email, ID number, address, channel ids, name) is shown per role.
PII_VISIBILITY: dict[Role, Visibility] = {
    Role.ADMIN: Visibility.FULL,
    Role.MANAGER: Visibility.MASKED,
    Role.SALES: Visibility.MASKED,
    Role.SERVICE: Visibility.MASKED,
    Role.MARKETING: Visibility.MASKED,
    Role.ANALYST: Visibility.HIDDEN,
    Role.AUDITOR: Visibility.HIDDEN,
    Role.INTEGRATION: Visibility.MASKED,
}

READ_ONLY_ROLES = frozenset({Role.ANALYST, Role.AUDITOR})


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}; one of {allowed}") from None


def is_allowed(principal: Principal, resource: str, action: str) -> bool:
    """Role grants the action, and an API key's own scopes (if any) include it."""
    try:
        role = Role(principal.role)
    except ValueError:
        return False
    if action not in MATRIX.get(role, {}).get(resource, frozenset()):
        return False
    if principal.api_scopes is not None:
        wanted = {f"{resource}:{action}", f"{resource}:*", "*"}
        if action == "read":
            wanted.add(f"{resource}:read")
        return bool(wanted & principal.api_scopes)
    return True


def visibility(principal: Principal) -> Visibility:
    try:
        return PII_VISIBILITY[Role(principal.role)]
    except ValueError:
        return Visibility.HIDDEN


def default_scope(role: Role) -> Scope:
    return DEFAULT_SCOPE[role]


def valid_api_scope(scope: str) -> bool:
    if scope == "*":
        return True
    resource, _, action = scope.partition(":")
    return resource in RESOURCES and (action in ACTIONS or action == "*")
