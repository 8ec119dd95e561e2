"""HTTP API of the rate table: list it, load rows as JSON or as a CSV upload (all or nothing)."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from guanxi.auth.deps import CurrentPrincipal
from guanxi.kit.inputs import BusinessDate
from guanxi.kit.web import DbSession, in_worker_thread
from guanxi.loyalty.currency import service
from guanxi.loyalty.currency.rows import RawRate, RowRef
from guanxi.loyalty.currency.schemas import LoadedRateOut, LoadReportOut, RateList, RateOut, RatesIn

router = APIRouter(prefix="/exchange-rates", tags=["loyalty"])

JSON_SOURCE = "api"


def report_out(report: service.LoadReport) -> LoadReportOut:
    outcomes = (("added", report.added), ("replaced", report.replaced), ("unchanged", report.unchanged))
    return LoadReportOut(
        source=report.source,
        dry_run=report.dry_run,
        added=len(report.added),
        replaced=len(report.replaced),
        unchanged=len(report.unchanged),
        rates=sorted(
            (
                LoadedRateOut(
                    currency=p.currency, valid_from=p.valid_from, valid_to=p.valid_to, rate=p.rate, outcome=outcome
                )
                for outcome, periods in outcomes
                for p in periods
            ),
            key=lambda r: (r.currency, r.valid_from),
        ),
    )


def _answer(report: service.LoadReport, response: Response) -> LoadReportOut:
    written = not report.dry_run and (report.added or report.replaced)
    response.status_code = status.HTTP_201_CREATED if written else status.HTTP_200_OK
    return report_out(report)


@router.get("", response_model=RateList)
@in_worker_thread
def list_rates(
    session: DbSession,
    principal: CurrentPrincipal,
    currency: Annotated[str | None, Query(min_length=1, max_length=8, description="ISO 4217 code")] = None,
    on: Annotated[BusinessDate | None, Query(description="Only the row covering this day, per currency")] = None,
) -> RateList:
    """The rate table by currency and start day."""
    rows = service.list_rates(session, principal, currency=currency, on=on)
    return RateList(items=[RateOut.model_validate(row, from_attributes=True) for row in rows])


@router.post("", response_model=LoadReportOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def post_rates(body: RatesIn, session: DbSession, principal: CurrentPrincipal, response: Response) -> LoadReportOut:
    """Load rows (administrators). Every row is checked and the table they would leave too; any
    problem refuses the whole body with one error per row (`rates[i].field`) and writes nothing.
    201 when rows were added or replaced, 200 for a dry run or when nothing changed."""
    rows = [
        RawRate(where=RowRef(index=i), currency=r.currency, rate=r.rate, valid_from=r.valid_from, valid_to=r.valid_to)
        for i, r in enumerate(body.rates)
    ]
    report = service.load_rates(
        session, principal, rows, source=JSON_SOURCE, replace=body.replace, dry_run=body.dry_run
    )
    return _answer(report, response)


def _source(name: str | None) -> str:
    base = PurePath(name or "upload.csv").name
    return re.sub(r"[\x00-\x1f\x7f]", "", base)[:255] or "upload.csv"


@router.post("/import", response_model=LoadReportOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def import_rates(
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
    file: Annotated[UploadFile, File(description="CSV (UTF-8): currency,rate,valid_from[,valid_to]")],
    replace: Annotated[bool, Form()] = False,
    dry_run: Annotated[bool, Form()] = False,
) -> LoadReportOut:
    """Load a CSV file (administrators), with the same checks as a JSON body; errors name the
    file's lines (`line 3: rate`, the header being line 1)."""
    data = file.file.read()
    report = service.load_csv(session, principal, data, source=_source(file.filename), replace=replace, dry_run=dry_run)
    return _answer(report, response)
