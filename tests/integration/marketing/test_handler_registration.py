"""Every process that delivers outbox events knows the tag-rule handlers (events, orders, merges)."""

from __future__ import annotations

import subprocess
import sys


def _handlers_after_import(module: str) -> str:
    code = (
        f"import {module}; from guanxi.kit import outbox; "
        "print(sorted(n for t in outbox._handlers.values() for n in t if 'marketing' in n))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return result.stdout.strip()


def test_the_worker_and_the_dispatch_command_register_the_tag_rule_handlers() -> None:
    expected = str(
        [
            "guanxi.marketing.customer_links.on_merge_undone",
            "guanxi.marketing.customer_links.on_merged",
            "guanxi.marketing.tag_rules.on_events_recorded",
            "guanxi.marketing.tag_rules.on_order_recorded",
        ]
    )
    assert _handlers_after_import("guanxi.jobs.queue") == expected
    assert _handlers_after_import("guanxi.marketing.handlers") == expected  # `guanxi outbox dispatch`
