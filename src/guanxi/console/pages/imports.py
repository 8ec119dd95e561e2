"""Import and export pages.

Import: choose the kind, upload a file, say in the mapping step what each column feeds and all
else a mapping can say (`import_mapping`: value maps, constants, a derived order number, date
formats, bad values, conflicts, the history choice, saved mappings), preview the first rows with a
verdict per row (and the bad values a kept row drops), then run it (or a dry run) as a background
job whose progress bar and counts refresh on their own. When it ends, its report (`import_report`)
shows every update and conflict field by field, the dropped values by kind and what the history
choice gave the members; refused rows download as a CSV. Export: the
customer list (optionally filtered) as CSV or XLSX, masked as the user sees it. Both call the same
services as the API and the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nicegui import events, ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.config import get_settings
from guanxi.console.actions import notify_error, perform
from guanxi.console.layout import frame
from guanxi.console.pages.import_history import ImportHistory, row_verdict
from guanxi.console.pages.import_legend import Legend
from guanxi.console.pages.import_mapping import MappingForm
from guanxi.console.pages.import_report import report
from guanxi.console.pages.import_state import MappingState
from guanxi.console.pages.import_values import Sample, field_label, missing_texts, read_sample
from guanxi.console.pages.runs import RunWatcher
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import card, notice, page_title
from guanxi.customers.listing import CustomerFilter
from guanxi.dataio import export, files, mappings, readers, service
from guanxi.dataio.headers import KINDS
from guanxi.dataio.importers import derived_value, row_fields
from guanxi.dataio.models import ImportJob
from guanxi.dataio.runner import IMPORTERS
from guanxi.jobs import exports
from guanxi.kit import formatting
from guanxi.kit.db import get_database
from guanxi.kit.i18n import catalog
from guanxi.kit.ids import new_id
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun

PREVIEW_ROWS = 10
FORMATS = "CSV · XLSX · JSONL"
# The uploader's own header shows "0.0B / 0.00%" until a file comes; this one says what to do, and
# the whole header opens the file picker.
UPLOAD_HEADER = """
<div class="row no-wrap items-center q-pa-md q-gutter-md cursor-pointer" @click="props.pickFiles">
  <q-icon name="upload_file" size="32px" />
  <div class="col">
    <div class="text-subtitle1">{label}</div>
    <div class="text-caption">{formats}</div>
  </div>
  <q-spinner v-if="props.isUploading" size="24px" />
  <q-uploader-add-trigger v-if="props.canAddFiles" />
