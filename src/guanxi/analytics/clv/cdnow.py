"""The CDNOW data sets shipped in the `lifetimes` wheel, read without importing lifetimes.

CDNOW_master.txt: every purchase of the 23,570 customers who made their first purchase at CDNOW
in the first quarter of 1997, up to June 1998 (columns: customer id, date YYYYMMDD, number of
CDs, dollar value; one header line). CDNOW_sample.txt: the 1/10th sample of 2,357 customers used
by Fader, Hardie & Lee (2005) (columns: customer id, a sample id, date, CDs, dollar value).
The papers' calibration period is the first 39 weeks, 1997-01-01 to 1997-09-30; T is measured in
weeks from the first purchase day to 1997-09-30 (so a 1 January first purchase has T = 272/7 =
38.86), and the holdout runs to 1998-06-30 (week 78).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

import pandas as pd

CALIBRATION_END = pd.Timestamp("1997-09-30")
HOLDOUT_END = pd.Timestamp("1998-06-30")


def datasets_directory() -> Path:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the lifetimes package (which ships the CDNOW files) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def load_cdnow(which: Literal["sample", "master"] = "sample") -> pd.DataFrame:
    """Transactions with columns customer_id (int), date (datetime64), quantity (int), amount (float)."""
    if which == "sample":
        names = ["customer_id", "sample_id", "date", "quantity", "amount"]
        frame = pd.read_csv(datasets_directory() / "CDNOW_sample.txt", sep=r"\s+", header=None, names=names)
        frame = frame.drop(columns="sample_id")
    elif which == "master":
        names = ["customer_id", "date", "quantity", "amount"]
        frame = pd.read_csv(datasets_directory() / "CDNOW_master.txt", sep=r"\s+", header=0, names=names)
    else:
        raise ValueError("which must be 'sample' or 'master'")
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y%m%d")
    return frame.astype({"customer_id": "int64", "quantity": "int64", "amount": "float64"})
