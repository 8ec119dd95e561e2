"""`guanxi serve` believes X-Forwarded-Proto only from GUANXI_TRUSTED_PROXIES: uvicorn's own proxy
handling gets the same list, so emptying it really trusts no one (uvicorn alone trusts 127.0.0.1)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

GUANXI = str(Path(sys.executable).with_name("guanxi"))
SETTLE_SECONDS = 90  # a deadline for the server to come up, never an assertion about speed
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hsts_when_forwarded(home: Path, **env: str) -> str | None:
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    environment.update(GUANXI_HOME=str(home), GUANXI_EMBEDDED_WORKER="0", **env)
    process = subprocess.Popen(
        [GUANXI, "serve", "--port", str(port)], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            assert process.poll() is None, "guanxi serve exited"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/livez", headers=FORWARDED, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "guanxi serve did not come up"
                time.sleep(0.3)
        assert response.status_code == 200
        return response.headers.get("strict-transport-security")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_an_empty_trust_list_trusts_no_proxy(tmp_path: Path) -> None:
    assert _hsts_when_forwarded(tmp_path / "none", GUANXI_TRUSTED_PROXIES="") is None


def test_the_default_trusts_a_proxy_on_the_same_host(tmp_path: Path) -> None:
    assert _hsts_when_forwarded(tmp_path / "default") == "max-age=31536000"
