"""Parts of a customer's detail that domains above this one provide (the analytics' scores).

The customers domain cannot read their tables; a domain registers a function here when it is
imported, and the detail asks it for the customer being shown.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from guanxi.customers.schemas import CustomerDetail, CustomerScoresOut
from guanxi.kit.principal import Principal

ScoresProvider = Callable[[Session, Principal, str], CustomerScoresOut | None]
_scores: list[ScoresProvider] = []


def register_scores(provider: ScoresProvider) -> None:
    if provider not in _scores:
        _scores.append(provider)


def completed(session: Session, actor: Principal, detail: CustomerDetail) -> CustomerDetail:
    for provider in _scores:
        scores = provider(session, actor, detail.id)
        if scores is not None:
            detail.scores = scores
    return detail