</div>
"""


class ImportWizard:
    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.kind = "customers"
        self.job_id = new_id()
        self.path: Path | None = None
        self.file_name = ""
        self.columns: list[str] = []
        self.sample = Sample()
        self.form: MappingForm | None = None
        self.running: str | None = None
        self.history: ImportHistory | None = None  # refreshed while a job this page started runs

    def build(self) -> None:
        with card(tr("import.step_file"), marker="import-file"):
            with ui.row().classes("items-center gap-4"):
                self.kind_select = (
                    ui.select(
                        {k: tr(f"import.kind.{k}") for k in KINDS},
                        value=self.kind,
                        label=tr("import.kind"),
                        on_change=self._kind_changed,
                    )
                    .classes("w-48")
                    .mark("import-kind")
                )
                self.dry_run = ui.checkbox(tr("import.dry_run")).mark("import-dry-run")
            ui.label(tr("import.file_hint")).classes("text-sm text-slate-500")
            self.upload = ui.upload(on_upload=self._uploaded, auto_upload=True, label=tr("import.upload_hint"))
            self.upload.props("accept=.csv,.txt,.xlsx,.jsonl,.ndjson flat bordered color=primary")
            self.upload.classes("w-full max-w-xl").mark("import-upload")
            self.upload.add_slot("header", UPLOAD_HEADER.format(label=tr("import.upload_hint"), formats=FORMATS))
            self.problem = ui.column().classes("w-full")
            self.legend = Legend()
            self.legend.build(self.kind)
        self.mapping_box = ui.column().classes("w-full")
        self.preview_box = ui.column().classes("w-full")
        self.job_box = ui.column().classes("w-full")

    def _kind_changed(self, event: events.ValueChangeEventArguments) -> None:
        self.kind = str(event.value)
        self.legend.show(self.kind)
        if self.path is not None:
            self._show_mapping()

    async def _uploaded(self, event: events.UploadEventArguments) -> None:
        if self.path is not None:  # a file chosen before and never run: it goes now
            service.discard_upload(self.path)
        self.job_id = new_id()
        name = Path(event.file.name).name or "upload.csv"
        target = service.new_job_dir(self.job_id) / name
        files.private_file(target).close()  # owner-only before the first byte arrives
        await event.file.save(target)
        self.path, self.file_name = target, name
        self.problem.clear()
        try:
            with readers.open_rows(target) as source:
                self.columns = list(source.headers)
            self.sample = read_sample(target, self.columns)
        except readers.FileProblem as problem:
            with self.problem:
                notice(_file_problem_text(problem), kind="error")
            self.mapping_box.clear()
            self.preview_box.clear()
            return
        self._show_mapping()

    def _show_mapping(self) -> None:
        self.mapping_box.clear()
        self.preview_box.clear()
        state = MappingState.for_file(self.kind, self.columns, self.sample)
        with self.mapping_box, card(tr("import.step_mapping"), marker="import-mapping"):
            self.form = MappingForm(state, self.file_name)
            with ui.row().classes("gap-2"):
                ui.button(tr("import.preview"), icon="visibility", on_click=self._preview).props(
                    "outline no-caps"
                ).mark("import-preview")
                ui.button(tr("import.run"), icon="play_arrow", on_click=self._run).props("unelevated no-caps").mark(
                    "import-run"
                )

    def _preview(self) -> None:
        if self.path is None or self.form is None:
            return
        mapping = self.form.checked()
        if mapping is None:
            return
        resolved = mappings.resolve(self.columns, self.kind, mapping)
        importer = IMPORTERS[self.kind]
        rows: list[dict[str, Any]] = []
        with readers.open_rows(self.path, check=False) as source:
            for row in source:
                if len(rows) >= PREVIEW_ROWS:
                    break
                if row.problem:  # the reader's English sentence names the counts; other languages the catalog's
                    verdict = row.problem if language() == "en" else tr("import.row_unreadable")
                else:
                    verdict = row_verdict(importer, row.line, row_fields(row.values, resolved, mapping), mapping)
                derived = {f"derived.{n}": derived_value(row.values, p, row.line) for n, p in mapping.derive.items()}
                rows.append(
                    {
                        "line": row.line,
                        **{c: readers.cell_text(row.values.get(c)) for c in self.columns},
                        **derived,
                        "verdict": verdict,
                    }
                )
        self.preview_box.clear()
        with self.preview_box, card(tr("import.step_preview"), marker="import-preview-card"):
            for text in missing_texts(self.kind, resolved):
                notice(text, kind="error")
            cols = [{"name": "line", "label": "#", "field": "line", "align": "left"}]
            cols += [{"name": c, "label": c, "field": c, "align": "left"} for c in self.columns]
            cols += [
                {"name": f"derived.{n}", "label": field_label(self.kind, n), "field": f"derived.{n}", "align": "left"}
                for n in mapping.derive
            ]
            cols += [{"name": "verdict", "label": tr("import.verdict"), "field": "verdict", "align": "left"}]
            ui.table(columns=cols, rows=rows, row_key="line").classes("w-full").props("dense flat").mark(
                "import-preview-table"
            )

    def _run(self) -> None:
        if self.path is None or self.form is None:
            return
        mapping = self.form.checked()
        if mapping is None:
            return
        path, kind, dry_run, options = self.path, self.kind, bool(self.dry_run.value), self.form.options()

        def create(session: Any, principal: Principal) -> str:
            job = service.create_job(
                session,
                principal,
                kind=kind,
                file_name=self.file_name,
                path=path,
                mapping=mapping,
                dry_run=dry_run,
                options=options or None,
                job_id=self.job_id,
            )
            return job.id

        result = perform(create, notify=False)
        if result.error is not None:
            self.form.refused(result.error)
            return
        if result.value is None:
            return
        service.start(result.value, get_database())
        self.running = result.value
        self.path = None  # a new upload starts a new job
        if self.history is not None:
            self.history.watch()
        self.job_box.clear()
        with self.job_box, card(tr("import.step_job"), marker="import-job"):
            self.progress = ui.linear_progress(value=0, show_value=False).mark("import-progress")
            self.status = ui.label("").mark("import-status")
            self.counts = ui.label("").mark("import-counts")
            self.report_box = ui.column().classes("w-full")
            self.download = ui.row()
        self.timer = ui.timer(0.5, self._refresh)

    def _refresh(self) -> None:
        job_id = self.running
        if job_id is None:
            return
        result = perform(lambda s, p: service.get_job(s, p, job_id), write=False, notify=False)
        job = result.value
        if job is None:
            return
        self.progress.set_value(job.progress)
        self.status.set_text(_status_text(job))
        verb = "import.would" if job.dry_run else "import.did"
        self.counts.set_text(
            tr(verb, created=job.created, updated=job.updated, unchanged=job.unchanged, rejected=job.rejected)
        )
        if job.status in ("done", "failed"):
            self.timer.deactivate()
            self.running = None
            with self.report_box:
                report(job)
            if job.errors_path and files.errors_expired(job):
                self._show_expired()
            elif job.errors_path:
                with self.download:
                    ui.button(
                        tr("import.download_errors"), icon="download", on_click=lambda: self._download(job_id)
                    ).props("outline no-caps").mark("import-errors")

    def _download(self, job_id: str) -> None:
        lang = language()
        result = perform(lambda s, p: service.errors_file(s, p, job_id).read(lang), notify=False)
        if result.ok and result.value is not None:
            ui.download.content(result.value, f"import-{job_id}-errors.csv", "text/csv")
        elif isinstance(result.error, service.ErrorsFileExpired):
            ui.notify(_expired_text(), type="warning")
            self._show_expired()
        elif result.error is not None:
            notify_error(result.error)

    def _show_expired(self) -> None:
        """The refused rows were kept for their time: say so where the download was."""
        self.download.clear()
        with self.download:
            ui.label(_expired_text()).classes("text-sm text-slate-500").mark("import-errors-expired")


def _status_text(job: ImportJob) -> str:
    """The job's status; why it failed is the runner's English sentence, so other languages say
    what to do instead."""
    status = tr(f"import.status.{job.status}")
    if not job.error:
        return status
    reason = job.error if language() == "en" else tr("import.failed_hint")
    return tr("import.status_failed", status=status, reason=reason)


def _file_problem_text(problem: readers.FileProblem) -> str:
    """The reader's own sentence in English (it names the line); the catalog's for its code else."""
    key = f"import.file_problem.{problem.code}"
    if language() == "en" or key not in catalog(language()):
        return problem.message
    return tr(key)


def _expired_text() -> str:
    return tr("import.errors_expired", days=get_settings().import_errors_retention_days)


def imports_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/imports"):
        page_title(tr("import.title"))
        wizard = None
        if not is_allowed(principal, "imports", "create"):
            notice(tr("import.not_allowed"))
        else:
            wizard = ImportWizard(principal)
            wizard.build()
        history = ImportHistory(principal)
        history.build()
        if wizard is not None:
            wizard.history = history
    return None


def send_export(run: BackgroundRun) -> None:
    """The finished export's file to the browser; nothing stays on disk."""
    result = perform(lambda s, p: exports.take_file(s, p, run.id), notify=False)
    if result.value is None:
        ui.notify(tr("export.gone"), type="warning")
        return
    chosen = str((run.result or {}).get("format", "csv"))
    text = tr("export.done", rows=formatting.number(int((run.result or {}).get("rows", 0)), language()))
    ui.notify(text)
    ui.label(text).classes("text-sm text-green-800").mark("export-done")
    ui.download.content(result.value, f"customers.{chosen}", export.MEDIA_TYPES[chosen])


