"""Screenshots of every console page in both languages, to look at the console as staff see it.

    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000 --user admin --password ... [--out DIR]
        [--width 1366] [--only /customers,/orders] [--chromium /usr/bin/chromium]

Signs in once per language, switches the language in the user menu, then opens each page of
`guanxi.console.PAGES`. Paths with an id (`/customers/{customer_id}`) take the first row of its
table in the server's database (run the script with the server's GUANXI_HOME), or are skipped.
Pages are written as `<language>/<path>.png`; a page that shows an error notice or takes longer
than 20 s is listed at the end.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select

from guanxi.console import PAGES
from guanxi.kit.db import get_database
from guanxi.kit.i18n import t
from guanxi.migrations.all_models import metadata

# The table a path parameter's id comes from (its first row), with a condition where one is needed.
ID_TABLES: dict[str, tuple[str, str | None]] = {
    "customer_id": ("customers", None),
    "account_id": ("accounts", None),
    "segment_id": ("segments", None),
    "rule_id": ("tag_rules", None),
    "order_id": ("loyalty_orders", None),
    "job_id": ("import_jobs", None),
    "import_id": ("import_jobs", None),
    "candidate_id": ("customer_duplicate_candidates", None),
    "merge_id": ("customer_merges", None),
    "template_id": ("loyalty_coupon_templates", None),
    "reward_id": ("loyalty_rewards", None),
    "event_type_id": ("event_types", None),
    "user_id": ("staff_users", None),
    "mapping_id": ("import_mappings", None),
    "run_id": ("background_runs", "loyalty.simulation"),
}
SIGNED_OUT = ("/login", "/password")
LANGUAGE_BUTTON = {"zh-CN": "中文", "en": "English"}


def first_ids() -> dict[str, str]:
    """The first id of each table, from the database the settings name (run with the server's
    environment: GUANXI_HOME or GUANXI_DATABASE_URL)."""
    ids: dict[str, str] = {}
    with get_database().unit_of_work(read_only=True) as session:
        for name, (table_name, kind) in ID_TABLES.items():
            table = metadata.tables.get(table_name)
            if table is None:
                continue
            query = select(next(iter(table.primary_key.columns))).limit(1)
            if kind is not None:
                query = query.where(table.c.kind == kind)
            found = session.scalar(query)
            if found is not None:
                ids[name] = str(found)
    return ids


def sign_in(page: Page, base: str, user: str, password: str, language: str) -> None:
    """Choose the language on the sign-in page, sign in, and choose it again for the profile."""
    page.goto(f"{base}/login")
    page.get_by_role("button", name=LANGUAGE_BUTTON[language], exact=True).click()
    page.wait_for_timeout(1000)
    page.get_by_label(t("login.username", language)).fill(user)
    page.get_by_label(t("login.password", language)).fill(password)
    page.get_by_label(t("login.password", language)).press("Enter")
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"), timeout=30_000)
    # A signed-in member of staff speaks the language of their profile: switch it in the user menu.
    menu = page.get_by_role(
        "button", name=re.compile(f"^({t('header.account', 'zh-CN')}|{t('header.account', 'en')})$")
    )
    menu.click()
    page.get_by_role("button", name=LANGUAGE_BUTTON[language], exact=True).last.click()
    page.wait_for_timeout(1500)


def file_name(path: str) -> str:
    return (path.strip("/").replace("/", "_").replace("{", "").replace("}", "") or "home") + ".png"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--out", default="test-output/screenshots")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--only", default="")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "")
    args = parser.parse_args()
    base = args.base.rstrip("/")
    only = {p for p in args.only.split(",") if p}
    ids = first_ids()
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium or None, args=["--no-sandbox"])
        for language in ("zh-CN", "en"):
            out = Path(args.out) / language
            out.mkdir(parents=True, exist_ok=True)
            page = browser.new_page(viewport={"width": args.width, "height": 900}, locale=language)
            sign_in(page, base, args.user, args.password, language)
            for path, _ in PAGES:
                if path.startswith(SIGNED_OUT) or (only and path not in only):
                    continue
                names = re.findall(r"\{(\w+)\}", path)
                if any(n not in ids for n in names):
                    problems.append(f"{language} {path}: no id to open it with")
                    continue
                url = path.format(**ids)
                try:
                    page.goto(f"{base}{url}", timeout=20_000)
                    page.wait_for_load_state("networkidle", timeout=20_000)
                except Exception as exc:  # a slow page is reported with the others, not fatal
                    problems.append(f"{language} {url}: {type(exc).__name__}")
                # Pages that load their figures after drawing show spinners until then.
                try:
                    page.locator(".q-spinner").first.wait_for(state="hidden", timeout=20_000)
                except Exception:  # still loading: the screenshot shows it, and it is reported
                    problems.append(f"{language} {url}: still loading after 20 s")
                page.wait_for_timeout(800)  # charts animate in
                if page.locator(".q-notification.bg-negative").count():
                    problems.append(f"{language} {url}: an error notice is shown")
                page.screenshot(path=str(out / file_name(path)), full_page=True)
            page.close()
        browser.close()
    for problem in problems:
        print(problem)
    print(f"screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
