"""Customer lifetime value: BG/NBD, modified BG/NBD, Pareto/NBD and Gamma-Gamma, fitted on weighted unique rows."""

from guanxi.analytics.clv.bgnbd import BgNbdFit, fit_bgnbd
from guanxi.analytics.clv.errors import ClvFitError
from guanxi.analytics.clv.gamma_gamma import GammaGammaFit, fit_gamma_gamma
from guanxi.analytics.clv.pareto_nbd import ParetoNbdFit, fit_pareto_nbd
from guanxi.analytics.clv.summary import calibration_holdout, summarise_transactions
from guanxi.analytics.clv.value import discounted_clv

__all__ = [
    "BgNbdFit",
    "ClvFitError",
    "GammaGammaFit",
    "ParetoNbdFit",
    "calibration_holdout",
    "discounted_clv",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "summarise_transactions",
]
