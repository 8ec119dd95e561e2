"""The server under test, started the way an operator starts it: `guanxi serve`.

Each process is the real CLI entry (`guanxi serve --host 127.0.0.1 --port N`) in a subprocess:
migrations checked, API and console in one app, outbox wake-ups on, and the embedded job
consumer running beside uvicorn, exactly as in production on one machine. `guanxi serve` runs one
process; "2 workers" here means two `guanxi serve` processes on two loopback ports sharing one
GUANXI_HOME and database, with the load generator's connections spread over them round-robin (a
load balancer in front of two processes does the same).

A scratch PostgreSQL database per suite comes from `fresh_database`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0


@dataclass
class Servers:
    """The running `guanxi serve` processes: one base URL and one pid each."""

    bases: list[str]
    processes: list[subprocess.Popen[bytes]] = field(repr=False)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    @property
    def base(self) -> str:
        return self.bases[0]


def environment(home: Path, database_url: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any GUANXI_ setting, pointed at the benchmark home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    root = Path(__file__).resolve().parent.parent
    # The tree these benchmarks belong to, ahead of the installed package: a checkout of one commit
    # (git archive) is measured as it is, not the editable install's working tree.
    paths = (str(root / "src"), str(root), env.get("PYTHONPATH", ""))
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["GUANXI_HOME"] = str(home)
    if database_url:
        env["GUANXI_DATABASE_URL"] = database_url
    env.update(extra or {})
    return env


def guanxi_command() -> list[str]:
    """The installed `guanxi` console script next to this interpreter (else the one on PATH)."""
    beside = Path(sys.executable).parent / "guanxi"
    found = str(beside) if beside.exists() else shutil.which("guanxi")
    if found is None:
        raise RuntimeError("the guanxi command is not installed (pip install -e .)")
    return [found]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(
    home: Path, database_url: str | None, processes: int = 1, extra_env: Mapping[str, str] | None = None
) -> Iterator[Servers]:
    """Start `processes` `guanxi serve` processes one after another (each waits for the previous
    to answer /livez, so their start-up migrations check does not race) and stop them after."""
    env = environment(home, database_url, extra_env)
    started: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    logs = []
    try:
        for number in range(max(processes, 1)):
            port = free_port()
            log = (home / f"server-{number}.log").open("ab")
            logs.append(log)
            command = [*guanxi_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            started.append(process)
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, process, home / f"server-{number}.log")
            bases.append(base)
        yield Servers(bases, started)
    finally:
        for process in started:
            process.send_signal(signal.SIGINT)
        for process in started:
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"guanxi serve exited with {process.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/livez", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"guanxi serve did not answer /livez within {START_TIMEOUT_SECONDS:g} s; see {log}")
        time.sleep(0.2)


@contextlib.contextmanager
def fresh_database(server_url: str | None, label: str) -> Iterator[str | None]:
    """None for SQLite (the scratch home holds it); for PostgreSQL a new database, dropped after."""
    if server_url is None:
        yield None
        return
    from sqlalchemy import create_engine, text

    url = server_url.replace("postgresql://", "postgresql+psycopg://", 1)
    base = url.rpartition("/")[0]
    name = f"guanxi_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def group_commit_env(on: bool) -> dict[str, str]:
    """On is the default environment (as `guanxi serve` runs in production); off is today's
    one-transaction-per-request path, GUANXI_GROUP_COMMIT=0."""
    return {} if on else {"GUANXI_GROUP_COMMIT": "0"}


def settle(pids: list[int], limit: float = 120.0, threshold: float = 0.05) -> tuple[float, float]:
    """Wait until the servers are idle (together under `threshold` of a core over half a second:
    the job consumer has delivered the outbox events written so far), at most `limit` seconds.
    Returns the seconds waited and the servers' CPU seconds meanwhile."""
    from benchmarks.loadgen import servers_cpu_seconds

    started = time.monotonic()
    first = servers_cpu_seconds(pids)
    if first is None:
        return 0.0, 0.0
    last = first
    while time.monotonic() - started < limit:
        time.sleep(0.5)
        now = servers_cpu_seconds(pids)
        if now is None:
            break
        busy, last = (now - last) / 0.5, now
        if busy < threshold:
            break
    return time.monotonic() - started, last - first
