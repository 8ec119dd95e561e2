"""The member card read in one statement (customer in scope, account and open-lot sums) answers
exactly what the separate reads answered: enrolled and not, lots expiring inside and outside the
window, pending lots matured or not, merged, deleted and out-of-scope customers, every role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from guanxi.auth.service import require
from guanxi.customers import merge, service
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.members import card
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import LoyaltyAccount, PointLot
from tests.factories import create_customer, post_order


def _old(session: Any, actor: Principal, customer_id: str) -> Any:
    """`card.get_card` as it was: permission, customer, program, account, then the lot sums."""
    require(actor, "loyalty", "read")
    customer = service.get_customer(session, actor, customer_id)
    config = program.load(session)
    return card._card(session, config, customer.id, ledger.find_account(session, config, customer.id))


def _outcome(db: Database, fn: Any) -> Any:
    try:
        with db.unit_of_work() as session:
            return ("ok", fn(session).model_dump())
    except Exception as exc:  # the error is part of the answer
        return (type(exc).__name__, str(exc), getattr(exc, "extra", None))


def test_the_card_answers_as_the_separate_reads_did(db: Database) -> None:
    now = clock.now()
    with db.unit_of_work() as session:
        rich = create_customer(session, region="华东", phone="13800138000")
        for n in range(4):
            post_order(session, customer_id=rich.id, amount=f"{200 + n * 50}.00", external_id=f"r-{n}")
        plain = create_customer(session, name="李娜", region="华北")
        post_order(session, customer_id=plain.id, amount="99.00", external_id="p-1")
        never = create_customer(session, name="王芳", region="华东")
        survivor = create_customer(session, name="赵六", region="华东")
        absorbed = create_customer(session, name="赵六", region="华东")
        post_order(session, customer_id=absorbed.id, amount="150.00", external_id="a-1")
        merge.merge_customers(session, SYSTEM, survivor_id=survivor.id, merged_id=absorbed.id, reason="manual")
        gone = create_customer(session, name="王五")
        service.delete_customer(session, SYSTEM, gone.id)
        account_id = session.scalar(select(LoyaltyAccount.id).where(LoyaltyAccount.customer_id == rich.id))
        lots = list(session.scalars(select(PointLot.id).where(PointLot.account_id == account_id).order_by(PointLot.id)))
        assert len(lots) == 4
        # Two lots expire inside the window (one of them pending, matured), one pending not yet
        # available, one outside the window.
        shapes: list[dict[str, Any]] = [
            {"expires_at": now + timedelta(days=3)},
            {"expires_at": now + timedelta(days=20), "status": "pending", "available_at": now - timedelta(hours=1)},
            {"status": "pending", "available_at": now + timedelta(days=2)},
            {"expires_at": now + timedelta(days=90)},
        ]
        for lot_id, values in zip(lots, shapes, strict=True):
            session.execute(update(PointLot).where(PointLot.id == lot_id).values(**values))
        pending = sum(
            int(r)
            for r in session.scalars(
                select(PointLot.remaining).where(PointLot.account_id == account_id, PointLot.status == "pending")
            )
        )
        session.execute(update(LoyaltyAccount).where(LoyaltyAccount.id == account_id).values(pending_points=pending))
        ids = [rich.id, plain.id, never.id, survivor.id, absorbed.id, gone.id, "01NOSUCHCUSTOMER0000000000"]
    actors = [Principal(id=f"u-{r}", name=r, role=r, scope="all") for r in ("admin", "service", "analyst", "nobody")]
    actors += [
        Principal(id="m", name="m", role="manager", scope="region", region="华东"),
        Principal(id="m", name="m", role="manager", scope="team", team=None),
    ]
    seen = set()
    for actor in actors:
        for customer_id in ids:
            old = _outcome(db, lambda s, a=actor, c=customer_id: _old(s, a, c))
            new = _outcome(db, lambda s, a=actor, c=customer_id: card.get_card(s, a, c))
            assert new == old, (actor.role, actor.scope, customer_id)
            seen.add(old[0])
            if old[0] == "ok" and customer_id == rich.id:
                assert old[1]["expiring"]["points"] > 0 and old[1]["pending_points"] > 0
    assert seen == {"ok", "NotFound", "CustomerMerged", "PermissionDenied"}
