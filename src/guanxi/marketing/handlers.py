"""Importing this module registers the marketing outbox handlers (tag rules refreshed for the
customers named by `customer.events_recorded` and `loyalty.order_recorded`). Every process that
delivers outbox events imports it through `jobs.queue`."""

from guanxi.marketing import tag_rules

HANDLER_MODULES = (tag_rules,)
