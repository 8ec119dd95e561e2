"""Errors of the reward catalog and of coupons at the till, each with its status and stable code.

`CouponRefused` errors carry the coupon's id (when the code named one) outside the rendered body,
so a refused redemption can be audited without telling the caller whether a code exists.
"""

from __future__ import annotations

from guanxi.kit.errors import Conflict, DomainError, FieldError


class CouponRefused(DomainError):
    status = 422
    code = "coupon_refused"
    title = "Coupon refused"
    # Not rendered: for the audit record only.
    coupon_id: str | None = None


class InvalidCouponCode(CouponRefused):
    code = "invalid_coupon_code"
    title = "Invalid coupon code"


class CouponNotFound(CouponRefused):
    """Unknown code, or a code issued to someone else: the same answer for both."""

    status = 404
    code = "coupon_not_found"
    title = "Coupon not valid"


class CouponExpired(CouponRefused):
    code = "coupon_expired"
    title = "Coupon expired"


class CouponNotYetValid(CouponRefused):
    code = "coupon_not_yet_valid"
    title = "Coupon not yet valid"


class CouponUsed(CouponRefused):
    status = 409
    code = "coupon_used"
    title = "Coupon already used"


class CouponVoid(CouponRefused):
    status = 409
    code = "coupon_void"
    title = "Coupon void"


class BelowMinSpend(CouponRefused):
    code = "below_min_spend"
    title = "Below the minimum spend"


class CategoryMismatch(CouponRefused):
    code = "category_mismatch"
    title = "Category mismatch"


class StackingConflict(CouponRefused):
    status = 409
    code = "stacking_conflict"
    title = "Coupons cannot be combined"


class CurrencyMismatch(CouponRefused):
    code = "currency_mismatch"
    title = "Currency mismatch"


class LotteryExhausted(Conflict):
    code = "lottery_exhausted"
    title = "Lottery exhausted"


REFUSALS: dict[str, type[CouponRefused]] = {
    cls.code: cls
    for cls in (BelowMinSpend, CategoryMismatch, StackingConflict, CurrencyMismatch, CouponExpired, CouponNotYetValid)
}


def refused(
    cls: type[CouponRefused],
    field: str,
    message: str,
    coupon_id: str | None = None,
    *,
    key: str | None = None,
    **params: object,
) -> CouponRefused:
    """`message` is the English sentence; `key` (with `params`) says it in the reader's language as
    the field's message, which other languages' details are made of (English keeps the sentence)."""
    error = cls(message=f"{field}: {message}", errors=[FieldError(field, message, cls.code, params, key=key)])
    error.coupon_id = coupon_id
    return error
