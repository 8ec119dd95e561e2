"""What the customers domain hands the analytics warehouse: profiles without personal data, and
behaviour events. Names, phones, addresses and identities stay here."""

from __future__ import annotations

from datetime import timedelta

from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.models import Customer
from guanxi.kit.feeds import Feed, FeedColumn
from guanxi.kit.models import table_of

_customers = table_of(Customer)
_events = table_of(CustomerEvent)

CUSTOMERS = Feed(
    name="customers",
    source=_customers,
    key=FeedColumn("id", "string", _customers.c.id),
    watermark=FeedColumn("updated_at", "timestamp", _customers.c.updated_at),
    columns=(
        FeedColumn("created_at", "timestamp", _customers.c.created_at),
        FeedColumn("deleted_at", "timestamp", _customers.c.deleted_at),
        FeedColumn("merged_into_id", "string", _customers.c.merged_into_id),
        FeedColumn("gender", "string", _customers.c.gender),
        FeedColumn("birthday", "date", _customers.c.birthday),
        FeedColumn("province_code", "string", _customers.c.province_code),
        FeedColumn("city_code", "string", _customers.c.city_code),
        FeedColumn("source_channel", "string", _customers.c.source_channel),
        FeedColumn("owner_id", "string", _customers.c.owner_id),
        FeedColumn("team", "string", _customers.c.team),
        FeedColumn("region", "string", _customers.c.region),
        FeedColumn("profiling_opt_out", "bool", _customers.c.profiling_opt_out),
    ),
    overlap=timedelta(minutes=10),
)

# Events are append-only and keyed by a growing integer. Stitching an anonymous visitor (and a
# merge) moves `customer_id` without a change marker, so the warehouse re-reads the last
# ids of each pass and a full re-sync (`guanxi analytics sync --full`) picks up older moves.
EVENTS = Feed(
    name="events",
    source=_events,
    key=FeedColumn("id", "int", _events.c.id),
    watermark=FeedColumn("id", "int", _events.c.id),
    columns=(
        FeedColumn("type", "string", _events.c.type),
        FeedColumn("customer_id", "string", _events.c.customer_id),
        FeedColumn("channel", "string", _events.c.channel),
        FeedColumn("occurred_at", "timestamp", _events.c.occurred_at),
    ),
    overlap=5_000,
    where=_events.c.customer_id.is_not(None),
)

FEEDS = (CUSTOMERS, EVENTS)
