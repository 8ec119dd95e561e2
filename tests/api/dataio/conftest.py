"""Each dataio test gets a GUANXI_HOME of its own, so the files one import leaves (uploads,
refused rows, exports) are never counted by another test's purge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guanxi.config import reset_settings


@pytest.fixture(autouse=True)
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "guanxi-home"
    monkeypatch.setenv("GUANXI_HOME", str(home))
    reset_settings()
    yield home
    monkeypatch.undo()
    reset_settings()
