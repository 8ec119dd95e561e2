"""Issuing coupons from a template in the console: to customers by id (one per line) or to
everyone holding a tag, through `loyalty.catalog.coupons.issue`. Each opening of the dialog draws a new
Idempotency-Key, so a double click issues once.

A list of ids is at most 1,000 customers and is issued at once; a tag may hold any number, so it is
issued by a background run (`coupon_jobs.start_bulk_issue`) that the dialog follows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from guanxi.console.actions import field_message, perform
from guanxi.console.pages.loyalty_common import field_errors, show_failure
from guanxi.console.pages.runs import RunWatcher
from guanxi.console.session import tr
from guanxi.console.widgets import choice, local_time
from guanxi.kit.db import get_database
from guanxi.kit.errors import FieldError
from guanxi.kit.runs import BackgroundRun
from guanxi.loyalty.catalog import coupon_jobs, coupons
from guanxi.loyalty.catalog.schemas import CouponOut, IssueIn, SkippedOut


class IssueDialog:
    def __init__(self, table: ui.table, on_issued: Callable[[str], None]) -> None:
        self.on_issued = on_issued
        self.template_id: str | None = None
        self.key = uuid.uuid4().hex
        with ui.dialog() as self.dialog, ui.card().classes("w-[32rem] max-w-full gap-2"):
            self.title = ui.label("").classes("text-lg font-medium")
            audiences = {"ids": tr("loyalty.catalog.to_customers"), "tag": tr("loyalty.catalog.to_tag")}
            self.audience = ui.toggle(audiences, value="ids").props("no-caps dense unelevated").mark("issue-audience")
            self.ids = ui.textarea(tr("loyalty.catalog.customer_ids")).props("outlined dense autogrow")
            self.ids.classes("w-full").mark("issue-customer_ids")
            self.ids.bind_visibility_from(self.audience, "value", value="ids")
            self.tag = ui.input(tr("field.tag")).props("outlined dense").classes("w-full").mark("issue-tag")
            self.tag.bind_visibility_from(self.audience, "value", value="tag")
            self.note = ui.input(tr("loyalty.redeem.note")).props("outlined dense").classes("w-full")
            self.note.mark("issue-note")
            self.result = ui.column().classes("w-full gap-1").mark("issue-result")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.dialog.close).props("flat no-caps")
                ui.button(tr("loyalty.catalog.issue"), icon="send", on_click=self.submit).props(
                    "unelevated no-caps"
                ).mark("issue-submit")
        table.on("issue", lambda e: self.open(e.args))

    def open(self, row: Any) -> None:
        if not isinstance(row, dict) or not row.get("id"):
            return
        self.template_id = str(row["id"])
        self.key = uuid.uuid4().hex
        self.title.set_text(tr("loyalty.catalog.issue_title", name=row.get("name", "")))
        self.ids.value = self.tag.value = self.note.value = ""
        self._clear()
        self.dialog.open()

    def _clear(self) -> None:
        for element in (self.ids, self.tag):
            element.props["error"] = False
            element.update()
        self.result.clear()

    def _errors(self, errors: list[FieldError]) -> None:
        for error in errors:
            field = error.field.split("[")[0]
            element = self.tag if field == "tag" else self.ids
            element.props["error"] = True
            element.props["error-message"] = field_message(field, error.code, error.message)
            element.update()

    def body(self) -> dict[str, Any]:
        if self.audience.value == "ids":
            ids = [p.strip() for p in (self.ids.value or "").replace(",", "\n").splitlines() if p.strip()]
            body: dict[str, Any] = {"customer_ids": ids or None}
        else:
            body = {"tag": (self.tag.value or "").strip() or None}
        body["note"] = (self.note.value or "").strip() or None
        return body

    def submit(self) -> None:
        self._clear()
        if self.template_id is None:
            return
        body = self.body()
        if body.get("customer_ids", body.get("tag")) is None:
            self._errors([FieldError("tag" if "tag" in body else "customer_ids", tr("error.required"), "required")])
            return
        try:
            data = IssueIn.model_validate(body)
        except ValidationError as exc:
            self._errors(field_errors(exc))
            return
        template_id, key = self.template_id, self.key
        if data.tag is not None:
            self._start(template_id, data, key)
            return
        result = perform(lambda s, p: coupons.issue(s, p, template_id, data, key), notify=False)
        if result.error is not None:
            show_failure(result.error, self._errors)
            return
        answer = result.value
        assert answer is not None
        self._issued(template_id, answer.issued_count, answer.issued, answer.skipped, len(answer.skipped))

    def _start(self, template_id: str, data: IssueIn, key: str) -> None:
        """Everyone with the tag, in the background; the dialog follows the run."""
        database = get_database()
        result = perform(
            lambda s, p: coupon_jobs.start_bulk_issue(s, p, template_id, data, key, database).id, notify=False
        )
        if result.error is not None:
            show_failure(result.error, self._errors)
            return
        assert result.value is not None

        def done(run: BackgroundRun) -> None:
            report = run.result or {}
            issued = [CouponOut.model_validate(c) for c in report.get("issued", [])]
            skipped = [SkippedOut.model_validate(c) for c in report.get("skipped", [])]
            self._issued(
                template_id, int(report.get("issued_count", 0)), issued, skipped, int(report.get("skipped_count", 0))
            )

        with self.result:
            RunWatcher(result.value, coupon_jobs.get_bulk_issue, done).build()

    def _issued(
        self,
        template_id: str,
        issued_count: int,
        issued: list[CouponOut],
        skipped: list[SkippedOut],
        skipped_count: int,
    ) -> None:
        text = tr("loyalty.catalog.issued", issued=issued_count, skipped=skipped_count)
        ui.notify(text, type="positive")
        with self.result:
            ui.label(text).classes("text-sm text-green-800").mark("issue-done")
            for coupon in issued[:10]:
                ui.label(f"{coupon.code} · {local_time(coupon.valid_to)}").classes("text-xs font-mono")
            for one in skipped[:10]:
                ui.label(f"{one.customer_id}: {choice('loyalty.skip', one.reason)}").classes("text-xs")
        self.on_issued(template_id)
