"""Idempotency keys for calls that move value (points, stock, coupons).

A client sends `Idempotency-Key: <key>`; the first call's answer is stored with a hash of its
request, in the same transaction as its effects. A retry with the same key and the same request gets
the stored answer and changes nothing; the same key with a different request is a 409. Keys belong to
the caller (staff user or API key) and the operation, so two integrations cannot collide.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from guanxi.kit import clock
from guanxi.kit.errors import Conflict, FieldError, ValidationFailed
from guanxi.kit.models import Base

MAX_KEY_LENGTH = 100


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    operation: Mapped[str] = mapped_column(String(60), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(default=200)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


def request_hash(payload: Any) -> str:
    """A stable hash of a request body (keys sorted, Decimals and dates as strings)."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str | None, *, required: bool = True) -> str | None:
    if key is None or key == "":
        if required:
            raise ValidationFailed(
                message="Idempotency-Key: this call moves points; send an Idempotency-Key header",
                errors=[
                    FieldError(
                        "Idempotency-Key", "required for this call", "missing", key="problem.idempotency.required"
                    )
                ],
            )
        return None
    if len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ValidationFailed(
            message=f"Idempotency-Key: at most {MAX_KEY_LENGTH} printable ASCII characters",
            errors=[
                FieldError(
                    "Idempotency-Key",
                    f"at most {MAX_KEY_LENGTH} printable ASCII characters",
                    params={"max": MAX_KEY_LENGTH},
                    key="problem.idempotency.shape",
                )
            ],
        )
    return key


def replay(session: Session, owner: str, operation: str, key: str, payload_hash: str) -> IdempotencyRecord | None:
    """The stored answer for this key, or None for a first call. A different request is a 409."""
    found = session.get(IdempotencyRecord, (owner, operation, key))
    if found is None:
        return None
    if found.request_hash != payload_hash:
        raise Conflict(
            message="Idempotency-Key was already used with a different request",
            errors=[
                FieldError(
                    "Idempotency-Key",
                    "already used with a different request",
                    "idempotency_mismatch",
                    key="problem.idempotency.reused",
                )
            ],
        )
    return found


def remember(
    session: Session,
    owner: str,
    operation: str,
    key: str,
    payload_hash: str,
    response: dict[str, Any],
    status_code: int = 200,
) -> None:
    """Store the answer in the caller's transaction: it exists exactly when the effects do."""
    session.add(
        IdempotencyRecord(
            owner=owner,
            operation=operation,
            key=key,
            request_hash=payload_hash,
            status_code=status_code,
            response=response,
        )
    )
    session.flush()
