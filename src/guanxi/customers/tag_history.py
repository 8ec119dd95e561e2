"""Tag history: every tag added to or removed from a customer, with its source, actor and time.

Sources: `manual` (staff or an integration through the tags API), `rule:<code>` (a tag rule),
`import` (a customer import). Rows are appended by whoever changes `customer_tags`, in the same
transaction; bulk writers insert them with one Core statement.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, BigId
from guanxi.kit.principal import Principal


class CustomerTagHistory(Base):
    __tablename__ = "customer_tag_history"
    __table_args__ = (Index("ix_customer_tag_history_customer_occurred", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign key: history outlives merges and must not block them.
    customer_id: Mapped[str] = mapped_column(String(26))
    tag: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(10))  # add | remove
    source: Mapped[str] = mapped_column(String(60))  # manual | rule:<code> | import
    actor_id: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now)


def record(session: Session, actor: Principal, customer_id: str, tag: str, action: str, source: str = "manual") -> None:
    """One history row for one tag change (the manual path)."""
    session.add(
        CustomerTagHistory(
            customer_id=customer_id, tag=tag, action=action, source=source, actor_id=actor.id, occurred_at=clock.now()
        )
    )


def for_customer(session: Session, customer_id: str, *, limit: int = 200) -> list[CustomerTagHistory]:
    """Newest first. The caller has already checked the customer is visible to the actor."""
    return list(
        session.scalars(
            select(CustomerTagHistory)
            .where(CustomerTagHistory.customer_id == customer_id)
            .order_by(CustomerTagHistory.occurred_at.desc(), CustomerTagHistory.id.desc())
            .limit(limit)
        )
    )
