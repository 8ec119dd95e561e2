"""GET /customers?q= answers in the order of the key the text matched unless sort= says otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import assert_problem

BASE = "/api/v1/customers"
NAMES = ["张伟", "赵文", "张三", "周伟", "曾伟", "李娜"]


@pytest.fixture
def created(client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    ids = {}
    for name in NAMES:
        response = client.post(BASE, json={"name": name}, headers=admin_headers)
        assert response.status_code == 201
        ids[name] = response.json()["id"]
    return ids


def pages(client: TestClient, headers: dict[str, str], **params: Any) -> list[list[str]]:
    """The names on every page, following next_cursor."""
    result: list[list[str]] = []
    cursor = None
    while True:
        response = client.get(BASE, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        result.append([c["name"] for c in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return result


def test_a_search_is_ordered_by_what_it_matched(
    client: TestClient, admin_headers: dict[str, str], created: dict[str, str]
) -> None:
    assert pages(client, admin_headers, q="zw", limit=2) == [["曾伟", "张伟"], ["赵文", "周伟"]]
    assert pages(client, admin_headers, q="张", limit=1) == [["张三"], ["张伟"]]
    assert pages(client, admin_headers, q="zw", order="desc") == [["周伟", "赵文", "张伟", "曾伟"]]
    assert pages(client, admin_headers, q="zw", sort="match", order="asc") == [["曾伟", "张伟", "赵文", "周伟"]]


def test_sort_and_order_still_choose(
    client: TestClient, admin_headers: dict[str, str], created: dict[str, str]
) -> None:
    zw = ["张伟", "赵文", "周伟", "曾伟"]  # in the order they were created
    assert pages(client, admin_headers, q="zw", sort="created_at") == [list(reversed(zw))]
    assert pages(client, admin_headers, q="zw", sort="member_no", order="asc", limit=3) == [zw[:3], zw[3:]]
    assert pages(client, admin_headers, q="zw", sort="member_no") == [list(reversed(zw))]  # desc by default
    # Without q the default stays newest first.
    assert pages(client, admin_headers) == [list(reversed(NAMES))]


def test_match_without_a_search_is_a_bad_request(
    client: TestClient, admin_headers: dict[str, str], created: dict[str, str]
) -> None:
    for params, status, code, field in (
        ({"sort": "match"}, 400, "bad_request", "sort"),
        ({"q": "zw", "sort": "nope"}, 400, "bad_request", "sort"),
        ({"q": "zw", "order": "up"}, 422, "validation_failed", "order"),
    ):
        assert_problem(client.get(BASE, params=params, headers=admin_headers), status, code, [field])
    first = client.get(BASE, params={"q": "zw", "limit": 1, "sort": "created_at"}, headers=admin_headers).json()
    assert_problem(
        client.get(BASE, params={"q": "zw", "cursor": first["next_cursor"]}, headers=admin_headers),
        400,
        "bad_request",
        ["cursor"],
    )
