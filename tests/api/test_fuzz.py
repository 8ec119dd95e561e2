"""Property-based fuzzing of every operation in the OpenAPI document: no input may cause a 500.

Requests are sent as an admin (the generated credentials are replaced) against a database holding a
customer and an account, whose ids replace the generated ones so operations on existing rows are
exercised too. Examples are bounded per operation and the Hypothesis example database is off.
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

# The fuzzing phase (bounded by max_examples) and the schema's own examples; the unbounded coverage
# phase is left out to keep the suite fast.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}, "generation": {"database": "none"}})
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(), config=CONFIG)

pytestmark = pytest.mark.slow

CREDENTIAL_HEADERS = {"authorization", "x-api-key"}


@pytest.fixture
def existing(client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    customer = client.post(
        "/api/v1/customers",
        json={
            "name": "张伟",
            "phone": "13800138000",
            "email": "zhangwei@qq.com",
            "address": "上海市浦东新区",
            "tags": ["vip"],
        },
        headers=admin_headers,
    ).json()
    account = client.post(
        "/api/v1/accounts", json={"name": "上海关系贸易有限公司", "uscc": "91110000600037341L"}, headers=admin_headers
    ).json()
    return {"customer_id": customer["id"], "account_id": account["id"]}


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, admin_headers: dict[str, str], existing: dict[str, str]) -> None:
    for name, value in existing.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    headers: dict[str, Any] = {k: v for k, v in (case.headers or {}).items() if k.lower() not in CREDENTIAL_HEADERS}
    case.headers = headers
    case.call_and_validate(headers={**headers, **admin_headers}, checks=[not_a_server_error])
