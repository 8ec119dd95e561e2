"""The customers domain's own participant: identities, notes, tags, account contacts and events
move to the survivor first."""

from __future__ import annotations

from sqlalchemy import and_, select

from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.merge.participants import MergeContext
from guanxi.customers.models import AccountContact, CustomerIdentity, CustomerNote, CustomerTag
from guanxi.kit.models import table_of


def _customers_merge(ctx: MergeContext) -> None:
    s, m = ctx.survivor_id, ctx.merged_id
    ctx.repoint("customers", table_of(CustomerIdentity), "customer_id", label="identities")
    ctx.repoint("customers", table_of(CustomerNote), "customer_id", label="notes")
    tags = table_of(CustomerTag)
    survivor_tags = select(tags.c.tag).where(tags.c.customer_id == s).scalar_subquery()
    ctx.remove("customers", tags, and_(tags.c.customer_id == m, tags.c.tag.in_(survivor_tags)), label="tags.same")
    ctx.repoint("customers", tags, "customer_id", key_columns=("tag",), label="tags")
    contacts = table_of(AccountContact)
    survivor_accounts = select(contacts.c.account_id).where(contacts.c.customer_id == s).scalar_subquery()
    ctx.remove(
        "customers",
        contacts,
        and_(contacts.c.customer_id == m, contacts.c.account_id.in_(survivor_accounts)),
        label="account_contacts.same",
    )
    ctx.repoint("customers", table_of(AccountContact), "customer_id", label="account_contacts")
    ctx.repoint("customers", table_of(CustomerEvent), "customer_id", label="events")


# Rows that may legitimately disappear after a merge (retention purges events): an undo skips
# them instead of refusing.
_MAY_VANISH = {"customer_events"}
