"""A simulation runs in the background: while its replay is held at a barrier the server answers
/healthz and the API, the run reads as running with its progress, and once released it ends done
with the report; a run that fails says why, and runs are seen only by those who may read them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guanxi.kit import clock, runs
from guanxi.kit.db import Database
from guanxi.loyalty.insights import simulation
from tests.api.helpers import assert_problem
from tests.factories import headers_for

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SIMULATIONS = "/api/v1/loyalty/simulations"
# A bound on waiting for the other thread, so a broken run fails the test instead of hanging it.
BOUND = 30


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


class HeldRuns:
    """Runs start in a thread of their own (as without a queue) and stop at their first progress
    report until `release`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.reached = threading.Event()
        self.released = threading.Event()
        self.threads: list[threading.Thread] = []

    def hold(self, done: int, total: int | None) -> None:
        self.reached.set()
        assert self.released.wait(BOUND)

    def launch(self, run_id: str) -> None:
        thread = threading.Thread(target=runs.run, args=(self.db, run_id), kwargs={"on_progress": self.hold})
        self.threads.append(thread)
        thread.start()

    def finish(self) -> None:
        self.released.set()
        for thread in self.threads:
            thread.join(BOUND)
            assert not thread.is_alive()


@pytest.fixture
def held(db: Database) -> Iterator[HeldRuns]:
    held = HeldRuns(db)
    runs.set_launcher(held.launch)
    try:
        yield held
    finally:
        held.released.set()
        runs.set_launcher(None)


def test_the_server_answers_while_a_simulation_runs(
    client: TestClient, admin_headers: dict[str, str], orders: list[dict[str, Any]], held: HeldRuns
) -> None:
    started = client.post(SIMULATIONS, json={"months": 12, "growth_per_amount": "2"}, headers=admin_headers)
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert held.reached.wait(BOUND)

    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/loyalty/liability", headers=admin_headers).status_code == 200
    running = client.get(location, headers=admin_headers).json()
    assert (running["status"], running["progress"], running["report"]) == ("running", {"done": 0, "total": 2}, None)
    assert running["started_at"] is not None and running["finished_at"] is None

    held.finish()
    done = client.get(location, headers=admin_headers).json()
    assert (done["status"], done["progress"], done["error"]) == ("done", {"done": 2, "total": 2}, None)
    report = done["report"]
    assert (report["orders_replayed"], report["members"], report["recorded_points"]) == (2, 1, 4000)
    # Twice the growth: silver (5000 at 1.2x) is reached by the second order's growth of 6000.
    assert report["baseline"]["points"] == 4000
    assert report["scenario"]["points"] == 1000 + 3600
    assert report["points_difference"] == 600
    assert done["parameters"] == {"months": 12, "growth_per_amount": "2"}


def test_a_failed_run_says_why(
    client: TestClient,
    admin_headers: dict[str, str],
    orders: list[dict[str, Any]],
    held: HeldRuns,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(simulation, "simulate", broken)
    started = client.post(SIMULATIONS, json={"months": 3}, headers=admin_headers)
    assert started.status_code == 202, started.text
    held.finish()
    failed = client.get(started.headers["location"], headers=admin_headers).json()
    assert failed["status"] == "failed" and failed["report"] is None
    assert failed["error"]["code"] == "unexpected"
    assert "disk on fire" not in failed["error"]["message"]  # the details stay in the log


def test_runs_are_seen_by_those_who_may_read_them(
    client: TestClient, db: Database, admin_headers: dict[str, str], orders: list[dict[str, Any]], held: HeldRuns
) -> None:
    started = client.post(SIMULATIONS, json={"months": 12}, headers=admin_headers)
    held.finish()
    location = started.headers["location"]
    analyst = client.get(location, headers=headers_for(db, client, "analyst"))
    assert analyst.status_code == 200 and analyst.json()["status"] == "done"
    assert_problem(client.get(location, headers=headers_for(db, client, "sales")), 403, "permission_denied")
    assert_problem(client.get(f"{SIMULATIONS}/01NOSUCHRUN", headers=admin_headers), 404, "not_found")
    assert_problem(client.get(location), 401, "not_authenticated")
