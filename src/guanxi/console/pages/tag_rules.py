"""Tag rules in the console: the list with each rule's last run, and an editor (code, tag and the
same condition builder as segments, with its live count) that saves, runs or deletes a rule."""

from __future__ import annotations

import copy
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.pages.runs import follow_in_dialog
from guanxi.console.pages.segment_builder import DefinitionForm, new_rule, validated
from guanxi.console.paging import Pager
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import card, local_time, notice, page_title
from guanxi.jobs import scans
from guanxi.kit import formatting
from guanxi.kit.db import get_database
from guanxi.kit.errors import NotFound
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun
from guanxi.marketing import tag_rules
from guanxi.marketing.schemas import TagRuleIn, TagRuleOut, TagRuleUpdate

RULE_LINK = r"""
<q-td :props="props">
  <a :href="'/tag-rules/' + props.row.id" class="text-primary font-medium no-underline" @click.stop>
    {{ props.value }}
  </a>
</q-td>
"""


def rule_rows(rules: list[TagRuleOut]) -> list[dict[str, Any]]:
    lang = language()
    return [
        {
            "id": r.id,
            "code": r.code,
            "tag": r.tag,
            "active": tr("common.yes") if r.active else tr("tagrules.inactive"),
            "last_run_at": local_time(r.last_run_at),
            "last_matched": formatting.number(r.last_matched, lang),
            "last_added": formatting.number(r.last_added, lang),
            "last_removed": formatting.number(r.last_removed, lang),
        }
        for r in rules
    ]


def tag_rules_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/tag-rules"):
        with ui.row().classes("w-full items-center"):
            page_title(tr("tagrules.title"))
            ui.space()
            if is_allowed(principal, "tag_rules", "create"):
                ui.button(tr("tagrules.new"), icon="add", on_click=lambda: ui.navigate.to("/tag-rules/new")).props(
                    "unelevated no-caps"
                ).mark("tagrule-new")
        result = perform(
            lambda s, p: [tag_rules.rule_out(r) for r in tag_rules.list_rules(s, p)], principal=principal, write=False
        )
        if result.value is None:
            return None
        ui.label(tr("tagrules.explain")).classes("text-sm text-slate-600")
        names = ("code", "tag", "active", "last_run_at", "last_matched", "last_added", "last_removed")
        columns = [{"name": n, "label": tr(f"tagrules.col.{n}"), "field": n, "align": "left"} for n in names]
        table = ui.table(rows=[], columns=columns, row_key="id").props("flat bordered dense")
        table.classes("w-full gx-table").mark("tagrule-table")
        table.add_slot("body-cell-code", RULE_LINK)
        if not result.value:
            ui.label(tr("tagrules.empty")).classes("text-sm text-slate-500")
        # A few dozen rules at most: held whole, newest first, paged on the page.
        newest = sorted(result.value, key=lambda r: (r.created_at, r.id), reverse=True)

        def show_page() -> None:
            table.rows = rule_rows(pager.slice(newest))
            table.update()

        pager = Pager(show_page, keyset=False, marker="tagrule-pager")
        pager.build()
        show_page()
    return None


