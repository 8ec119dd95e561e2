"""Status words read case-insensitively into the four statuses; anything else is refused by name;
a partial return's amount is checked against what was paid."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from guanxi.kit.i18n import LANGUAGES, catalog
from guanxi.loyalty.orders.statuses import (
    INPUT_STATUSES,
    STORED_STATUSES,
    UnknownOrderStatus,
    normalise_status,
    returned_amount_errors,
)
from guanxi.loyalty.program.schemas import OrderIn


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("completed", "completed"),
        ("Complete", "completed"),
        ("DONE", "completed"),
        ("paid", "completed"),
        ("Delivered", "completed"),
        ("shipped", "completed"),
        ("已完成", "completed"),
        ("完成", "completed"),
        ("已支付", "completed"),
        ("已付款", "completed"),
        ("交易成功", "completed"),
        (" 已签收 ", "completed"),
        ("cancelled", "cancelled"),
        ("Canceled", "cancelled"),
        ("CANCEL", "cancelled"),
        ("void", "cancelled"),
        ("Voided", "cancelled"),
        ("已取消", "cancelled"),
        ("取消", "cancelled"),
        ("交易关闭", "cancelled"),
        ("已关闭", "cancelled"),
        ("ＣＡＮＣＥＬＬＥＤ", "cancelled"),
        ("returned", "returned"),
        ("Refunded", "returned"),
        ("return", "returned"),
        ("已退货", "returned"),
        ("退货", "returned"),
        ("已退款", "returned"),
        ("退款", "returned"),
        ("partially_returned", "partially_returned"),
        ("Partially Returned", "partially_returned"),
        ("partially-refunded", "partially_returned"),
        ("partially   refunded", "partially_returned"),
        ("部分退货", "partially_returned"),
        ("部分退款", "partially_returned"),
    ],
)
def test_status_words_are_read(text: str, status: str) -> None:
    assert normalise_status(text) == status


@pytest.mark.parametrize("text", ["", "   ", "pending", "completedd", "退", "partially", "x" * 500])
def test_other_text_is_refused_naming_the_known_values(text: str) -> None:
    with pytest.raises(UnknownOrderStatus) as caught:
        normalise_status(text)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert "use one of completed, cancelled, returned, partially_returned" in message
    assert "已取消" in message
    assert len(message) < 400  # a long input is cut in the message


def test_every_status_is_its_own_word_and_has_a_display_name() -> None:
    assert {normalise_status(s) for s in INPUT_STATUSES} == set(INPUT_STATUSES)
    for language in LANGUAGES:
        names = catalog(language)
        assert [s for s in {*INPUT_STATUSES, *STORED_STATUSES} if f"order.status.{s}" not in names] == []


@pytest.mark.parametrize(
    ("status", "refunded", "problem"),
    [
        ("completed", None, None),
        ("cancelled", None, None),
        ("returned", None, None),
        ("partially_returned", "40.00", None),
        ("partially_returned", None, ("refunded_amount", "required")),
        ("partially_returned", "100.00", ("refunded_amount", "outside_paid_amount")),
        ("partially_returned", "100.01", ("refunded_amount", "outside_paid_amount")),
        ("returned", "100.00", ("refunded_amount", "not_with_status")),
        ("completed", "10.00", ("refunded_amount", "not_with_status")),
    ],
)
def test_a_partial_return_names_an_amount_below_what_was_paid(
    status: str, refunded: str | None, problem: tuple[str, str] | None
) -> None:
    errors = returned_amount_errors(status, Decimal("100.00"), Decimal(refunded) if refunded else None)
    assert [(e.field, e.code) for e in errors] == ([problem] if problem else [])


def test_a_return_of_nothing_paid_is_refused() -> None:
    errors = returned_amount_errors("returned", Decimal("0.00"), None)
    assert [(e.field, e.code) for e in errors] == [("status", "nothing_paid")]


def _order(**fields: object) -> OrderIn:
    return OrderIn.model_validate(
        {
            "external_id": "A",
            "source": "pos",
            "customer_id": "C",
            "paid_amount": "10.00",
            "occurred_at": "2026-11-20T10:00:00+08:00",
            **fields,
        }
    )


def test_the_order_shape_reads_status_words_and_refuses_others() -> None:
    assert _order().status == "completed"
    assert _order(status="已取消").status == "cancelled"
    assert _order(status="Partially Refunded", refunded_amount="4.00").status == "partially_returned"
    with pytest.raises(ValidationError) as caught:
        _order(status="lost")
    assert [e["loc"] for e in caught.value.errors()] == [("status",)]
    assert "use one of completed, cancelled" in caught.value.errors()[0]["msg"]
    with pytest.raises(ValidationError):
        _order(status=3)


def test_an_order_without_a_status_dumps_as_before_statuses_existed() -> None:
    # Request hashes of orders recorded earlier are over this dump: it must not change for them.
    dumped = _order().model_dump(mode="json")
    assert "status" not in dumped
    assert "refunded_amount" not in dumped
    assert _order(status="completed").model_dump(mode="json") == dumped
    dumped = _order(status="partially_returned", refunded_amount="4.00").model_dump(mode="json")
    assert (dumped["status"], dumped["refunded_amount"]) == ("partially_returned", "4.00")
