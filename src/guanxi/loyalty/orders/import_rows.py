"""An import row's fields as an order (`OrderIn`): the customer named by guanxi's id, the shop's
own customer id or an identity; the status and the amount given back; one line per row, lines of
one order put together by the importer. Pure: no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from guanxi.kit.errors import FieldError
from guanxi.loyalty.orders import statuses
from guanxi.loyalty.program.schemas import OrderIn, OrderLineIn


@dataclass
class OrderRecord:
    line: int
    data: OrderIn
    # bad values dropped from the row(s) while the order was kept
    warnings: list[str] = field(default_factory=list)
    line_count: int = 1  # the file rows this order was made of

    def keys(self) -> list[str]:
        return [order_key(self.data.source, self.data.external_id)]


DEFAULT_SOURCE = "import"


def order_key(source: str, external_id: str) -> str:
    """What makes an order the same order: (source, external id)."""
    return f"{source or DEFAULT_SOURCE}/{external_id}"


def _pydantic_errors(exc: PydanticValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        errors.append(FieldError(path or "row", err["msg"], err["type"]))
    return errors


def validate(line: int, values: dict[str, Any]) -> OrderRecord | list[FieldError]:
    """A row's fields (occurred_at an aware datetime, amounts Decimals, quantity an int) as an
    `OrderIn`. The customer is `customer_id`, the shop's own customer id (`customer_external_id`,
    in the system `customer_source`, by default the order's source), or the first identity given
    (phone, member card, email, unionid)."""
    body: dict[str, Any] = {
        "external_id": values.get("external_id") or "",
        "source": values.get("source") or DEFAULT_SOURCE,
        "paid_amount": values.get("paid_amount"),
        "occurred_at": values.get("occurred_at"),
    }
    for name in ("store", "channel", "status", "refunded_amount"):
        if values.get(name):
            body[name] = values[name]
    _returned_from_amount(body)
    if values.get("currency"):
        body["currency"] = str(values["currency"]).upper()
    if values.get("customer_id"):
        body["customer_id"] = values["customer_id"]
    elif values.get("customer_external_id"):
        body["identity"] = {
            "kind": "external_id",
            "namespace": str(values.get("customer_source") or body["source"]),
            "value": str(values["customer_external_id"]),
        }
    else:
        for kind in ("phone", "member_card", "email", "wechat_unionid"):
            if values.get(kind):
                body["identity"] = {"kind": kind, "value": str(values[kind])}
                break
        else:
            return [
                FieldError(
                    "customer",
                    "name the customer: customer_id, customer_external_id, phone, member card, email or unionid",
                    "required",
                )
            ]
    if values.get("sku") or values.get("category") or values.get("quantity"):
        quantity = values.get("quantity") or 1
        unit_price = values.get("unit_price")
        if unit_price is None and isinstance(body["paid_amount"], Decimal):
            # one line holding the whole order: its unit price is what was paid per item, rounded up
            unit_price = (body["paid_amount"] / quantity).quantize(Decimal("0.01"), rounding="ROUND_UP")
        body["lines"] = [
            {
                "sku": values.get("sku") or None,
                "category": values.get("category") or None,
                "quantity": quantity,
                "unit_price": unit_price,
            }
        ]
    try:
        data = OrderIn.model_validate(body)
    except PydanticValidationError as exc:
        return _pydantic_errors(exc)
    return OrderRecord(line, data)


def _returned_from_amount(body: dict[str, Any]) -> None:
    """A shop's export gives what was refunded next to the status: an amount given back on a
    completed order makes it (partially) returned, and a returned order's refund is all it paid."""
    refunded, paid = body.get("refunded_amount"), body.get("paid_amount")
    if not isinstance(refunded, Decimal) or not isinstance(paid, Decimal):
        return
    status = body.get("status", statuses.COMPLETED)
    if status == statuses.RETURNED and refunded == paid:
        del body["refunded_amount"]
    elif status in (statuses.COMPLETED, statuses.PARTIALLY_RETURNED) and refunded == paid:
        body["status"] = statuses.RETURNED
        del body["refunded_amount"]
    elif status == statuses.COMPLETED:
        body["status"] = statuses.PARTIALLY_RETURNED


def whole_order_line(data: OrderIn) -> OrderLineIn:
    """A row without line detail as one line of a multi-line order: one item at what was paid."""
    return OrderLineIn(quantity=1, unit_price=data.paid_amount)


def recheck(data: OrderIn) -> list[FieldError]:
    """The schema's checks again, for an order put together from several rows."""
    try:
        OrderIn.model_validate(data.model_dump())
    except PydanticValidationError as exc:
        return _pydantic_errors(exc)
    return []
