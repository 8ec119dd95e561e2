"""Errors a loyalty caller can cause, each with its status and a stable code."""

from __future__ import annotations

from guanxi.kit.errors import Conflict, DomainError, FieldError


class InsufficientPoints(DomainError):
    status = 422
    code = "insufficient_points"
    title = "Not enough points"


class OutOfStock(Conflict):
    code = "out_of_stock"
    title = "Out of stock"


class LimitReached(DomainError):
    status = 422
    code = "limit_reached"
    title = "Limit reached"


class NotEligible(DomainError):
    status = 422
    code = "not_eligible"
    title = "Not eligible"


def insufficient(balance: int, wanted: int, field: str = "points") -> InsufficientPoints:
    return InsufficientPoints(
        message=f"{field}: {wanted} points asked for, {max(balance, 0)} spendable",
        errors=[
            FieldError(
                field,
                f"exceeds the spendable balance of {max(balance, 0)}",
                "insufficient_points",
                {"balance": max(balance, 0)},
                key="problem.points.insufficient",
            )
        ],
        extra={"points_balance": balance},
    )