def _editor(principal: Principal, rule: TagRuleOut | None) -> None:
    definition: dict[str, Any] = (
        copy.deepcopy(rule.conditions) if rule else {"match": "all", "rules": [new_rule()], "groups": []}
    )
    form = DefinitionForm(definition)
    with ui.row().classes("w-full gap-4 items-start no-wrap"):
        with ui.column().classes("flex-1 gap-3"), card(tr("tagrules.definition"), marker="tagrule-form"):
            with ui.row().classes("w-full gap-2 items-center"):
                code = ui.input(tr("tagrules.code"), value=rule.code if rule else "").props("outlined dense")
                code.classes("w-48").mark("tagrule-code")
                if rule is not None:
                    code.disable()
                tag = ui.input(tr("tagrules.tag"), value=rule.tag if rule else "").props("outlined dense")
                tag.classes("w-48").mark("tagrule-tag")
                active = ui.switch(tr("tagrules.active"), value=rule.active if rule else True).mark("tagrule-active")
            description = ui.input(tr("tagrules.description"), value=(rule.description or "") if rule else "").props(
                "outlined dense"
            )
            description.classes("w-full")
            form.builder.build()
            fields = {"code": code, "tag": tag, "description": description}
            with ui.row().classes("gap-2"):
                if is_allowed(principal, "tag_rules", "update" if rule else "create"):
                    ui.button(
                        tr("tagrules.save"),
                        icon="save",
                        on_click=lambda: _save(form, fields, rule, bool(active.value)),
                    ).props("unelevated no-caps").mark("tagrule-save")
                if rule is not None and is_allowed(principal, "tag_rules", "update"):
                    ui.button(tr("tagrules.run"), icon="play_arrow", on_click=lambda: _run(rule.id)).props(
                        "outline no-caps"
                    ).mark("tagrule-run")
                if rule is not None and is_allowed(principal, "tag_rules", "delete"):
                    ui.button(tr("tagrules.delete"), icon="delete", on_click=lambda: _delete(rule.id)).props(
                        "flat no-caps color=negative"
                    ).mark("tagrule-delete")
            if rule is not None and rule.last_run_at is not None:
                ui.label(
                    tr(
                        "tagrules.last_run",
                        at=local_time(rule.last_run_at),
                        matched=rule.last_matched or 0,
                        added=rule.last_added or 0,
                        removed=rule.last_removed or 0,
                    )
                ).classes("text-sm text-slate-600").mark("tagrule-last-run")
        with ui.column().classes("w-[30rem] max-w-full gap-3"):
            form.panel.build()


def _save(form: DefinitionForm, fields: dict[str, Any], rule: TagRuleOut | None, active: bool) -> None:
    now = copy.deepcopy(form.definition)
    code, tag = (fields["code"].value or "").strip(), (fields["tag"].value or "").strip()
    description = fields["description"].value or ""
    if rule is None:
        # Blank as None: the input model then says "required", not "wrong format".
        data = {
            "code": code or None,
            "tag": tag or None,
            "description": description or None,
            "active": active,
            "conditions": now,
        }
        result = perform(lambda s, p: tag_rules.create_rule(s, p, validated(TagRuleIn, data)).id, notify=False)
    else:
        rule_id = rule.id
        patch = {"tag": tag or None, "description": description, "active": active, "conditions": now}
        result = perform(
            lambda s, p: tag_rules.update_rule(s, p, rule_id, validated(TagRuleUpdate, patch)).id, notify=False
        )
    if result.value is None:
        form.refused(result.error, fields)
        return
    ui.notify(tr("tagrules.saved"), type="positive")
    ui.navigate.to(f"/tag-rules/{result.value}")


def _run(rule_id: str) -> None:
    """A full refresh goes over every customer: a background run the page follows (jobs.scans)."""
    database = get_database()
    result = perform(lambda s, p: scans.start_tag_rule(s, p, rule_id, database).id)
    if result.value is not None:
        follow_in_dialog(result.value, scans.get_tag_rule_run, tr("tagrules.run"), lambda run: _ran(rule_id, run))


def _ran(rule_id: str, run: BackgroundRun) -> None:
    r = run.result or {}
    ui.notify(tr("tagrules.ran", matched=r["matched"], added=r["added"], removed=r["removed"]), type="positive")
    ui.navigate.to(f"/tag-rules/{rule_id}")


def _delete(rule_id: str) -> None:
    if perform(lambda s, p: tag_rules.delete_rule(s, p, rule_id)).ok:
        ui.navigate.to("/tag-rules")


def new_rule_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/tag-rules"):
        page_title(tr("tagrules.new"))
        _editor(principal, None)
    return None


def rule_page(request: Request, rule_id: str) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/tag-rules"):
        result = perform(
            lambda s, p: tag_rules.rule_out(tag_rules.get_rule(s, p, rule_id)), principal=principal, write=False
        )
        if result.value is None:
            notice(tr("error.not_found") if isinstance(result.error, NotFound) else tr("tagrules.unavailable"))
            ui.link(tr("tagrules.back"), "/tag-rules")
            return None
        with ui.row().classes("w-full items-center gap-3"):
            ui.button(icon="arrow_back", on_click=lambda: ui.navigate.to("/tag-rules")).props("flat round dense")
            page_title(f"{result.value.code} → {result.value.tag}")
        _editor(principal, result.value)
    return None
