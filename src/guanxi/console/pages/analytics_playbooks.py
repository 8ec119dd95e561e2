"""Playbooks page: every RFM segment with its current members in the reader's scope, what to do
in plain words, and the launches the reader may start (issue a coupon, add a tag, export a call
list). Each asks for confirmation with the number of members it reaches, then follows its
background run (`RunWatcher` in a dialog); a finished call list is downloaded from there. The same
services as the API (`analytics.playbooks`, `jobs.playbooks`): same checks, records and audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.analytics import playbooks
from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.pages.runs import follow_in_dialog
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import page_title
from guanxi.jobs import playbooks as call_lists
from guanxi.kit import formatting
from guanxi.kit.db import get_database
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun
from guanxi.loyalty.catalog import coupons

PATH = "/analytics/playbooks"
ICONS = {"coupon": "redeem", "tag": "sell", "call_list": "call"}


def may_launch(principal: Principal, action: str) -> bool:
    resource, resource_action = playbooks.UNDERLYING[action]
    return is_allowed(principal, "analytics", playbooks.ANALYTICS_ACTION[action]) and is_allowed(
        principal, resource, resource_action
    )


def analytics_playbooks_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, PATH):
        page_title(tr("analytics.playbooks.title"))
        ui.label(tr("analytics.playbooks.explain")).classes("text-sm text-slate-600")
        lang = language()
        result = perform(lambda s, p: playbooks.list_playbooks(s, p, lang), principal=principal, write=False)
        if result.value is None:
            return None
        with ui.grid().classes("w-full gap-4 grid-cols-1 md:grid-cols-2"):
            for playbook in result.value:
                _card(principal, playbook, lang)
    return None


def _card(principal: Principal, playbook: playbooks.Playbook, lang: str) -> None:
    with ui.card().classes("gap-2").mark(f"playbook-{playbook.segment}"):
        with ui.row().classes("w-full items-center"):
            ui.label(playbook.name).classes("text-lg font-medium")
            ui.space()
            count = formatting.number(playbook.members, lang)
            ui.label(tr("analytics.playbooks.members", count=count)).classes("text-sm text-slate-600")
        ui.label(playbook.suggestion).classes("text-sm")
        with ui.row().classes("gap-2"):
            for action in playbooks.ACTIONS:
                if not may_launch(principal, action):
                    continue
                button = ui.button(
                    tr(f"analytics.playbook.action.{action}"),
                    icon=ICONS[action],
                    on_click=lambda a=action: _ask(playbook, a, lang),
                ).props("unelevated no-caps" if action in playbook.actions else "flat no-caps")
                button.mark(f"playbook-{playbook.segment}-{action}")
                if playbook.members == 0:
                    button.disable()


def _ask(playbook: playbooks.Playbook, action: str, lang: str) -> None:
    """The confirmation dialog: what the launch needs (a template, a tag) and whom it reaches."""
    inputs: dict[str, Any] = {}
    with ui.dialog() as dialog, ui.card().classes("w-[28rem] max-w-full gap-2").mark("playbook-dialog"):
        ui.label(tr(f"analytics.playbook.action.{action}")).classes("text-lg font-medium")
        if action == "coupon":
            found = perform(lambda s, p: coupons.list_templates(s, p, active=True), write=False)
            choices = {t.id: (t.name_en or t.name) if lang == "en" else t.name for t in found.value or []}
            if not choices:
                ui.label(tr("analytics.playbooks.no_templates")).classes("text-sm")
            inputs["template_id"] = ui.select(choices, label=tr("analytics.playbooks.template")).classes("w-full")
        elif action == "tag":
            inputs["tag"] = (
                ui.input(tr("analytics.playbooks.tag")).props("maxlength=40").classes("w-full").mark("playbook-tag")
            )
        count = formatting.number(playbook.members, lang)
        ui.label(tr("analytics.playbooks.confirm", count=count, segment=playbook.name)).classes("text-sm")
        with ui.row().classes("w-full justify-end"):
            ui.button(tr("analytics.playbooks.cancel"), on_click=dialog.close).props("flat no-caps")

            def confirmed() -> None:
                values = {name: element.value for name, element in inputs.items()}
                if any(not value for value in values.values()):
                    return
                dialog.close()
                _launch(playbook, action, values, lang)

            ui.button(tr("analytics.playbooks.launch"), on_click=confirmed).props("unelevated no-caps").mark(
                "playbook-confirm"
            )
    dialog.open()


def _launch(playbook: playbooks.Playbook, action: str, values: dict[str, Any], lang: str) -> None:
    database = get_database()
    starts: dict[str, Callable[[Any, Principal], str]] = {
        "coupon": lambda s, p: (
            playbooks.start_coupon(s, p, playbook.segment, str(values["template_id"]), database)[1].id
        ),
        "tag": lambda s, p: playbooks.start_tag(s, p, playbook.segment, str(values["tag"]).strip(), database)[1].id,
        "call_list": lambda s, p: call_lists.start_call_list(s, p, playbook.segment, lang, database).id,
    }
    started = perform(starts[action])
    if started.value is None:
        return
    follow_in_dialog(
        started.value, playbooks.readable_run, tr(f"analytics.playbook.action.{action}"), lambda run: _done(run)
    )


def _done(run: BackgroundRun) -> None:
    r = run.result or {}
    if run.kind == call_lists.KIND:
        ui.label(tr("analytics.playbooks.done_call_list", rows=r.get("rows", 0))).classes("text-sm")
        run_id = run.id

        def download() -> None:
            content = perform(lambda s, p: call_lists.take_file(s, p, run_id))
            if content.value is not None:
                ui.download.content(content.value, f"call-list-{run_id}.csv", "text/csv")

        ui.button(tr("analytics.playbooks.download"), icon="download", on_click=download).props(
            "unelevated no-caps"
        ).mark("playbook-download")
    elif "issued_count" in r:
        ui.label(tr("analytics.playbooks.done_coupon", issued=r["issued_count"], skipped=r["skipped_count"])).classes(
            "text-sm"
        )
    else:
        ui.label(
            tr("analytics.playbooks.done_tag", added=r.get("added", 0), already=r.get("already_tagged", 0))
        ).classes("text-sm")