def exports_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/exports"):
        page_title(tr("export.title"))
        if not is_allowed(principal, "customers", "export"):
            notice(tr("export.not_allowed"))
            return None
        with card(tr("export.customers"), marker="export-card"):
            ui.label(tr("export.masking_hint")).classes("text-sm text-slate-500")
            with ui.row().classes("items-center gap-2"):
                fmt = ui.select({"csv": "CSV", "xlsx": "Excel (XLSX)"}, value="xlsx", label=tr("export.format"))
                fmt.classes("w-40").mark("export-format")
                city = ui.input(tr("field.city")).props("dense outlined").mark("export-city")
                tag = ui.input(tr("export.tag")).props("dense outlined").mark("export-tag")
                q = ui.input(tr("export.search")).props("dense outlined").mark("export-q")

            def run() -> None:
                # A background run writes the file (jobs.exports); the page downloads it when done.
                chosen = str(fmt.value)
                reader_language = language()  # the report reads in the console's language
                flt = CustomerFilter(q=q.value or None, city=city.value or None, tag=tag.value or None)
                database = get_database()
                result = perform(
                    lambda s, p: exports.start(s, p, flt, fmt=chosen, language=reader_language, database=database).id
                )
                if result.value is not None:
                    box.clear()
                    with box:
                        RunWatcher(result.value, exports.get, send_export).build()

            ui.button(tr("export.run"), icon="download", on_click=run).props("unelevated no-caps").mark("export-run")
            box = ui.column().classes("w-full gap-1").mark("export-run-box")
    return None
