"""Property-based fuzzing of every operation in the OpenAPI document: no input may cause a 500.

The same commit always sends the same requests: Hypothesis is derandomized (its seed comes from
the test, not the clock) and keeps no example database, so a fresh clone gives the verdict the
developer saw. The longer, randomised search is `make fuzz` (scripts/fuzz.sh), against a server.

Every generated request is sent by an admin and by each read-only role (analyst, auditor), with
the generated credentials replaced; the database holds one row of each main kind, whose ids
replace the generated path ids, so operations on existing rows are exercised too. A second test
follows the links schemathesis infers between operations (the stateful phase), as an admin.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from guanxi.api.app import create_app
from guanxi.kit.db import Database
from tests.conftest import clear_tables
from tests.factories import headers_for

# The fuzzing phase (bounded by max_examples) and the schema's own examples; the coverage phase
# (unbounded) is left to `make fuzz`.
CONFIG = SchemathesisConfig.from_dict(
    {"seed": 9, "phases": {"coverage": {"enabled": False}}, "generation": {"database": "none"}}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(), config=CONFIG)

pytestmark = pytest.mark.slow

ROLES = ("admin", "analyst", "auditor")
CREDENTIAL_HEADERS = {"authorization", "x-api-key"}
EXAMPLES = 10
STATEFUL_SCENARIOS = 25
DETERMINISTIC = {"deadline": None, "database": None, "derandomize": True, "suppress_health_check": list(HealthCheck)}

VIP = {"rules": [{"field": "tag", "op": "has", "value": "vip"}]}


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def _seed(db: Database, client: TestClient) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The three callers, and one row of each main kind by the path parameter that names it."""
    callers = {role: headers_for(db, client, role) for role in ROLES}
    admin = callers["admin"]
    customer = _created(
        client.post(
            "/api/v1/customers",
            json={"name": "张伟", "phone": "13800138000", "email": "zhangwei@qq.com", "tags": ["vip"]},
            headers=admin,
        )
    )
    other = _created(client.post("/api/v1/customers", json={"name": "李娜", "phone": "13900139000"}, headers=admin))
    account = _created(
        client.post(
            "/api/v1/accounts", json={"name": "上海关系贸易有限公司", "uscc": "91110000600037341L"}, headers=admin
        )
    )
    order = _created(
        client.post(
            "/api/v1/orders",
            json={
                "external_id": "POS-1",
                "source": "pos-01",
                "customer_id": customer["id"],
                "paid_amount": "500.00",
                "occurred_at": "2026-11-20T10:00:00+08:00",
            },
            headers=admin,
        )
    )
    template = _created(
        client.post(
            "/api/v1/loyalty/coupon-templates",
            json={"code": "t20", "name": "满100减20", "kind": "fixed_amount", "value": "20.00", "valid_days": 30},
            headers=admin,
        )
    )
    coupon = _created(
        client.post(
            f"/api/v1/loyalty/coupon-templates/{template['id']}/issue",
            json={"customer_ids": [customer["id"]]},
            headers=admin,
        )
    )["issued"][0]
    reward = _created(
        client.post(
            "/api/v1/loyalty/rewards",
            json={"code": "mug", "name": "马克杯", "kind": "goods", "points_cost": 300, "stock": 10},
            headers=admin,
        )
    )
    segment = _created(client.post("/api/v1/segments", json={"name": "VIP", "conditions": VIP}, headers=admin))
    rule = _created(
        client.post("/api/v1/tag-rules", json={"code": "vip-rule", "tag": "vip2", "conditions": VIP}, headers=admin)
    )
    note = _created(client.post(f"/api/v1/customers/{customer['id']}/notes", json={"body": "来电"}, headers=admin))
    return callers, {
        "customer_id": customer["id"],
        "a_id": customer["id"],
        "b_id": other["id"],
        "account_id": account["id"],
        "order_id": order["id"],
        "template_id": template["id"],
        "reward_id": reward["id"],
        "segment_id": segment["id"],
        "rule_id": rule["id"],
        "note_id": note["id"],
        "tag": "vip",
        # `code` names a different thing on each path.
        "/api/v1/coupons/": coupon["code"],
        "/api/v1/event-types/": "page_view",
        "/api/v1/loyalty/program/rules/": "base_rate",
    }


@pytest.fixture
def seeded(db: Database, client: TestClient) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    return _seed(db, client)


def _substitute(case: schemathesis.Case, existing: dict[str, str]) -> None:
    if not case.path_parameters:
        return
    for name in case.path_parameters:
        if name in existing:
            case.path_parameters[name] = existing[name]
        elif name == "code":
            for prefix, value in existing.items():
                if prefix.startswith("/") and case.operation.path.startswith(prefix.removeprefix("/api/v1")):
                    case.path_parameters[name] = value


def _own_headers(case: schemathesis.Case) -> dict[str, Any]:
    return {k: v for k, v in (case.headers or {}).items() if k.lower() not in CREDENTIAL_HEADERS}


@schema.parametrize()
@settings(max_examples=EXAMPLES, **DETERMINISTIC)
def test_no_server_errors(case: schemathesis.Case, seeded: tuple[dict[str, dict[str, str]], dict[str, str]]) -> None:
    callers, existing = seeded
    _substitute(case, existing)
    headers = _own_headers(case)
    case.headers = headers
    # Read-only roles first: their requests must change nothing, so the admin's still finds the rows.
    for role in ("analyst", "auditor", "admin"):
        case.call_and_validate(headers={**headers, **callers[role]}, checks=[not_a_server_error])


def test_stateful_links(db: Database, client: TestClient) -> None:
    # Each scenario starts from the same freshly seeded tables: the answers, and so the links
    # followed, then depend only on the scenario, which keeps the run deterministic.
    state: dict[str, Any] = {}

    class Links(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            clear_tables(db)
            state["callers"], state["existing"] = _seed(db, client)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            _substitute(case, state["existing"])
            case.headers = _own_headers(case)
            return {"headers": {**case.headers, **state["callers"]["admin"]}}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    Links.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=5, **DETERMINISTIC))
