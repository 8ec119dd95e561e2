"""Problem messages in the caller's language: `title`, `detail` and `errors[].message` follow
Accept-Language (zh-CN unless English is asked for); `code`, `type` and the fields never change."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import guanxi
from guanxi.kit.db import Database
from guanxi.kit.errors import DomainError
from guanxi.kit.i18n import catalog
from tests.api.helpers import assert_problem
from tests.factories import headers_for

CUSTOMERS = "/api/v1/customers"
EN = {"Accept-Language": "en-US,en;q=0.9"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
CJK = re.compile(r"[\u3400-\u9fff]")


def _with(headers: dict[str, str], language: dict[str, str]) -> dict[str, str]:
    return {**headers, **language}


@pytest.fixture
def plain(client: TestClient) -> Iterator[TestClient]:
    """A client that sends no Accept-Language (the `client` fixture asks for English)."""
    with TestClient(client.app) as bare:
        yield bare


def test_the_same_bad_request_in_both_languages(client: TestClient, admin_headers: dict[str, str]) -> None:
    body = {"name": "=HYPERLINK()", "phone": "12345", "email": "not-an-address"}
    english = assert_problem(
        client.post(CUSTOMERS, json=body, headers=_with(admin_headers, EN)), 422, "validation_failed"
    )
    chinese = assert_problem(
        client.post(CUSTOMERS, json=body, headers=_with(admin_headers, ZH)), 422, "validation_failed"
    )
    assert [(e["field"], e["code"]) for e in english["errors"]] == [(e["field"], e["code"]) for e in chinese["errors"]]
    assert {e["field"]: e["code"] for e in chinese["errors"]} == {
        "name": "invalid",
        "phone": "invalid_phone",
        "email": "invalid_email",
    }
    assert {e["field"]: e["message"] for e in chinese["errors"]} == {
        "name": "不能以 =、+、- 或 @ 开头（电子表格会将其当作公式）",
        "phone": "不是有效的手机号码",
        "email": "不是有效的电子邮箱地址",
    }
    english_messages = {e["field"]: e["message"] for e in english["errors"]}
    assert english_messages["phone"] == "is not a valid phone number"
    assert english_messages["name"] == "may not begin with =, +, - or @ (a spreadsheet would read it as a formula)"
    assert english_messages["email"].startswith("is not a valid email address")
    assert (english["title"], chinese["title"]) == ("Validation failed", "校验未通过")
    assert chinese["detail"] == "; ".join(
        [
            "name: 不能以 =、+、- 或 @ 开头（电子表格会将其当作公式）",
            "phone: 不是有效的手机号码",
            "email: 不是有效的电子邮箱地址",
        ]
    )
    assert not CJK.search(str(english))


def test_a_missing_field_in_chinese_by_default(plain: TestClient, admin_headers: dict[str, str]) -> None:
    answer = plain.post("/api/v1/customers/01JZZZZZZZZZZZZZZZZZZZZZZZ/notes", json={}, headers=admin_headers)
    body = assert_problem(answer, 422, "validation_failed", ["body"])
    assert body["errors"] == [{"field": "body", "message": "必填", "code": "missing"}]
    assert (body["title"], body["detail"]) == ("校验未通过", "body: 必填")
    assert answer.headers["vary"] == "Accept-Language"


def test_pydantic_errors_by_type_with_their_limits(
    client: TestClient, plain: TestClient, admin_headers: dict[str, str]
) -> None:
    params = {"limit": 0, "created_from": "2026-02-30"}
    zh = assert_problem(plain.get(CUSTOMERS, params=params, headers=admin_headers), 422, "validation_failed")
    en = assert_problem(
        client.get(CUSTOMERS, params=params, headers=_with(admin_headers, EN)), 422, "validation_failed"
    )
    assert {e["field"]: (e["code"], e["message"]) for e in zh["errors"]} == {
        "limit": ("greater_than_equal", "不能小于 1"),
        "created_from": ("datetime_from_date_parsing", "须为日期时间，如 2026-01-31T09:00:00+08:00"),
    }
    assert {e["field"]: e["message"] for e in en["errors"]} == {
        "limit": "must be at least 1",
        "created_from": "must be a date and time such as 2026-01-31T09:00:00+08:00",
    }


def test_a_domain_error_title_in_english_and_chinese(
    client: TestClient, plain: TestClient, admin_headers: dict[str, str]
) -> None:
    path = f"{CUSTOMERS}/01JZZZZZZZZZZZZZZZZZZZZZZZ"
    english = assert_problem(client.get(path, headers=_with(admin_headers, EN)), 404, "not_found")
    chinese = assert_problem(plain.get(path, headers=admin_headers), 404, "not_found")
    assert (english["title"], chinese["title"]) == ("Not found", "未找到")
    assert english["type"] == chinese["type"] == "/problems/not_found"


def test_framework_answers_follow_the_language_too(
    client: TestClient, plain: TestClient, admin_headers: dict[str, str]
) -> None:
    unknown = assert_problem(plain.get("/api/v1/no-such-thing", headers=admin_headers), 404, "not_found")
    assert unknown["detail"] == "不存在 API 端点 /api/v1/no-such-thing"
    method = assert_problem(client.put(CUSTOMERS, headers=_with(admin_headers, EN)), 405, "method_not_allowed")
    assert (method["title"], method["detail"]) == ("Method not allowed", "PUT is not allowed here; use GET, POST")
    broken = plain.post(CUSTOMERS, content=b"{not json", headers={**admin_headers, "Content-Type": "application/json"})
    body = assert_problem(broken, 400, "malformed_json")
    assert (body["title"], body["errors"][0]["message"]) == ("JSON 格式错误", "不是有效的 JSON")


def _domain_errors() -> list[type[DomainError]]:
    for module in pkgutil.walk_packages(guanxi.__path__, "guanxi."):
        if module.name != "guanxi.migrations.env":
            importlib.import_module(module.name)
    found: list[type[DomainError]] = []
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_domain_error_title_is_in_both_catalogs() -> None:
    errors = _domain_errors()
    assert len(errors) > 50
    en, zh = catalog("en"), catalog("zh-CN")
    missing = sorted({cls.code for cls in errors if f"problem.{cls.code}.title" not in zh})
    assert missing == []
    # the English catalog says what the class says (one source for programs reading the code)
    assert {cls.code: en[f"problem.{cls.code}.title"] for cls in errors} == {cls.code: cls.title for cls in errors}
    assert all(CJK.search(zh[f"problem.{cls.code}.title"]) for cls in errors)


CONSTRAINT_TYPES = {
    "minLength": ["string_too_short"],
    "maxLength": ["string_too_long"],
    "pattern": ["string_pattern_mismatch"],
    "minimum": ["greater_than_equal"],
    "exclusiveMinimum": ["greater_than"],
    "maximum": ["less_than_equal"],
    "exclusiveMaximum": ["less_than"],
    "minItems": ["too_short"],
    "maxItems": ["too_long"],
    "maxProperties": ["too_long"],
    "enum": ["enum", "literal_error"],
}
TYPE_TYPES = {
    "string": ["string_type"],
    "integer": ["int_type", "int_parsing", "int_from_float", "int_parsing_size"],
    "number": ["float_type", "float_parsing", "decimal_type", "decimal_parsing", "finite_number"],
    "boolean": ["bool_type", "bool_parsing"],
    "array": ["list_type"],
    "object": ["dict_type", "model_type", "model_attributes_type"],
}
FORMAT_TYPES = {
    "date": ["date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"],
    "date-time": ["datetime_type", "datetime_parsing", "datetime_from_date_parsing", "timezone_aware"],
}
# Raised whatever the schema: a required field, an unknown one, a validator's own refusal, bad JSON,
# and the custom codes of kit.inputs and kit.text.
ALWAYS = [
    "missing",
    "extra_forbidden",
    "value_error",
    "assertion_error",
    "json_invalid",
    "json_type",
    "string_unicode",
    "decimal_max_digits",
    "decimal_max_places",
    "decimal_whole_digits",
    "union_tag_invalid",
    "union_tag_not_found",
    "date_out_of_range",
    "datetime_format",
    "null",
    "too_deep",
    "too_large",
    "invalid_character",
]


def _schema_error_types(document: dict[str, Any]) -> set[str]:
    found: set[str] = set(ALWAYS)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for keyword, types in CONSTRAINT_TYPES.items():
                if keyword in node:
                    found.update(types)
            if isinstance(node.get("type"), str):
                found.update(TYPE_TYPES.get(node["type"], []))
            if isinstance(node.get("format"), str):
                found.update(FORMAT_TYPES.get(node["format"], []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found


def test_every_pydantic_error_type_the_schemas_can_raise_is_in_both_catalogs(app: FastAPI) -> None:
    types = _schema_error_types(app.openapi())
    assert {"string_too_long", "greater_than_equal", "datetime_parsing", "enum"} <= types
    en, zh = catalog("en"), catalog("zh-CN")
    assert sorted(t for t in types if f"error.pydantic.{t}" not in zh) == []
    assert all(CJK.search(zh[f"error.pydantic.{t}"]) for t in types)
    assert not any(CJK.search(en[f"error.pydantic.{t}"]) for t in types)


@pytest.mark.parametrize("language", [EN, ZH])
def test_an_unknown_field_is_named_in_the_language(
    client: TestClient, admin_headers: dict[str, str], language: dict[str, str]
) -> None:
    answer = client.post(CUSTOMERS, json={"name": "张伟", "nickname": "x"}, headers=_with(admin_headers, language))
    body = assert_problem(answer, 422, "validation_failed", ["nickname"])
    message = body["errors"][0]["message"]
    assert message == ("is not a known field" if language is EN else "不是可识别的字段")
    assert body["errors"][0]["code"] == "extra_forbidden"


def test_sign_in_and_permission_problems_in_both_languages(db: Database, client: TestClient, plain: TestClient) -> None:
    zh = assert_problem(plain.get(CUSTOMERS), 401, "not_authenticated")
    en = assert_problem(client.get(CUSTOMERS), 401, "not_authenticated")
    assert (zh["title"], zh["detail"]) == (
        "未登录或身份验证失败",
        "请提供 Bearer 访问令牌（通过 POST /api/v1/auth/token 获取）或 X-API-Key 请求头。",
    )
    assert (en["title"], en["detail"]) == (
        "Not authenticated",
        "send a bearer token (POST /api/v1/auth/token) or an X-API-Key header",
    )
    bad = assert_problem(plain.get(CUSTOMERS, headers={"Authorization": "Bearer nope"}), 401, "not_authenticated")
    assert bad["detail"] == "访问令牌无效。"
    analyst = headers_for(db, client, "analyst")
    refused = assert_problem(plain.post(CUSTOMERS, json={"name": "张伟"}, headers=analyst), 403, "permission_denied")
    assert (refused["title"], refused["detail"]) == ("无权操作", "您的角色只能查看数据，不能修改。")
    service = headers_for(db, client, "service")
    denied = assert_problem(plain.get("/api/v1/audit", headers=service), 403, "permission_denied")
    assert denied["detail"] == "您的角色无权执行该操作（audit.read）。"
    english = assert_problem(client.get("/api/v1/audit", headers=service), 403, "permission_denied")
    assert english["detail"] == "role service may not read audit"
