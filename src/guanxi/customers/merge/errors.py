"""What a merge or an undo refuses, and the answer for a customer that was merged away."""

from __future__ import annotations

from guanxi.kit.errors import Conflict, DomainError


class MergeRefused(Conflict):
    code = "merge_refused"
    title = "Merge refused"


class UndoRefused(Conflict):
    code = "undo_refused"
    title = "Undo refused"


class CustomerMerged(DomainError):
    """A read or write of a customer that was merged into another: 410 with where it went."""

    status = 410
    code = "customer_merged"
    title = "Customer merged"
