"""What a merge or an undo refuses, and the answer for a customer that was merged away."""

from __future__ import annotations

from guanxi.kit.errors import Conflict, DomainError, FieldError


class UndoReason(str):
    """Why an undo is refused: the English sentence, which it is, with the catalog key and
    parameters that say it in other languages (a participant may still give a plain str)."""

    key: str
    params: dict[str, object]

    def __new__(cls, text: str, key: str, **params: object) -> UndoReason:
        reason = super().__new__(cls, text)
        reason.key = key
        reason.params = params
        return reason


def reason_error(reason: str) -> FieldError:
    """The `merge_id` field error of one reason, in the catalog's words when it names them."""
    if isinstance(reason, UndoReason):
        return FieldError("merge_id", reason, "cannot_undo", reason.params, key=reason.key)
    return FieldError("merge_id", reason, "cannot_undo")


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
