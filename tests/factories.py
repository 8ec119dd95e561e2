"""Keyword-only factories that go through the real services (so audit and rules apply)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.auth.models import StaffUser
from guanxi.customers import service as customer_service
from guanxi.customers.models import Customer
from guanxi.customers.schemas import CustomerCreate
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.loyalty.currency import service as exchange_rates
from guanxi.loyalty.currency.rows import RawRate, RowRef
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.program.schemas import OrderAnswer, OrderIn

PASSWORD = "correct-horse-42"


def create_staff(
    session: Session,
    *,
    username: str,
    role: str,
    region: str | None = None,
    team: str | None = None,
    scope: str | None = None,
    password: str = PASSWORD,
) -> StaffUser:
    return auth_service.create_user(
        session, SYSTEM, username=username, password=password, role=role, region=region, team=team, scope=scope
    )


def create_customer(session: Session, *, name: str = "张伟", actor: Principal = SYSTEM, **fields: Any) -> Customer:
    return customer_service.create_customer(session, actor, CustomerCreate(name=name, **fields))


def staff_principal(db: Database, *, username: str, role: str, **kwargs: Any) -> Principal:
    with db.unit_of_work() as session:
        user = create_staff(session, username=username, role=role, **kwargs)
        return auth_service.principal_for(user)


def token_headers(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def headers_for(db: Database, client: TestClient, role: str, **kwargs: Any) -> dict[str, str]:
    """Create a staff user with this role (username = role) and log in."""
    username = kwargs.pop("username", role)
    with db.unit_of_work() as session:
        create_staff(session, username=username, role=role, **kwargs)
    return token_headers(client, username)


def order_in(
    *,
    customer_id: str,
    amount: str,
    external_id: str,
    occurred_at: datetime | None = None,
    source: str = "pos-test",
    lines: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> OrderIn:
    return OrderIn.model_validate(
        {
            "external_id": external_id,
            "source": source,
            "customer_id": customer_id,
            "paid_amount": amount,
            "occurred_at": (occurred_at or clock.now()).isoformat(),
            "lines": lines or [],
            **fields,
        }
    )


def post_order(
    session: Session, *, customer_id: str, amount: str, external_id: str, actor: Principal = SYSTEM, **fields: Any
) -> OrderAnswer:
    """Record an order through the loyalty service and return its answer."""
    answer, _ = orders.record_order(
        session, actor, order_in(customer_id=customer_id, amount=amount, external_id=external_id, **fields)
    )
    return answer


def put_rates(session: Session, *rates: tuple[str, str, str, str | None], source: str = "test") -> None:
    """Load exchange rates (currency, rate, valid_from, valid_to) through the rate table's service."""
    rows = [RawRate(RowRef(index=i), *rate) for i, rate in enumerate(rates)]
    exchange_rates.load_rates(session, SYSTEM, rows, source=source)
