"""The one exception the CLV models raise when a fit cannot give usable parameters."""

from __future__ import annotations

from typing import Literal

ClvFitErrorCode = Literal[
    "invalid_input",
    "too_few_customers",
    "no_repeat_buyers",
    "not_converged",
    "non_finite",
]


class ClvFitError(Exception):
    """A fit refused or failed; `code` says why, so callers can branch without parsing text.

    Codes: ``invalid_input`` (shapes, negatives, recency > T, non-finite values),
    ``too_few_customers`` (below the minimum the model needs), ``no_repeat_buyers`` (nobody bought
    twice, so dropout and spend cannot be told apart), ``not_converged`` (the optimiser stopped
    without meeting its tolerance), ``non_finite`` (the optimum or its log-likelihood is not finite).
    """

    def __init__(self, code: ClvFitErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: ClvFitErrorCode = code
        self.detail = detail
