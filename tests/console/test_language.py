"""Every console page, in both languages, shows only its own language: no Latin words on zh-CN
pages, no Chinese on en pages, no JSON, `key=value;` pairs, catalog keys or codes shown as text.

Each (page, language) is one test, so a failure names the page; its message lists the offending
strings by class. The data set (a small demo, see language_world) is built once for the module.
Data typed by people (customer names, notes, tags, SKUs...) is taken out of a text before the
rest of it is judged; the allowlist is in language_scan. docs/i18n.md says how to read a failure.

The cases still failing when this file was last updated are marked xfail(strict=True) in
`STILL_FAILING`: a page that gets fixed fails as XPASS until its entry is removed.
Set GUANXI_LANGUAGE_FINDINGS=<file.md> to have the findings of a run written there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from guanxi.console import PAGES
from guanxi.console.pages.staff_users import PASSWORD_PATH
from guanxi.kit.db import Database
from guanxi.kit.i18n import LANGUAGES, catalog
from tests.conftest import clear_tables
from tests.console import language_scan, language_world
from tests.console.conftest import MAIN_FILE, login, settle

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)

PARAM = re.compile(r"\{(\w+)\}")
PATHS = [path for path, _ in PAGES]
# Pages used before signing in, and the marker that shows they have drawn.
SIGNED_OUT = {"/login": "login", PASSWORD_PATH: "change-password"}

# (path, language): cases failing at the last update of this list, with the number of strings.
STILL_FAILING: dict[tuple[str, str], str] = {}

_FINDINGS: dict[tuple[str, str], list[language_scan.Finding]] = {}


def _case(path: str, language: str) -> object:
    reason = STILL_FAILING.get((path, language))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(path, language, id=f"{language}:{path}", marks=marks)


@pytest.fixture(scope="module")
def world(database: Database) -> Iterator[language_world.World]:
    clear_tables(database)
    built = language_world.build(database)
    yield built
    clear_tables(database)
    _write_findings()


@pytest.fixture
def page_user(database: Database, _keep_guanxi_modules: None, user: User) -> User:
    """The simulated browser on the module's data set (the `console` fixture would empty it)."""
    return user


def _url(path: str, world: language_world.World) -> str:
    missing = [name for name in PARAM.findall(path) if name not in world.ids]
    assert not missing, f"{path}: no id for {missing}; add it to language_world._ids {world.problems}"
    return PARAM.sub(lambda m: world.ids[m.group(1)], path)


async def _open(user: User, path: str, language: str, world: language_world.World) -> None:
    if path in SIGNED_OUT:
        await user.open(path)
        if language != "zh-CN":
            (switch,) = user.find(marker="language").elements
            assert isinstance(switch, ui.toggle)
            switch.set_value(language)
        await settle(user, marker=SIGNED_OUT[path])
        return
    await login(user, language_world.ADMINS[language])
    await user.open(_url(path, world))
    await settle(user, marker="current-user")


@pytest.mark.parametrize(("path", "language"), [_case(p, lang) for p in PATHS for lang in LANGUAGES])
async def test_page_speaks_only_its_language(
    world: language_world.World, page_user: User, database: Database, path: str, language: str
) -> None:
    await _open(page_user, path, language, world)
    language_world.refresh_typed(database, world)
    texts = language_scan.page_texts(page_user)
    other = next(lang for lang in LANGUAGES if lang != language)
    own_words = set(catalog(language).values()) - set(catalog(other).values())
    assert own_words & set(texts), f"{path} was not drawn in {language}"
    erase = language_scan.DataErasure(world.typed)
    found = language_scan.findings(texts, language, erase, frozenset(world.audit_actions))
    _FINDINGS[(path, language)] = found
    assert not found, f"{path} ({language}): {len(found)} strings outside the catalogs:\n" + "\n".join(
        f"  {f}" for f in found
    )


def _write_findings() -> None:
    target = os.environ.get("GUANXI_LANGUAGE_FINDINGS")
    if not target or not _FINDINGS:
        return
    lines = ["# Language findings (tests/console/test_language.py)", ""]
    failing = {case: found for case, found in _FINDINGS.items() if found}
    lines.append(f"{len(failing)} of {len(_FINDINGS)} (page, language) cases show strings outside the catalogs.")
    lines.append("")
    for (path, language), found in sorted(failing.items()):
        lines.append(f"## {path} ({language}): {len(found)}")
        for kind in language_scan.CLASSES:
            of_kind = [f for f in found if f.kind == kind]
            if of_kind:
                lines.append(f"- **{kind}**")
                lines.extend(f"  - `{f.what}` in «{f.text[:200]}»" for f in of_kind)
        lines.append("")
    clean = sorted(f"{language}:{path}" for (path, language), found in _FINDINGS.items() if not found)
    lines.append("## Clean")
    lines.extend(f"- {case}" for case in clean)
    Path(target).write_text("\n".join(lines) + "\n", encoding="utf-8")
