"""Importing this module registers the marketing outbox handlers (tag rules refreshed for the
customers named by `customer.events_recorded`, `loyalty.order_recorded`, `customer.merged` and
`customer.merge_undone`). Every process that
delivers outbox events imports it through `jobs.queue`."""

from guanxi.marketing import customer_links, tag_rules

HANDLER_MODULES = (tag_rules, customer_links)
