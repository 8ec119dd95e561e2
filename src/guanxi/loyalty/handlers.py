"""Importing this module registers every loyalty outbox handler. Every process that delivers
outbox events (the worker, `guanxi outbox dispatch`, the API's in-process wake-ups) imports it, so
no event is marked delivered before its handlers were known."""

from guanxi.loyalty import coupon_jobs, referrals

HANDLER_MODULES = (coupon_jobs, referrals)
