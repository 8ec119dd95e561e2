"""CDNOW fixtures shared by the CLV tests (read once per session)."""

from __future__ import annotations

import pandas as pd
import pytest

from guanxi.analytics.clv.cdnow import CALIBRATION_END, load_cdnow
from guanxi.analytics.clv.summary import summarise_transactions


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    return load_cdnow("sample")


@pytest.fixture(scope="session")
def cdnow_summary(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    return summarise_transactions(cdnow_transactions, observation_end=CALIBRATION_END, time_unit="weeks")
