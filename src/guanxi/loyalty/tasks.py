"""The loyalty engine's daily work, in the order it must run: pending points first (so they can
expire or be spent), then expiry of the day that ended, reminders, tier reviews, and coupons
(expiry, then birthday and win-back issuance).

It is the first step of the production schedule (`jobs.schedule`), which the worker, `guanxi
loyalty daily` and the demo's replay all run."""

from __future__ import annotations

from dataclasses import dataclass

from guanxi.kit.db import Database, get_database
from guanxi.loyalty import handlers
from guanxi.loyalty.catalog import coupon_jobs
from guanxi.loyalty.ledger import expiration
from guanxi.loyalty.tiers import service as tiers

assert handlers.HANDLER_MODULES  # events the daily steps emit find their handlers registered


@dataclass(frozen=True, slots=True)
class LoyaltyDay:
    released: int
    expired: expiration.ExpiryReport
    reminded: int
    reviews: tiers.ReviewReport
    coupons_expired: int
    birthday_coupons: int
    win_back_coupons: int

    def lines(self) -> list[str]:
        expired, reviews = self.expired, self.reviews
        return [
            f"released {self.released} pending points",
            f"expired {expired.points} points in {expired.lots} lots of {expired.accounts} accounts "
            f"(last day {expired.as_of.isoformat()})",
            f"sent {self.reminded} expiry reminders",
            f"reviewed {reviews.reviewed} tiers: {reviews.kept} kept, {reviews.scheduled} downgrades scheduled, "
            f"{reviews.downgraded} downgraded",
            f"expired {self.coupons_expired} coupons",
            f"issued {self.birthday_coupons} birthday coupons and {self.win_back_coupons} win-back coupons",
        ]


def run_day(database: Database | None = None) -> LoyaltyDay:
    database = database or get_database()
    released = expiration.release_pending(database)
    expired = expiration.expire(database)
    reminded = expiration.send_reminders(database)
    reviews = tiers.run_reviews(database)
    coupons_expired = coupon_jobs.expire_coupons(database)
    birthday = coupon_jobs.issue_birthday(database)
    win_back = coupon_jobs.issue_win_back(database)
    return LoyaltyDay(released, expired, reminded, reviews, coupons_expired, birthday, win_back)


def run_daily(database: Database | None = None) -> list[str]:
    return run_day(database).lines()
