"""Add or change catalog messages in both languages at once, safely while others edit the catalogs.

    python scripts/add_messages.py KEY "English text" "中文文本" [KEY "..." "..."]...

The catalogs are rewritten under a file lock, keys kept in their order (new keys appended), so
two edits made at the same moment cannot lose each other's messages.
"""

from __future__ import annotations

import fcntl
import json
import sys
from pathlib import Path

LOCALES = Path(__file__).resolve().parent.parent / "src" / "guanxi" / "locales"


def main(argv: list[str]) -> int:
    if not argv or len(argv) % 3:
        print(__doc__, file=sys.stderr)
        return 2
    triples = [argv[i : i + 3] for i in range(0, len(argv), 3)]
    with open(LOCALES / ".catalog.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for index, name in ((1, "en.json"), (2, "zh-CN.json")):
            path = LOCALES / name
            messages = json.loads(path.read_text(encoding="utf-8"))
            for triple in triples:
                messages[triple[0]] = triple[index]
            path.write_text(json.dumps(messages, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
