"""A real server and a real chromium for the browser tests.

The server is the full application (API + console, `guanxi.cli.main.build_app`) run by uvicorn in a
subprocess on a free local port. It inherits the environment, including GUANXI_DATABASE_URL that
the `db` fixture has set, so it serves the test database the test fills.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from guanxi.kit.db import Database

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SERVER = """
import uvicorn
from guanxi.cli.main import build_app
uvicorn.run(build_app(), host="127.0.0.1", port={port}, log_level="warning")
"""


def output_dir() -> Path:
    path = Path(os.environ.get("TEST_OUTPUT_DIR", "test-output")).resolve() / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    found = CHROMIUM if CHROMIUM.exists() else None
    if found is None and (which := shutil.which("chromium")):
        found = Path(which)
    if found is None:
        if os.environ.get("GUANXI_BROWSER_REQUIRED") == "1":
            pytest.fail("chromium is required (GUANXI_BROWSER_REQUIRED=1) but /usr/bin/chromium is missing")
        pytest.skip("chromium is not installed (apt-get install -y chromium fonts-noto-cjk)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a local test server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url} within {timeout}s:\n{log.read_text(errors='replace')}")


@pytest.fixture
def live_server(db: Database) -> Iterator[str]:
    port = _free_port()
    log = output_dir() / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER.format(port=port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/healthz", process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
