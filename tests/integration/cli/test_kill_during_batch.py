"""A `guanxi serve` killed (SIGKILL) while orders stream in through the group-commit writer loses
no order it acknowledged: after a restart every 2xx order is there exactly once, a retry of any
order replays it (or, if it was never acknowledged, records it once), and the ledger and the
audit chain verify."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL
from tests.integration.cli.test_serve import GUANXI, SETTLE_SECONDS, _env, _free_port

pytestmark = pytest.mark.slow

CLIENTS = 6
ACKNOWLEDGED_BEFORE_KILL = 60  # the kill comes after this many 2xx answers, under load
PHONES = [f"1390013{9000 + i}" for i in range(12)]
NAMES = "王李张刘陈杨黄赵吴周徐孙"


class Serve:
    """`guanxi serve` on a home (and database) of its own, which outlive one process."""

    def __init__(self, home: Path, database_url: str | None) -> None:
        extra = {"GUANXI_DATABASE_URL": database_url} if database_url else {}
        self.env = _env(home, **extra)
        self.process: subprocess.Popen[str] | None = None
        self.base = ""

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([GUANXI, *args], env=self.env, capture_output=True, text=True, timeout=SETTLE_SECONDS)

    def start(self) -> None:
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [GUANXI, "serve", "--port", str(port), "--no-worker"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "serve exited"
            try:
                if httpx.get(f"{self.base}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve did not answer /healthz")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=SETTLE_SECONDS)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=SETTLE_SECONDS)


@pytest.fixture
def scratch_database_url() -> Iterator[str | None]:
    """SQLite: the home's own file. PostgreSQL: a database of this test's own."""
    if not PG_URL:
        yield None
        return
    name = f"guanxi_kill_{uuid.uuid4().hex[:8]}"
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1).rpartition("/")[0]
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_URL.rpartition('/')[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def serve(tmp_path: Path, scratch_database_url: str | None) -> Iterator[Serve]:
    server = Serve(tmp_path / "home", scratch_database_url)
    created = server.cli("users", "create", "--username", "ops", "--password", "ops-password", "--role", "admin")
    assert created.returncode == 0, created.stderr
    try:
        yield server
    finally:
        server.stop()


def order(client: int, n: int, rng: random.Random) -> dict[str, Any]:
    return {
        "external_id": f"K-{client}-{n}",
        "source": "pos-kill",
        "identity": {"kind": "phone", "value": rng.choice(PHONES)},
        "paid_amount": f"{rng.randint(1, 500)}.00",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "lines": [],
    }


def test_a_kill_during_batches_loses_no_acknowledged_order(serve: Serve) -> None:
    serve.start()
    token = httpx.post(f"{serve.base}/api/v1/auth/token", data={"username": "ops", "password": "ops-password"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    for name, phone in zip(NAMES, PHONES, strict=True):
        created = httpx.post(
            f"{serve.base}/api/v1/customers", json={"name": f"{name}芳", "phone": phone}, headers=headers
        )
        assert created.status_code == 201, created.text

    sent: dict[str, dict[str, Any]] = {}  # every order a client sent, by external id
    acknowledged: dict[str, str] = {}  # external id -> order id, for each 2xx answer
    refused: list[str] = []  # any answer but 201 (a thread's assertion would go unseen)
    lock = threading.Lock()
    enough = threading.Event()

    def client(number: int) -> None:
        rng = random.Random(number)  # fixed seeds: the same orders every run
        with httpx.Client(base_url=serve.base, headers=headers, timeout=30) as http:
            for n in range(10_000):
                body = order(number, n, rng)
                with lock:
                    sent[body["external_id"]] = body
                try:
                    response = http.post("/api/v1/orders", json=body)
                except httpx.TransportError:
                    return  # the server is gone; this order's fate is unknown
                if response.status_code != 201:
                    with lock:
                        refused.append(f"{response.status_code} {response.text}")
                    return
                with lock:
                    acknowledged[body["external_id"]] = response.json()["id"]
                    if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                        enough.set()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    assert enough.wait(SETTLE_SECONDS), "the load never reached the kill point"
    serve.kill()
    for thread in threads:
        thread.join(SETTLE_SECONDS)
    assert refused == []
    assert len(sent) > len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL

    serve.start()
    with httpx.Client(base_url=serve.base, headers=headers, timeout=30) as http:
        for external_id, order_id in acknowledged.items():
            assert http.get(f"/api/v1/orders/{order_id}").status_code == 200, external_id
            replay = http.post("/api/v1/orders", json=sent[external_id])
            assert (replay.status_code, replay.json()["id"], replay.json()["replayed"]) == (200, order_id, True)
        for external_id in sent.keys() - acknowledged.keys():  # in flight at the kill: once, either way
            retry = http.post("/api/v1/orders", json=sent[external_id])
            assert retry.status_code in (200, 201), retry.text
    listed = _order_counts(serve)
    assert set(listed) == set(sent)
    assert set(listed.values()) == {1}

    for check in (("loyalty", "verify"), ("audit", "verify")):
        result = serve.cli(*check)
        assert result.returncode == 0, (check, result.stdout, result.stderr)


def _order_counts(serve: Serve) -> dict[str, int]:
    """How many rows each (source, external id) has, read from the database itself."""
    url = serve.env.get("GUANXI_DATABASE_URL")
    if url:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    else:
        url = f"sqlite:///{Path(serve.env['GUANXI_HOME']) / 'guanxi.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT external_id, count(*) FROM loyalty_orders WHERE source = 'pos-kill' GROUP BY external_id")
            )
            return {external_id: int(count) for external_id, count in rows}
    finally:
        engine.dispose()
