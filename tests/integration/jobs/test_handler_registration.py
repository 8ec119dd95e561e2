"""A process that delivers outbox events knows every handler before it delivers anything."""

from __future__ import annotations

import subprocess
import sys


def _topics_after_import(module: str) -> str:
    code = f"import {module}; from guanxi.kit import outbox; print(sorted(outbox._handlers))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return result.stdout.strip()


def test_the_worker_module_registers_the_loyalty_handlers() -> None:
    assert (
        _topics_after_import("guanxi.jobs.queue")
        == "['customer.events_recorded', 'customer.merge_undone', 'customer.merged', 'loyalty.order_recorded', "
        "'loyalty.tier_changed']"
    )


def test_the_handlers_module_used_by_the_cli_registers_them() -> None:
    assert _topics_after_import("guanxi.loyalty.handlers") == "['loyalty.order_recorded', 'loyalty.tier_changed']"
