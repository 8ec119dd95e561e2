"""`guanxi serve` alone does everything: an import uploaded to it runs to the end without
`guanxi worker`, and the server and its job consumer stop cleanly on SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from guanxi.config import get_settings
from guanxi.kit import i18n

GUANXI = str(Path(sys.executable).with_name("guanxi"))
CSV = "姓名,手机号,城市\n张伟,13800138000,上海\n李娜,13900139000,北京\n".encode()
SETTLE_SECONDS = 120  # a deadline for a state to settle, never an assertion about speed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    env.update(GUANXI_HOME=str(home), GUANXI_ARGON2_TIME_COST="1", GUANXI_ARGON2_MEMORY_KIB="1024", **extra)
    return env


class Server:
    def __init__(self, home: Path, *args: str, **env: str) -> None:
        self.port = _free_port()
        self.env = _env(home, **env)
        self.base = f"http://127.0.0.1:{self.port}"
        subprocess.run(
            [GUANXI, "users", "create", "--username", "ops", "--password", "ops-password", "--role", "admin"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.process = subprocess.Popen(
            [GUANXI, "serve", "--port", str(self.port), *args],
            env=self.env,
            umask=0o022,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._wait_until_up()
        token = httpx.post(f"{self.base}/api/v1/auth/token", data={"username": "ops", "password": "ops-password"})
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited: {self.process.communicate()}")
            try:
                if httpx.get(f"{self.base}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve did not answer /healthz")

    def stop(self) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=SETTLE_SECONDS)
        return self.process.returncode, out, err


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "home")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.communicate()


def _settled(server: Server, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        job = httpx.get(f"{server.base}/api/v1/imports/{job_id}", headers=server.headers).json()
        if job["status"] not in ("queued", "running"):
            return dict(job)
        time.sleep(0.2)
    raise AssertionError(f"import {job_id} still {job['status']}: nothing consumed the queue")


def test_an_import_uploaded_to_serve_runs_without_a_worker(server: Server) -> None:
    response = httpx.post(
        f"{server.base}/api/v1/imports",
        headers=server.headers,
        files={"file": ("members.csv", CSV)},
        data={"kind": "customers"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    job = _settled(server, response.json()["id"])
    assert {k: job[k] for k in ("status", "rows_read", "created", "rejected")} == {
        "status": "done",
        "rows_read": 2,
        "created": 2,
        "rejected": 0,
    }
    found = httpx.get(f"{server.base}/api/v1/customers", headers=server.headers, params={"limit": 10}).json()
    assert sorted(item["name"] for item in found["items"]) == ["张伟", "李娜"]

    # The access log names the routes, never the phone number or the search text.
    lookup = httpx.get(
        f"{server.base}/api/v1/customers/lookup",
        headers=server.headers,
        params={"kind": "phone", "value": "13800138000"},
    )
    assert lookup.status_code == 200, lookup.text
    search = httpx.get(f"{server.base}/api/v1/customers", headers=server.headers, params={"q": "张伟", "limit": 5})
    assert [item["name"] for item in search.json()["items"]] == ["张伟"]

    code, out, err = server.stop()
    assert code == 0, err
    assert '"GET /api/v1/customers/lookup?kind=phone&value=[redacted] HTTP/1.1" 200' in out
    assert '"GET /api/v1/customers?q=[redacted]&limit=5 HTTP/1.1" 200' in out
    assert "13800138000" not in out + err
    assert "%E5%BC%A0" not in out + err
    # What the server wrote in its home (database, queue, lease, upload folders) is owner-only,
    # though the test runner's umask is looser.
    home = Path(server.env["GUANXI_HOME"])
    loose = {
        str(path.relative_to(home)): oct(path.stat().st_mode & 0o777)
        for path in [home, *home.rglob("*")]
        if path.stat().st_mode & 0o077
    }
    assert loose == {}
    assert {"guanxi.db", "jobs.db", "scheduler.lock"} <= {path.name for path in home.iterdir()}
    assert i18n.t("cli.serve.jobs_embedded", get_settings().default_language) in out
    assert "Traceback" not in err


class _Stopped:
    def __init__(self) -> None:
        self.stopped: list[bool] = []

    def stop(self, graceful: bool = False) -> None:
        self.stopped.append(graceful)


class _Summary:
    def describe(self, language: str | None = None) -> str:
        return "demo: reused"


@pytest.mark.parametrize("command", [["serve"], ["demo", "--customers", "1"]])
@pytest.mark.parametrize(("flag", "started"), [([], True), (["--no-worker"], False), (["--worker"], True)])
def test_serve_and_demo_start_the_consumer_and_stop_it_after_uvicorn(
    db: object, monkeypatch: pytest.MonkeyPatch, command: list[str], flag: list[str], started: bool
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from guanxi.cli import main
    from guanxi.cli.main import app
    from guanxi.demo import loader
    from guanxi.jobs import consumer as jobs_consumer

    calls: list[str] = []
    consumer = _Stopped()

    def start_embedded(huey: object, settings: object) -> _Stopped:
        calls.append("consumer started")
        return consumer

    def run(app_: object, **options: object) -> None:
        calls.append(f"uvicorn on {options['port']}")

    monkeypatch.setattr(main, "build_app", lambda: object())  # no console, no wake-ups left behind
    monkeypatch.setattr(jobs_consumer, "start_embedded", start_embedded)
    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(loader, "load", lambda *args, **kwargs: _Summary())
    result = CliRunner().invoke(app, [*command, "--port", "18999", *flag])
    assert result.exit_code == 0, result.output
    if started:
        assert calls == ["consumer started", "uvicorn on 18999"]
        assert consumer.stopped == [True]
        assert i18n.t("cli.serve.jobs_embedded", get_settings().default_language) in result.output
    else:
        assert calls == ["uvicorn on 18999"]
        assert i18n.t("cli.serve.jobs_separate", get_settings().default_language) in result.output
