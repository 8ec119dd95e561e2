"""The loyalty engine's daily work, in the order it must run: pending points first (so they can
expire or be spent), then expiry of the day that ended, reminders, tier reviews, and coupons
(expiry, then birthday and win-back issuance)."""

from __future__ import annotations

from guanxi.kit.db import get_database
from guanxi.loyalty import coupon_jobs, expiration, handlers, tiers

assert handlers.HANDLER_MODULES  # events the daily steps emit find their handlers registered


def run_daily() -> list[str]:
    database = get_database()
    released = expiration.release_pending(database)
    expired = expiration.expire(database)
    reminded = expiration.send_reminders(database)
    reviews = tiers.run_reviews(database)
    coupons_expired = coupon_jobs.expire_coupons(database)
    birthday_coupons = coupon_jobs.issue_birthday(database)
    win_back_coupons = coupon_jobs.issue_win_back(database)
    return [
        f"released {released} pending points",
        f"expired {expired.points} points in {expired.lots} lots of {expired.accounts} accounts "
        f"(last day {expired.as_of.isoformat()})",
        f"sent {reminded} expiry reminders",
        f"reviewed {reviews.reviewed} tiers: {reviews.kept} kept, {reviews.scheduled} downgrades scheduled, "
        f"{reviews.downgraded} downgraded",
        f"expired {coupons_expired} coupons",
        f"issued {birthday_coupons} birthday coupons and {win_back_coupons} win-back coupons",
    ]
