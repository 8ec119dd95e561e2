"""The per-request unit of work and `in_worker_thread`: one hop, commit on success, rollback on error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from sqlalchemy import select

from guanxi.kit.db import Database, after_commit, unit_of_work_of
from guanxi.kit.sequence import Counter
from guanxi.kit.web import DbSession, in_worker_thread

seen: dict[str, object] = {}


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/counters/{name}")
    @in_worker_thread
    def add(name: str, session: DbSession, value: Annotated[int, Query(ge=0)] = 1) -> dict[str, object]:
        session.add(Counter(name=name, value=value))
        session.flush()
        after_commit(session, lambda: seen.setdefault("hook", threading.current_thread().name))
        seen["endpoint"] = threading.current_thread().name
        if name == "boom":
            raise RuntimeError("after a write")
        work = unit_of_work_of(session)
        assert work is not None and not work.finished
        seen["work"] = work
        return {"name": name, "value": value}

    @app.get("/nothing")
    async def nothing(session: DbSession) -> dict[str, bool]:
        work = unit_of_work_of(session)
        assert work is not None
        seen["work"] = work
        return {"in_transaction": session.in_transaction()}

    return app


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    seen.clear()
    with TestClient(_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def _counters(db: Database) -> dict[str, int]:
    with db.unit_of_work(read_only=True) as session:
        return {c.name: c.value for c in session.scalars(select(Counter))}


def test_the_endpoint_and_its_commit_share_one_worker_thread(client: TestClient, db: Database) -> None:
    response = client.post("/counters/a", params={"value": 7})
    assert (response.status_code, response.json()) == (200, {"name": "a", "value": 7})
    assert _counters(db) == {"a": 7}
    assert seen["hook"] == seen["endpoint"] != threading.main_thread().name
    assert seen["work"].finished  # type: ignore[attr-defined]


def test_an_error_after_a_write_rolls_it_back(client: TestClient, db: Database) -> None:
    assert client.post("/counters/boom").status_code == 500
    assert _counters(db) == {}
    assert "hook" not in seen


def test_parameters_are_read_from_the_endpoint_itself(client: TestClient, db: Database) -> None:
    assert client.post("/counters/a", params={"value": -1}).status_code == 422
    parameters = client.get("/openapi.json").json()["paths"]["/counters/{name}"]["post"]["parameters"]
    assert [(p["name"], p["in"]) for p in parameters] == [("name", "path"), ("value", "query")]
    assert _counters(db) == {}


def test_a_request_that_never_queries_opens_no_transaction(client: TestClient, db: Database) -> None:
    checked_out = db.engine.pool.checkedout()  # type: ignore[attr-defined]
    assert client.get("/nothing").json() == {"in_transaction": False}
    assert seen["work"].finished  # type: ignore[attr-defined]
    assert db.engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]
