"""Following a background run (`kit.runs`) in the console: its status and a progress bar, polled
from the run's row by a timer, then the result drawn by the page that started it, or a readable
message when it failed. The handler that starts a run only records it; the work runs elsewhere
(the queue's worker or a thread), so neither the handler nor this timer ever waits for it."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui
from sqlalchemy.orm import Session

from guanxi.console.actions import perform
from guanxi.console.session import language, tr
from guanxi.kit import formatting, runs
from guanxi.kit.i18n import catalog
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun

POLL_SECONDS = 0.5

Loader = Callable[[Session, Principal, str], BackgroundRun]


def status_text(run: BackgroundRun) -> str:
    return tr(f"run.status.{run.status}")


def progress_text(run: BackgroundRun) -> str:
    lang = language()
    if run.total is None:
        return tr("run.progress_unknown", done=formatting.number(run.done, lang))
    return tr("run.progress", done=formatting.number(run.done, lang), total=formatting.number(run.total, lang))


def error_text(run: BackgroundRun) -> str:
    """Why a run failed, in the reader's words: a sentence for the codes a run ends with, a
    general one otherwise (the code and the technical message stay in the log and the API)."""
    key = f"run.error.{run.error_code}"
    return tr(key) if key in catalog(language()) else tr("run.error.other")


def started_text(run: BackgroundRun) -> str:
    return tr("run.started", name=run.actor_name, time=formatting.moment(run.created_at, language()))


class RunWatcher:
    """The run's progress, then `render(run)` once it is done. `load` reads the run as its page's
    service does (permission and kind checked)."""

    def __init__(self, run_id: str, load: Loader, render: Callable[[BackgroundRun], None]) -> None:
        self.run_id = run_id
        self.load = load
        self.render = render
        self.timer: ui.timer | None = None

    def build(self) -> None:
        with ui.column().classes("w-full gap-1").mark("run-box"):
            self.progress = ui.linear_progress(value=0, show_value=False).mark("run-progress")
            with ui.row().classes("items-center gap-3"):
                self.status = ui.label("").classes("text-sm font-medium").mark("run-status")
                self.counts = ui.label("").classes("text-sm text-slate-500").mark("run-counts")
        self.result = ui.column().classes("w-full gap-4").mark("run-result")
        if not self.refresh():
            self.timer = ui.timer(POLL_SECONDS, self.refresh)

    def refresh(self) -> bool:
        """Show the run as it stands; whether it has finished (then the timer stops)."""
        run_id, load = self.run_id, self.load
        result = perform(lambda s, p: load(s, p, run_id), write=False, notify=False)
        run = result.value
        if run is None:
            self._stop()
            with self.result:
                ui.label(tr("run.unavailable")).classes("text-sm text-red-800").mark("run-error")
            return True
        self.status.set_text(status_text(run))
        # Work that cannot count its steps reports none until it ends: no "0 processed" meanwhile.
        counted = run.status != "queued" and bool(run.total or run.done)
        self.counts.set_text(progress_text(run) if counted else "")
        if run.total:
            self.progress.set_value(min(run.done / run.total, 1.0))
        if run.status not in runs.FINISHED:
            if not run.total:
                self.progress.props("indeterminate")
            return False
        self._stop()
        self.progress.props(remove="indeterminate")
        self.progress.set_value(1.0 if run.status == "done" else self.progress.value)
        self.progress.set_visibility(run.status != "done")
        with self.result:
            if run.status == "done":
                self.render(run)
            else:
                ui.label(error_text(run)).classes("text-sm text-red-800").mark("run-error")
        return True

    def _stop(self) -> None:
        if self.timer is not None:
            self.timer.deactivate()
            self.timer = None


def follow_in_dialog(run_id: str, load: Loader, title: str, done: Callable[[BackgroundRun], None]) -> None:
    """A dialog following the run, for an action whose page has no place for it; `done(run)`
    once it is done (a notice, a move to the page that shows the outcome)."""
    with ui.dialog() as dialog, ui.card().classes("w-[28rem] max-w-full gap-2").mark("run-dialog"):
        ui.label(title).classes("text-lg font-medium")
        RunWatcher(run_id, load, done).build()
        with ui.row().classes("w-full justify-end"):
            ui.button(tr("run.close"), on_click=dialog.close).props("flat no-caps").mark("run-close")
    dialog.open()
