"""An identity that belongs to another customer the caller may see: the conflict names that
customer by name (masked unless the caller sees personal data in full) and member number, in the
caller's language, never by internal id in its words."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, table_counts
from tests.factories import create_customer, headers_for

BASE = "/api/v1/customers"


@pytest.mark.parametrize(
    ("role", "language", "sentence"),
    [
        ("admin", "zh-CN", "已属于客户 李娜（会员号 {no}）"),
        ("service", "zh-CN", "已属于客户 李*（会员号 {no}）"),
        ("service", "en", "Already belongs to customer 李* (member no. {no})"),
    ],
)
def test_adding_a_taken_phone_names_the_holder(
    client: TestClient, db: Database, role: str, language: str, sentence: str
) -> None:
    with db.unit_of_work() as session:
        holder = create_customer(session, name="李娜", phone="13900139000")
        customer = create_customer(session, name="张伟")
    headers = headers_for(db, client, role) | {"Accept-Language": language}
    before = table_counts(db)
    response = client.post(
        f"{BASE}/{customer.id}/identities", json={"kind": "phone", "value": "139 0013 9000"}, headers=headers
    )
    problem = assert_problem(response, 409, "conflict", ["value"])
    expected = sentence.format(no=holder.member_no)
    assert problem["errors"][0]["message"] == expected
    assert problem["detail"] == expected and holder.id not in problem["detail"]
    shown = "李娜" if role == "admin" else "李*"
    assert problem["existing_customer"] == {"name": shown, "member_no": holder.member_no}
    assert problem["existing_customer_id"] == holder.id  # the pointer for programs stays
    assert table_counts(db) == before
