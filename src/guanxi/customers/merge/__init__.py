"""Merging two customers into one, and undoing it.

`merge_customers` folds the *merged* customer into the *survivor* in the caller's transaction:
every row that belongs to the merged customer (identities, notes, tags, account contacts, events,
and whatever higher domains register as participants: loyalty accounts, orders, coupons, ...)
moves to the survivor, the survivor's empty profile fields are filled by the survivorship rules,
and the merged customer is soft-deleted with `merged_into_id`. Every changed row is recorded in
`customer_merge_moves`, so `undo_merge` can put back exactly what moved, or say exactly why it
cannot (nothing is changed then).

Higher domains plug in with `register_participant` (customers never imports them): a participant
moves its rows with `MergeContext.repoint` / `record` and, for anything that is not a plain
column move (a points wallet), records a "custom" move and implements `check_undo` and `undo`.

Survivorship (also in docs/decisions.md, "Merging customers"):
- the survivor keeps its name, member number, owner, team, region, preferred language and source
  channel (the merge never moves a customer between row scopes);
- each descriptive field (gender, birthday, location = province + city + district with their
  codes, occupation, income band, preferred channel, address): a value only one side has is
  kept; when both have different values, the value of the record from the more trusted source
  channel wins (store > app > mini_program > wechat > tmall/jd/douyin > web > referral > other >
  import > none); equally trusted sources: the value of the most recently updated record; a tie keeps the survivor's.
"""

from guanxi.customers.merge import customer360 as _customer360  # noqa: F401  (registers on import)
from guanxi.customers.merge.errors import CustomerMerged, MergeRefused, UndoRefused
from guanxi.customers.merge.participants import (
    FunctionParticipant,
    MergeContext,
    Participant,
    participants,
    register_participant,
)
from guanxi.customers.merge.review import (
    PageRequest,
    count_candidates,
    count_merges,
    dismiss_candidate,
    get_candidate,
    get_merge,
    list_candidates,
    list_merges,
    merge_candidate,
    moves_of,
    visibility_of,
)
from guanxi.customers.merge.service import final_survivor, merge_customers, merged_error, require
from guanxi.customers.merge.survivorship import SOURCE_TRUST, SURVIVORSHIP_FIELDS, survivorship
from guanxi.customers.merge.undo import undo_merge

__all__ = [
    "SOURCE_TRUST",
    "SURVIVORSHIP_FIELDS",
    "CustomerMerged",
    "FunctionParticipant",
    "MergeContext",
    "MergeRefused",
    "PageRequest",
    "Participant",
    "UndoRefused",
    "count_candidates",
    "count_merges",
    "dismiss_candidate",
    "final_survivor",
    "get_candidate",
    "get_merge",
    "list_candidates",
    "list_merges",
    "merge_candidate",
    "merge_customers",
    "merged_error",
    "moves_of",
    "participants",
    "register_participant",
    "require",
    "survivorship",
    "undo_merge",
    "visibility_of",
]
