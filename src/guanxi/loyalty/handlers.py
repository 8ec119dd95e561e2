"""Importing this module registers every loyalty outbox handler. Every process that delivers
outbox events (the worker, `guanxi outbox dispatch`, the API's in-process wake-ups) imports it, so
no event is marked delivered before its handlers were known."""

from guanxi.loyalty.catalog import coupon_jobs
from guanxi.loyalty.exchange import referrals

HANDLER_MODULES = (coupon_jobs, referrals)
