"""The national dashboard: progress toward 10 M / 100 M, prefectures, time series, flows, the
typology, the relationship funnel; CSV downloads for spreadsheets (UTF-8 with a BOM, CRLF,
identifier columns first; the API's `Accept: text/csv` stays plain for programs)."""
from flask import abort, current_app, render_template

from registry.common.auth import ADMIN, NATIONAL
from registry.common.replica import figures_as_of, reads_from_replica
from registry.common.time import today_tokyo
from registry.figures import dashboard as board, funnel_service, service as figures
from registry.figures.export import spreadsheet_response
from registry.figures.schemas import (
    FlowSchema, FunnelRowSchema, OrganizationFiguresSchema, PeriodSchema, PrefectureFiguresSchema, TypeFiguresSchema,
)
from registry.figures.stages import NATIONAL as COUNTRY
from registry.pages.common import page_blueprint, page_require

blp = page_blueprint("dashboard_pages", __name__)

EXPORTS = {
    "by-prefecture": (lambda m: figures.by_prefecture(min_cell=m), PrefectureFiguresSchema),
    "by-organization": (lambda m: figures.by_organization(min_cell=m), OrganizationFiguresSchema),
    "timeseries-month": (lambda m: figures.timeseries(interval="month", min_cell=m), PeriodSchema),
    "timeseries-day": (lambda m: figures.timeseries(interval="day", min_cell=m), PeriodSchema),
    "flows": (lambda m: figures.flows(min_cell=m), FlowSchema),
    "by-type": (lambda m: figures.typology(min_cell=m)["types"], TypeFiguresSchema),
    "funnel": (lambda m: funnel_service.funnel(COUNTRY, own=False, min_cell=m, today=today_tokyo()), FunnelRowSchema),
}


@blp.get("/dashboard")
@page_require(NATIONAL, ADMIN)
@reads_from_replica
def dashboard():
    shown = board.dashboard(today=today_tokyo(), now=figures_as_of(), min_cell=current_app.config["MIN_CELL"])
    return render_template("pages/dashboard.html", exports=list(EXPORTS), **shown)


@blp.get("/dashboard/<name>.csv")
@page_require(NATIONAL, ADMIN)
@reads_from_replica
def export(name):
    if name not in EXPORTS:
        abort(404)
    rows, schema = EXPORTS[name]
    return spreadsheet_response(rows(current_app.config["MIN_CELL"]), schema(), filename=f"{name}.csv")
