"""HTTP API for duplicate review and customer merges: the queue of probable duplicates, a side by
side comparison (masked per role), merge (a reviewed pair or any two customers), dismiss, merge
history and undo. Every refusal is problem+json."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from guanxi.auth.deps import CurrentPrincipal
from guanxi.customers import merge as merges
from guanxi.customers import service as customers
from guanxi.customers.merge_models import CustomerMerge, DuplicateCandidate
from guanxi.customers.schemas import CustomerDetail
from guanxi.kit.inputs import FreeJSON
from guanxi.kit.pagination import PageRequest
from guanxi.kit.text import StorableInput
from guanxi.kit.web import DbSession, in_worker_thread

router = APIRouter(tags=["merges"])

Id = Annotated[str, Path(min_length=1, max_length=26)]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor from the previous page")]


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid")


class MergeIn(_Input):
    survivor_id: str = Field(min_length=1, max_length=26, description="The customer who stays")
    merged_id: str = Field(min_length=1, max_length=26, description="The customer folded into the survivor")
    reason: Literal["manual", "duplicate_review", "unionid", "verified_phone"] = "manual"
    evidence: FreeJSON = Field(default_factory=dict, max_length=20)


class CandidateMergeIn(_Input):
    survivor_id: str = Field(min_length=1, max_length=26, description="Which of the pair stays")


class DismissIn(_Input):
    note: str | None = Field(default=None, max_length=500)


class MergeOut(BaseModel):
    id: str
    survivor_id: str
    merged_id: str
    reason: str
    evidence: dict[str, Any]
    status: str
    actor_id: str
    actor_name: str
    summary: dict[str, Any]
    survivor_fields_changed: list[str]
    candidate_id: str | None
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None

    @classmethod
    def of(cls, record: CustomerMerge) -> MergeOut:
        return cls(
            id=record.id,
            survivor_id=record.survivor_id,
            merged_id=record.merged_id,
            reason=record.reason,
            evidence=record.evidence or {},
            status=record.status,
            actor_id=record.actor_id,
            actor_name=record.actor_name,
            summary=record.summary or {},
            survivor_fields_changed=sorted(record.survivor_after or {}),
            candidate_id=record.candidate_id,
            created_at=record.created_at,
            undone_at=record.undone_at,
            undone_by=record.undone_by,
        )


class MergePage(BaseModel):
    items: list[MergeOut]
    next_cursor: str | None


class CandidateOut(BaseModel):
    id: str
    customer_a_id: str
    customer_b_id: str
    score: float
    match_weight: float
    matched: dict[str, Any]
    status: str
    merge_id: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, c: DuplicateCandidate) -> CandidateOut:
        return cls.model_validate(c, from_attributes=True)


class CandidatePage(BaseModel):
    items: list[CandidateOut]
    next_cursor: str | None


class Comparison(BaseModel):
    candidate: CandidateOut | None
    a: CustomerDetail
    b: CustomerDetail
    # Fields whose values differ between the two (masked values compared as shown).
    differing: list[str]
    # What a merge with `a` as the survivor would change on `a` (field names only).
    survivorship_if_a_survives: list[str]
    survivorship_if_b_survives: list[str]


_COMPARED = (
    "name",
    "gender",
    "birthday",
    "province",
    "city",
    "district",
    "occupation",
    "income_band",
    "preferred_channel",
    "source_channel",
    "region",
    "phone",
    "email",
    "address",
)


def _compare(session: Any, principal: Any, a_id: str, b_id: str, candidate: DuplicateCandidate | None) -> Comparison:
    a = customers.customer_detail(session, principal, a_id)
    b = customers.customer_detail(session, principal, b_id)
    row_a = customers.get_customer(session, principal, a_id)
    row_b = customers.get_customer(session, principal, b_id)
    return Comparison(
        candidate=CandidateOut.of(candidate) if candidate else None,
        a=a,
        b=b,
        differing=[f for f in _COMPARED if getattr(a, f) != getattr(b, f)],
        survivorship_if_a_survives=sorted(_public(merges.survivorship(row_a, row_b))),
        survivorship_if_b_survives=sorted(_public(merges.survivorship(row_b, row_a))),
    )


def _public(changes: dict[str, Any]) -> list[str]:
    return ["address" if k == "address_enc" else k for k in changes]


@router.get("/duplicates", response_model=CandidatePage)
@in_worker_thread
def list_duplicates(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    status_: Annotated[Literal["open", "merged", "dismissed"], Query(alias="status")] = "open",
) -> CandidatePage:
    """Probable duplicate pairs, most likely first."""
    page = merges.list_candidates(
        session, principal, PageRequest(limit=limit, cursor=cursor, sort="score"), status=status_
    )
    return CandidatePage(items=[CandidateOut.of(c) for c in page.items], next_cursor=page.next_cursor)


@router.get("/duplicates/{candidate_id}", response_model=Comparison)
@in_worker_thread
def compare_candidate(candidate_id: Id, session: DbSession, principal: CurrentPrincipal) -> Comparison:
    """Both customers of a pair side by side, masked per role."""
    candidate = merges.get_candidate(session, principal, candidate_id)
    return _compare(session, principal, candidate.customer_a_id, candidate.customer_b_id, candidate)


@router.get("/customers/{a_id}/compare/{b_id}", response_model=Comparison)
@in_worker_thread
def compare_customers(a_id: Id, b_id: Id, session: DbSession, principal: CurrentPrincipal) -> Comparison:
    """Any two customers side by side, masked per role."""
    merges.require(principal, "merges", "read")
    return _compare(session, principal, a_id, b_id, None)


@router.post("/duplicates/{candidate_id}/merge", response_model=MergeOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def merge_candidate(
    candidate_id: Id, body: CandidateMergeIn, session: DbSession, principal: CurrentPrincipal, response: Response
) -> MergeOut:
    """Merge a reviewed pair; `survivor_id` says which of the two stays."""
    record = merges.merge_candidate(session, principal, candidate_id, survivor_id=body.survivor_id)
    response.headers["Location"] = f"/api/v1/merges/{record.id}"
    return MergeOut.of(record)


@router.post("/duplicates/{candidate_id}/dismiss", response_model=CandidateOut)
@in_worker_thread
def dismiss_candidate(
    candidate_id: Id, session: DbSession, principal: CurrentPrincipal, body: DismissIn | None = None
) -> CandidateOut:
    """The two are different people: the pair leaves the queue for good."""
    return CandidateOut.of(merges.dismiss_candidate(session, principal, candidate_id, note=body.note if body else None))


@router.post("/merges", response_model=MergeOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def merge_customers(body: MergeIn, session: DbSession, principal: CurrentPrincipal, response: Response) -> MergeOut:
    """Merge any two customers: everything of `merged_id` moves to `survivor_id`."""
    record = merges.merge_customers(
        session,
        principal,
        survivor_id=body.survivor_id,
        merged_id=body.merged_id,
        reason=body.reason,
        evidence=body.evidence,
    )
    response.headers["Location"] = f"/api/v1/merges/{record.id}"
    return MergeOut.of(record)


@router.get("/merges", response_model=MergePage)
@in_worker_thread
def list_merges(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    customer_id: Annotated[str | None, Query(max_length=26)] = None,
) -> MergePage:
    """Merge history, newest first; `customer_id` narrows it to merges a customer took part in."""
    page = merges.list_merges(session, principal, PageRequest(limit=limit, cursor=cursor), customer_id=customer_id)
    return MergePage(items=[MergeOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.get("/customers/{customer_id}/merges", response_model=MergePage)
@in_worker_thread
def customer_merges(
    customer_id: Id, session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> MergePage:
    """The merges a customer took part in (as survivor or as the merged one)."""
    page = merges.list_merges(session, principal, PageRequest(limit=limit, cursor=cursor), customer_id=customer_id)
    return MergePage(items=[MergeOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.get("/merges/{merge_id}", response_model=MergeOut)
@in_worker_thread
def get_merge(merge_id: Id, session: DbSession, principal: CurrentPrincipal) -> MergeOut:
    return MergeOut.of(merges.get_merge(session, principal, merge_id))


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
@in_worker_thread
def undo_merge(merge_id: Id, session: DbSession, principal: CurrentPrincipal) -> MergeOut:
    """Undo a merge; 409 `undo_refused` with the reasons when something can no longer go back."""
    return MergeOut.of(merges.undo_merge(session, principal, merge_id))
