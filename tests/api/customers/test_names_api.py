"""Names on the API: nicknames are accepted on create and update and found by pinyin; formulas and
control characters are refused with nothing written; a customer without a name (from an import)
is answered with `name` null and `display_name` its member number."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from guanxi.customers import bulk
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.api.helpers import assert_problem, table_counts

BASE = "/api/v1/customers"


@pytest.mark.parametrize(
    ("name", "pinyin"),
    [("小明🌟", "xiaoming"), ("Amy_2024", "amy"), ("A.J.", "aj"), ("🍀Lucky", "lucky"), ("王-小二", "wangxiaoer")],
)
def test_nicknames_are_created_and_found(
    client: TestClient, admin_headers: dict[str, str], db: Database, name: str, pinyin: str
) -> None:
    response = client.post(BASE, json={"name": name, "phone": "13800138000"}, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["display_name"]) == (name, name)
    found = client.get(BASE, params={"q": pinyin}, headers=admin_headers).json()["items"]
    assert [c["id"] for c in found] == [body["id"]]


def test_a_nickname_is_accepted_on_update(client: TestClient, admin_headers: dict[str, str], db: Database) -> None:
    created = client.post(BASE, json={"name": "张伟"}, headers=admin_headers).json()
    response = client.patch(f"{BASE}/{created['id']}", json={"name": "伟哥😎 2024"}, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "伟哥😎 2024"
    assert [c["id"] for c in client.get(BASE, params={"q": "weige"}, headers=admin_headers).json()["items"]] == [
        created["id"]
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ('=HYPERLINK("http://x")', "may not begin with =, +, - or @ (a spreadsheet would read it as a formula)"),
        ("+86 138", "may not begin with =, +, - or @ (a spreadsheet would read it as a formula)"),
        ("-Amy", "may not begin with =, +, - or @ (a spreadsheet would read it as a formula)"),
        ("@小明", "may not begin with =, +, - or @ (a spreadsheet would read it as a formula)"),
        ("张\x07伟", "may not contain control characters (only tab, newline and carriage return are allowed)"),
        ("\u202e伟张", "may not contain invisible, private-use or unassigned characters"),
    ],
)
def test_formulas_and_control_characters_are_refused(
    client: TestClient, admin_headers: dict[str, str], db: Database, name: str, message: str
) -> None:
    created = client.post(BASE, json={"name": "张伟"}, headers=admin_headers).json()
    before = table_counts(db)
    problem = assert_problem(client.post(BASE, json={"name": name}, headers=admin_headers), 422, "validation_failed")
    # Control characters are refused by the input model already, with its own code.
    code = "invalid_character" if "control" in message else "invalid"
    assert problem["errors"] == [{"field": "name", "message": message, "code": code}]
    patch = client.patch(f"{BASE}/{created['id']}", json={"name": name}, headers=admin_headers)
    assert_problem(patch, 422, "validation_failed", ["name"])
    assert table_counts(db) == before
    assert client.get(f"{BASE}/{created['id']}", headers=admin_headers).json()["name"] == "张伟"


def test_a_customer_without_a_name_is_shown_by_member_number(
    client: TestClient, admin_headers: dict[str, str], db: Database
) -> None:
    with db.unit_of_work() as session:
        record = bulk.validate(2, {"phone": "13700137000"})
        assert isinstance(record, bulk.CustomerRecord)
        ((outcome),) = bulk.apply(session, SYSTEM, [record])
    body = client.get(f"{BASE}/{outcome.customer_id}", headers=admin_headers).json()
    assert body["name"] is None
    assert body["display_name"] == body["member_no"]
    listed = client.get(BASE, headers=admin_headers).json()["items"]
    assert [(c["name"], c["display_name"]) for c in listed] == [(None, body["member_no"])]
