"""Who an event belongs to: the identity graph's rules, applied to a whole batch at once.

The rules, in order:
1. The event's subject (the anchor) is the customer it names by id, else the holder of its
   strongest known identity: WeChat unionid, verified phone, app user id, member card, WeChat
   openid (one per mini-program or official account, all under the person's unionid), email,
   external id, unverified phone, anonymous id.
2. An identity in the event that nobody holds is linked to the anchor, except contact details
   (phone, email) that the event does not mark as verified, and a second unionid for a customer
   who already has one (a person has one unionid).
3. An identity held by another customer is never moved. If the event ties the two customers by
   a strong identifier (the anchor was found by unionid or by a verified phone, and the other
   customer has no identifier of that kind) they are the same person seen through another
   channel: the other customer is merged into the anchor. Otherwise the event keeps its anchor,
   the identity stays where it is, and the conflict is reported on the event and audited.
4. An anonymous id linked to a customer brings its earlier anonymous events with it (stitching).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.identities import NormalizedIdentity, stored_value
from guanxi.customers.identity_cache import Holder, Key, changed, for_session, may_store
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.normalize import NAMESPACED_KINDS, PII_KINDS, IdentityKind
from guanxi.kit import clock
from guanxi.kit.crypto import get_cipher
from guanxi.kit.errors import FieldError
from guanxi.kit.ids import new_id
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

if TYPE_CHECKING:
    from guanxi.customers.events import ItemResult, ParsedEvent

NAMESPACED = NAMESPACED_KINDS
# The system merges on the evidence of an event; the audit trail names it as such.
RESOLVER = Principal(id="system:identity-resolution", name="identity resolution", role="admin", kind="system")


def _rank(kind: IdentityKind, verified: bool) -> int:
    order = {
        IdentityKind.WECHAT_UNIONID: 0,
        IdentityKind.APP_USER_ID: 2,
        IdentityKind.MEMBER_CARD: 3,
        IdentityKind.WECHAT_OPENID: 4,
        IdentityKind.EMAIL: 5,
        IdentityKind.EXTERNAL_ID: 6,
        IdentityKind.ANONYMOUS_ID: 9,
    }
    if kind is IdentityKind.PHONE:
        return 1 if verified else 7
    return order.get(kind, 8)


def _strong(kind: IdentityKind, claimed_verified: bool, stored_verified: bool) -> str | None:
    """The merge reason this identity would justify, or None for a weak one."""
    if kind is IdentityKind.WECHAT_UNIONID:
        return "unionid"
    if kind is IdentityKind.PHONE and claimed_verified and stored_verified:
        return "verified_phone"
    return None


@dataclass
class _Plan:
    links: dict[Key, tuple[str, NormalizedIdentity]] = field(default_factory=dict)
    merges: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    redirect: dict[str, str] = field(default_factory=dict)

    def live(self, customer_id: str) -> str:
        while customer_id in self.redirect:
            customer_id = self.redirect[customer_id]
        return customer_id


@dataclass
class Resolution:
    plan: _Plan = field(default_factory=_Plan)
    customer_of: dict[int, str | None] = field(default_factory=dict)
    merges: list[str] = field(default_factory=list)
    linked: int = 0
    new_anonymous_links: list[tuple[str, str]] = field(default_factory=list)  # (anonymous id, customer)


def _key(ident: NormalizedIdentity) -> Key:
    return (ident.kind.value, ident.namespace, ident.index)


def _lookup(session: Session, items: Sequence[ParsedEvent]) -> dict[Key, Holder]:
    """Who holds each identity the batch names: from the identity cache, the rest from the
    database (which then fills the cache)."""
    keys = {_key(ident) for item in items for ident in item.identities}
    if not keys:
        return {}
    cache = for_session(session)
    found = cache.get_many(keys)
    missing = sorted({key[2] for key in keys if key not in found})
    if not missing:
        return found
    generation = cache.generation
    t = table_of(CustomerIdentity)
    stmt = select(t.c.kind, t.c.namespace, t.c.value_index, t.c.customer_id, t.c.verified).where(
        t.c.value_index.in_(missing)
    )
    read = {(r.kind, r.namespace, r.value_index): Holder(r.customer_id, r.verified) for r in session.execute(stmt)}
    if may_store(session):
        cache.put_many(generation, read)
    return found | read


def _live_customers(session: Session, ids: set[str]) -> dict[str, str]:
    """id -> the customer that is live now (itself, or the one it was merged into, following
    merges of merges); deleted customers that were not merged are absent. Never cached: an event
    must not land on a customer merged away a moment ago. On PostgreSQL the rows are share-locked
    in id order until the batch commits, so a merge of one of them waits for the batch (and then
    moves its events) instead of committing between this read and the insert."""
    c = table_of(Customer)
    postgresql = session.get_bind().dialect.name == "postgresql"
    target: dict[str, str | None] = {}  # id -> merged into, or None when live; absent when deleted
    wanted = set(ids)
    for _ in range(20):  # merges of merges are short chains
        if not wanted:
            break
        stmt = select(c.c.id, c.c.deleted_at, c.c.merged_into_id).where(c.c.id.in_(sorted(wanted)))
        if postgresql:
            stmt = stmt.order_by(c.c.id).with_for_update(key_share=True, read=True)
        for row in session.execute(stmt):
            if row.merged_into_id is not None:
                target[row.id] = row.merged_into_id
            elif row.deleted_at is None:
                target[row.id] = None
        seen = wanted
        wanted = {t for t in target.values() if t is not None and t not in target and t not in seen}
    live: dict[str, str] = {}
    for cid in ids:
        current: str | None = cid
        for _ in range(50):
            if current not in target:
                current = None
                break
            nxt = target[current]
            if nxt is None:
                break
            current = nxt
        else:
            current = None
        if current is not None:
            live[cid] = current
    return live


def _strong_kinds(session: Session, customer_ids: set[str]) -> dict[str, set[str]]:
    """Which strong identifiers each customer holds: 'unionid' and/or 'verified_phone'."""
    held: dict[str, set[str]] = {cid: set() for cid in customer_ids}
    if not customer_ids:
        return held
    t = table_of(CustomerIdentity)
    stmt = select(t.c.customer_id, t.c.kind, t.c.verified).where(
        t.c.customer_id.in_(sorted(customer_ids)), t.c.kind.in_(["wechat_unionid", "phone"])
    )
    for row in session.execute(stmt):
        if row.kind == "wechat_unionid":
            held[row.customer_id].add("unionid")
        elif row.verified:
            held[row.customer_id].add("verified_phone")
    return held


def _contested(items: Sequence[ParsedEvent], holders: dict[Key, Holder], live: dict[str, str]) -> set[str]:
    """Customers whose strong identifiers a decision may need: those sharing an event with another
    customer, and those an event would give a unionid. Most events name one known customer, and
    for them the lookup is skipped."""
    wanted: set[str] = set()
    for item in items:
        owners = {live[item.data.customer_id]} if item.data.customer_id in live else set()
        new_unionid = False
        for ident in item.identities:
            holder = holders.get(_key(ident))
            if holder is not None and holder.customer_id in live:
                owners.add(live[holder.customer_id])
            elif ident.kind is IdentityKind.WECHAT_UNIONID:
                new_unionid = True
        if len(owners) > 1 or new_unionid:
            wanted |= owners
    return wanted


def resolve(session: Session, items: Sequence[ParsedEvent], results: list[ItemResult]) -> Resolution:
    """Decide each event's customer and the links and merges that needs, writing nothing.

    Items that cannot be attributed are marked rejected in `results`; `apply` writes the rest.
    Reads are batched: identities, customers and strong identifiers in three queries.
    """
    holders = _lookup(session, items)
    explicit = {item.data.customer_id for item in items if item.data.customer_id}
    live = _live_customers(session, explicit | {h.customer_id for h in holders.values()})
    strong = _strong_kinds(session, _contested(items, holders, live))
    resolution = Resolution()
    plan = resolution.plan
    for item in items:
        result = results[item.index]
        anchor = _decide(item, holders, live, strong, plan, result)
        if result.status == "rejected":
            continue
        resolution.customer_of[item.index] = anchor
    # A merge later in the batch may have absorbed an earlier event's customer.
    for index, customer_id in resolution.customer_of.items():
        if customer_id is not None:
            resolution.customer_of[index] = plan.live(customer_id)
    return resolution


def _decide(
    item: ParsedEvent,
    holders: dict[Key, Holder],
    live: dict[str, str],
    strong: dict[str, set[str]],
    plan: _Plan,
    result: ItemResult,
) -> str | None:
    where = f"events[{item.index}]"
    known: list[tuple[NormalizedIdentity, str, Holder]] = []
    unknown: list[NormalizedIdentity] = []
    for ident in item.identities:
        key = _key(ident)
        if key in plan.links:  # linked earlier in this batch
            known.append((ident, plan.live(plan.links[key][0]), Holder(plan.links[key][0], ident.verified)))
            continue
        holder = holders.get(key)
        owner = live.get(holder.customer_id) if holder else None
        if holder is None or owner is None:
            unknown.append(ident)
        else:
            known.append((ident, plan.live(owner), holder))
    anchor: str | None = None
    anchor_reason: str | None = None
    if item.data.customer_id is not None:
        named = live.get(item.data.customer_id)
        if named is None:
            result.status = "rejected"
            result.errors.append(FieldError(f"{where}.customer_id", "no such customer", "unknown_customer"))
            return None
        anchor = plan.live(named)
    elif known:
        ident, anchor, holder = min(known, key=lambda k: _rank(k[0].kind, k[0].verified and k[2].verified))
        anchor_reason = _strong(ident.kind, ident.verified, holder.verified)
    if anchor is None:
        named_people = [i for i in unknown if i.kind is not IdentityKind.ANONYMOUS_ID]
        if named_people and item.data.anonymous_id is None:
            kinds = ", ".join(i.kind.value for i in named_people)
            result.status = "rejected"
            result.errors.append(
                FieldError(
                    f"{where}.identities",
                    f"no customer has this {kinds}",
                    "unknown_identity",
                    params={"kinds": kinds},
                    key="problem.events.unknown_identities",
                )
            )
            return None
        for ident in named_people:
            result.warnings.append(
                FieldError(
                    ident.field,
                    "no customer has it; kept anonymous",
                    "unknown_identity",
                    key="problem.events.kept_anonymous",
                )
            )
        return None
    for ident, owner, _holder in known:
        if owner == anchor:
            continue
        if anchor_reason and anchor_reason not in strong.get(owner, set()):
            evidence = {"event_id": item.data.event_id, "identity": ident.kind.value}
            plan.merges.append((anchor, owner, anchor_reason, evidence))
            plan.redirect[owner] = anchor
            strong.setdefault(anchor, set()).update(strong.get(owner, set()))
            continue
        result.warnings.append(
            FieldError(
                ident.field,
                f"belongs to customer {owner}; not moved",
                "identity_conflict",
                params={"owner": owner},
                key="problem.events.identity_elsewhere",
            )
        )
        plan.conflicts.append(
            {"event_id": item.data.event_id, "kind": ident.kind.value, "held_by": owner, "event_customer": anchor}
        )
    for ident in unknown:
        _link(ident, anchor, strong, plan, result)
    return anchor


def _link(ident: NormalizedIdentity, anchor: str, strong: dict[str, set[str]], plan: _Plan, result: ItemResult) -> None:
    if ident.kind in PII_KINDS and not ident.verified:
        result.warnings.append(
            FieldError(
                ident.field,
                "not linked: contact details from events must be verified",
                "not_linked",
                key="problem.events.unverified",
            )
        )
        return
    if ident.kind is IdentityKind.WECHAT_UNIONID:
        if "unionid" in strong.get(anchor, set()):
            result.warnings.append(
                FieldError(
                    ident.field,
                    "not linked: the customer already has a unionid",
                    "identity_conflict",
                    key="problem.events.has_unionid",
                )
            )
            plan.conflicts.append({"kind": "wechat_unionid", "event_customer": anchor, "reason": "second_unionid"})
            return
        strong.setdefault(anchor, set()).add("unionid")
    plan.links[_key(ident)] = (anchor, ident)


def apply(session: Session, actor: Principal, resolution: Resolution) -> None:
    """Perform the merges, then the links, then audit the conflicts a resolution decided on."""
    plan = resolution.plan
    if plan.merges:
        from guanxi.customers import merge  # merge imports this module's neighbours; import at use

        for survivor, merged, reason, evidence in plan.merges:
            record = merge.merge_customers(
                session, RESOLVER, survivor_id=plan.live(survivor), merged_id=merged, reason=reason, evidence=evidence
            )
            resolution.merges.append(record.id)
    rows = []
    cipher = get_cipher()
    now = clock.now()
    for anchor, ident in plan.links.values():
        customer_id = plan.live(anchor)
        rows.append(
            {
                "id": new_id(),
                "customer_id": customer_id,
                "kind": ident.kind.value,
                "namespace": ident.namespace,
                "value_index": ident.index,
                **stored_value(cipher, ident.kind.value, ident.value),
                "verified": ident.verified,
                "created_at": now,
            }
        )
        if ident.kind is IdentityKind.ANONYMOUS_ID:
            resolution.new_anonymous_links.append((ident.value, customer_id))
    if rows:
        changed(session, [_key(ident) for _anchor, ident in plan.links.values()])
        resolution.linked = _insert_links(session, rows)
    for conflict in plan.conflicts:
        audit.record(
            session,
            actor,
            "identity.conflict",
            entity_type="customer",
            entity_id=conflict["event_customer"],
            detail=conflict,
        )


def _insert_links(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert identity links; one that another request linked a moment ago is skipped, not an error
    (the unique key decides, so two concurrent batches cannot both claim an identity)."""
    table = table_of(CustomerIdentity)
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).on_conflict_do_nothing(index_elements=["kind", "namespace", "value_index"])
    result = session.execute(stmt, rows)
    count = int(result.rowcount)  # type: ignore[attr-defined]
    return count if count >= 0 else len(rows)


def stitch(session: Session, links: list[tuple[str, str]]) -> int:
    """Attribute anonymous events of newly linked anonymous ids to their customer."""
    if not links:
        return 0
    events = table_of(CustomerEvent)
    stmt = (
        update(events)
        .where(events.c.anonymous_id == bindparam("anon"), events.c.customer_id.is_(None))
        .values(customer_id=bindparam("cid"))
    )
    total = 0
    for anon, cid in links:
        total += int(session.execute(stmt, {"anon": anon, "cid": cid}).rowcount or 0)  # type: ignore[attr-defined]
    return total
