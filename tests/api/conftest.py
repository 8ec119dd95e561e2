from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from guanxi.api.app import create_app
from guanxi.kit import runs
from guanxi.kit.db import Database, get_database
from tests.factories import headers_for


@pytest.fixture(scope="session")
def app() -> FastAPI:
    """One application per worker: it holds no per-test state (the database is process-wide)."""
    return create_app()


@pytest.fixture
def client(db: Database, app: FastAPI) -> Iterator[TestClient]:
    """A client that asks for English problem messages, which the tests compare; the default
    language (zh-CN) and both languages side by side are tested in test_problem_language.py."""
    with TestClient(app, headers={"Accept-Language": "en"}) as test_client:
        yield test_client


@pytest.fixture
def admin_headers(db: Database, client: TestClient) -> dict[str, str]:
    return headers_for(db, client, "admin")


@pytest.fixture(autouse=True)
def runs_inline() -> Iterator[None]:
    """Background runs (a simulation the fuzzer starts) run in the request's thread once
    committed, so none outlives its test; tests that follow a run in a thread set their own."""
    runs.set_launcher(lambda run_id: runs.run(get_database(), run_id))
    yield
    runs.set_launcher(None)
