"""The national figures: JSON by default, CSV when asked for by `Accept: text/csv`."""
from flask import current_app, request
from flask_login import current_user

from registry.common.auth import ADMIN, NATIONAL, STAFF, require
from registry.common.openapi import Blueprint
from registry.common.replica import figures_as_of, reads_from_replica
from registry.common.time import today_tokyo
from registry.errors import Problem
from registry.figures import funnel_service, service
from registry.figures.export import csv_response
from registry.figures.schemas import (
    AgeBandFiguresSchema, FlowSchema, FunnelQuerySchema, FunnelRowSchema, IntervalQuerySchema,
    OrganizationFiguresSchema, PeriodSchema, PrefectureFiguresSchema, PrefectureQuerySchema, TieFiguresSchema,
    TierFiguresSchema, TotalsQuerySchema, TotalsSchema, TypeFiguresSchema,
)
from registry.figures.stages import NATIONAL as COUNTRY
from registry.organizations import service as organizations

blp = Blueprint("figures", __name__, description=(
    "The national figures (aggregates only, no personal data). In the breakdowns, counts under MIN_CELL "
    "are null, and so are the counts that would let one be worked out by subtraction from other published "
    "figures (complementary suppression, registry/figures/suppression.py); the national totals are not."))
# Every view reads the replica when one is configured (@reads_from_replica, below @require: sign-in reads the primary).
CSV_NOTE = "JSON; the same rows as CSV with `Accept: text/csv` (a suppressed count is an empty cell)."
as_csv_too = blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", description=CSV_NOTE,
                              success=True)


def _min_cell() -> int:
    return current_app.config["MIN_CELL"]


def _respond(data, schema):
    """`data` through `schema` as JSON, or as CSV when the client asks for it by `Accept`."""
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) != "text/csv":
        return data
    return csv_response(data, schema)


@blp.get("/stats/totals")
@require(NATIONAL, ADMIN, STAFF)
@blp.arguments(TotalsQuerySchema, location="query")
@blp.response(200, TotalsSchema, description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def totals(args):
    """National totals and progress toward 10 M / 100 M; `?organization=` for one 団体 (staff: their own)."""
    actor = current_user
    organization = organizations.resolve(args["organization"], "organization") if args.get("organization") else None
    if actor.role == STAFF and (organization is None or organization.code != actor.organization_code):
        raise Problem(403, "forbidden")
    own = actor.role == STAFF
    data = service.totals(today=today_tokyo(), now=figures_as_of(), organization=organization,
                          min_cell=None if organization is None or own else _min_cell())
    return _respond(data, TotalsSchema())


@blp.get("/stats/by-prefecture")
@require(NATIONAL, ADMIN)
@blp.response(200, PrefectureFiguresSchema(many=True), description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def by_prefecture():
    return _respond(service.by_prefecture(min_cell=_min_cell(), today=today_tokyo()), PrefectureFiguresSchema())


@blp.get("/stats/by-organization")
@require(NATIONAL, ADMIN)
@blp.arguments(PrefectureQuerySchema, location="query")
@blp.response(200, OrganizationFiguresSchema(many=True), description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def by_organization(args):
    return _respond(service.by_organization(min_cell=_min_cell(), prefecture=args.get("prefecture"),
                                            today=today_tokyo()), OrganizationFiguresSchema())


@blp.get("/stats/timeseries")
@require(NATIONAL, ADMIN)
@blp.arguments(IntervalQuerySchema, location="query")
@blp.response(200, PeriodSchema(many=True), description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def timeseries(args):
    return _respond(service.timeseries(interval=args["interval"], min_cell=_min_cell()), PeriodSchema())


@blp.get("/stats/flows")
@require(NATIONAL, ADMIN)
@blp.response(200, FlowSchema(many=True), description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def flows():
    return _respond(service.flows(min_cell=_min_cell(), today=today_tokyo()), FlowSchema())


@blp.get("/stats/by-tier")
@require(NATIONAL, ADMIN)
@blp.response(200, TierFiguresSchema(many=True), description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def by_tier():
    return _respond(service.by_dimension("tier", "tier", min_cell=_min_cell(), order=("basic", "premium"),
                                         today=today_tokyo()), TierFiguresSchema())


@blp.get("/stats/by-tie")
@require(NATIONAL, ADMIN)
@blp.response(200, TieFiguresSchema(many=True), description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def by_tie():
    return _respond(service.typology(min_cell=_min_cell(), today=today_tokyo())["ties"], TieFiguresSchema())


@blp.get("/stats/by-type")
@require(NATIONAL, ADMIN)
@blp.response(200, TypeFiguresSchema(many=True), description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def by_type():
    """The 関係人口 typology of 国土交通省's surveys, live: a person counts once in each type their active
    ties fall in, a registration once in each type (two ties of one type: once)."""
    return _respond(service.typology(min_cell=_min_cell(), today=today_tokyo())["types"], TypeFiguresSchema())


@blp.get("/stats/funnel")
@require(NATIONAL, ADMIN, STAFF)
@blp.arguments(FunnelQuerySchema, location="query")
@blp.response(200, FunnelRowSchema(many=True), description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def funnel(args):
    """The relationship funnel per monthly cohort of registration: of the people who registered with the 団体
    in that month (withdrawn and moved in since included), how many have since applied to one of its needs,
    completed one (or had evidence approved), become premium there, renewed, moved in — people, each once.
    Staff: their own 団体 (as it is; `organization` may be left out). National and admin: any 団体
    (suppressed as other figures about one 団体 are), or without `organization` the whole country (a person's
    cohort is their first registration anywhere)."""
    actor = current_user
    organization = organizations.resolve(args["organization"], "organization") if args.get("organization") else None
    if actor.role == STAFF:
        if organization is not None and organization.code != actor.organization_code:
            raise Problem(403, "forbidden")
        scope, own = actor.organization_code, True
    else:
        scope, own = (organization.code if organization else COUNTRY), False
    return _respond(funnel_service.funnel(scope, own=own, min_cell=_min_cell(), today=today_tokyo()),
                    FunnelRowSchema())


@blp.get("/stats/by-age-band")
@require(NATIONAL, ADMIN)
@blp.response(200, AgeBandFiguresSchema(many=True), description=CSV_NOTE)
@as_csv_too
@reads_from_replica
def by_age_band():
    return _respond(service.by_age_band(today=today_tokyo(), min_cell=_min_cell()), AgeBandFiguresSchema())
