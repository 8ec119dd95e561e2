"""Loyalty: programs, tiers, the points ledger, orders, rewards, coupons and referrals."""

# Loyalty takes part in customer merges wherever loyalty is loaded (API, console, CLI, jobs).
from guanxi.loyalty import merge as _merge  # noqa: F401

# Orders, points and coupons appear in the customer 360 timeline the same way.
from guanxi.loyalty import timeline as _timeline  # noqa: F401
