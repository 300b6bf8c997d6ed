import uuid

from flask import Response, current_app
from flask_login import current_user

from registry.common import limits
from registry.common.auth import HOST, RESIDENT, STAFF, current_actor, public, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, headers, paginate
from registry.common.schemas import PaginationSchema
from registry.common.time import today_tokyo
from registry.needs import checkin, recommendations, service
from registry.needs.models import ACCEPTED, COMPLETED, DECLINED, NO_SHOW
from registry.needs.schemas import (
    ActivitySchema, ApplicationQuerySchema, ApplicationSchema, ApplySchema, CandidateSchema, CheckInCodeSchema,
    CheckInSchema, CompletedCountSchema, LimitSchema, ManagedNeedQuerySchema, NeedCreateSchema, NeedQuerySchema,
    NeedSchema, NeedUpdateSchema, RecommendationSchema,
)

blp = Blueprint("needs", __name__, description="Needs (募集), applications, recommendations and check-in")


def _me():
    return current_user._get_current_object()


@blp.post("/needs")
@require(STAFF, HOST)
@blp.arguments(NeedCreateSchema)
@blp.response(201, NeedSchema)
def create_need(data):
    """Post a need for the caller's own 団体; `place` defaults to the 団体's office when on site. A host's
    need is a `draft` for staff to publish, unless the host is trusted."""
    return service.create_need(_me(), data)


@blp.get("/needs")
@public
@blp.arguments(NeedQuerySchema, location="query")
@blp.response(200, NeedSchema(many=True), headers=PAGINATED)
def list_needs(args):
    """Needs by `starts_on` then id; `status` is `open` unless asked (`closed` includes needs past
    `apply_by`); `q` matches every word in the title or description."""
    page, per_page = args.pop("page"), args.pop("per_page")
    found = service.search(today=today_tokyo(), page=page, per_page=per_page, **args)
    return found.items, headers(found, page, per_page)


@blp.get("/needs/<uuid:need_id>")
@public
@blp.response(200, NeedSchema)
@blp.alt_response(401, response="UNAUTHORIZED")  # a bad bearer token (drafts are shown to their staff)
def get_need(need_id: uuid.UUID):
    return service.get_need(current_actor(), need_id)


@blp.patch("/needs/<uuid:need_id>")
@require(STAFF, HOST)
@blp.arguments(NeedUpdateSchema)
@blp.response(200, NeedSchema)
@blp.alt_response(409, response="CONFLICT")
def update_need(changes, need_id: uuid.UUID):
    """Edit a need; raising `capacity` moves as many waitlisted applicants to `applied`."""
    return service.update_need(_me(), need_id, changes)


@blp.post("/needs/<uuid:need_id>/publish")
@require(STAFF)
@blp.response(200, NeedSchema)
@blp.alt_response(409, response="CONFLICT")
def publish_need(need_id: uuid.UUID):
    """Staff of the 団体 open a host's draft (its `counts_as_activity` then stands)."""
    return service.publish_need(_me(), need_id)


@blp.post("/needs/<uuid:need_id>/close")
@require(STAFF, HOST)
@blp.response(200, NeedSchema)
@blp.alt_response(409, response="CONFLICT")
def close_need(need_id: uuid.UUID):
    """Stop taking applications."""
    return service.close_need(_me(), need_id)


@blp.post("/needs/<uuid:need_id>/cancel")
@require(STAFF, HOST)
@blp.response(200, NeedSchema)
@blp.alt_response(409, response="CONFLICT")
def cancel_need(need_id: uuid.UUID):
    return service.cancel_need(_me(), need_id)


@blp.post("/needs/<uuid:need_id>/applications")
@require(RESIDENT)
@blp.arguments(ApplySchema)
@blp.response(201, ApplicationSchema)
@blp.alt_response(409, response="CONFLICT")
def apply(data, need_id: uuid.UUID):
    """Apply; `waitlisted` when the need is full. After cancelling one may apply again."""
    return service.apply(_me(), need_id, data.get("message"))


@blp.get("/needs/<uuid:need_id>/applications")
@require(STAFF, HOST)
@blp.arguments(ApplicationQuerySchema, location="query")
@blp.response(200, ApplicationSchema(many=True), headers=PAGINATED)
def list_need_applications(args, need_id: uuid.UUID):
    """Applications by `created_at` then id, each with the applicant's display name and message."""
    found = service.applications_of_need(_me(), need_id, args.get("status"), page=args["page"],
                                         per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.post("/applications/<uuid:application_id>/accept")
@require(STAFF, HOST)
@blp.response(200, ApplicationSchema)
@blp.alt_response(409, response="CONFLICT")
def accept_application(application_id: uuid.UUID):
    """From `applied` or `waitlisted`; 409 `need_full` when every place is taken."""
    return service.decide(_me(), application_id, ACCEPTED, shown=True)


@blp.post("/applications/<uuid:application_id>/decline")
@require(STAFF, HOST)
@blp.response(200, ApplicationSchema)
@blp.alt_response(409, response="CONFLICT")
def decline_application(application_id: uuid.UUID):
    """From `applied`, `waitlisted` or `accepted` (the freed place goes to the waitlist)."""
    return service.decide(_me(), application_id, DECLINED, shown=True)


@blp.post("/applications/<uuid:application_id>/complete")
@require(STAFF, HOST)
@blp.response(200, ApplicationSchema)
@blp.alt_response(409, response="CONFLICT")
def complete_application(application_id: uuid.UUID):
    """From `accepted` once the need has started; records the designated activity if it counts."""
    return service.decide(_me(), application_id, COMPLETED, shown=True)


@blp.post("/applications/<uuid:application_id>/no-show")
@require(STAFF, HOST)
@blp.response(200, ApplicationSchema)
@blp.alt_response(409, response="CONFLICT")
def no_show_application(application_id: uuid.UUID):
    """From `accepted` once the need has started."""
    return service.decide(_me(), application_id, NO_SHOW, shown=True)


@blp.delete("/applications/<uuid:application_id>")
@require(RESIDENT)
@blp.response(204)
@blp.alt_response(409, response="CONFLICT")
def cancel_application(application_id: uuid.UUID):
    """The applicant cancels; an accepted place passes to the earliest waitlisted applicant."""
    service.cancel_application(_me(), application_id)


@blp.get("/applications/<uuid:application_id>/calendar.ics")
@require(RESIDENT)
@blp.response(200, {"type": "string"}, content_type="text/calendar")
@blp.alt_response(409, response="CONFLICT")
def application_calendar(application_id: uuid.UUID):
    """An accepted application's calendar entry (RFC 5545)."""
    body = service.calendar_for(_me(), application_id)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'attachment; filename="application-{application_id}.ics"'})


@blp.get("/me/applications")
@require(RESIDENT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, ApplicationSchema(many=True), headers=PAGINATED)
def my_applications(args):
    return paginate(service.applications_of(_me()), args["page"], args["per_page"])


@blp.get("/me/activities")
@require(RESIDENT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, ActivitySchema(many=True), headers=PAGINATED)
def my_activities(args):
    """Designated activities (completed needs, approved evidence), newest first."""
    return paginate(service.activities_of(_me()), args["page"], args["per_page"])


@blp.get("/me/recommendations")
@require(RESIDENT)
@blp.arguments(LimitSchema, location="query")
@blp.response(200, RecommendationSchema(many=True))
def my_recommendations(args):
    """Open needs for me, best first, each with a score and reasons."""
    return recommendations.recommend_needs(_me(), args["limit"], today=today_tokyo())


@blp.get("/needs/<uuid:need_id>/candidates")
@require(STAFF, HOST)
@blp.arguments(LimitSchema, location="query")
@blp.response(200, CandidateSchema(many=True))
def need_candidates(args, need_id: uuid.UUID):
    """Adult residents who consented to scouting and have not applied, best first."""
    return recommendations.candidates(_me(), need_id, args["limit"], today=today_tokyo())


@blp.get("/me/needs")
@require(STAFF, HOST)
@blp.arguments(ManagedNeedQuerySchema, location="query")
@blp.response(200, NeedSchema(many=True), headers=PAGINATED)
def my_needs(args):
    """The needs I manage, drafts included: a host's own, or every need of a staff member's 団体; by
    `starts_on` then id. `status` filters the stored status."""
    found = service.managed_needs(_me(), args.get("status"), page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.get("/needs/<uuid:need_id>/check-in-code")
@require(STAFF, HOST)
@blp.response(200, CheckInCodeSchema)
@blp.alt_response(409, response="CONFLICT")
def check_in_code(need_id: uuid.UUID):
    """The need's current check-in code and its QR, while the need is in progress (else 409
    `not_in_progress`); good for this minute and the next."""
    return checkin.current_code(_me(), need_id, secret_key=current_app.config["SECRET_KEY"],
                                site_root=current_app.config["SITE_URL"])


@blp.post("/needs/<uuid:need_id>/check-in")
@limits.check_in
@require(RESIDENT)
@blp.arguments(CheckInSchema)
@blp.response(200, ApplicationSchema)
@blp.alt_response(409, response="CONFLICT")
def check_in(data, need_id: uuid.UUID):
    """An accepted applicant checks in with the code the host shows."""
    return checkin.check_in(_me(), need_id, data["code"], secret_key=current_app.config["SECRET_KEY"])


@blp.post("/needs/<uuid:need_id>/complete-checked-in")
@require(STAFF, HOST)
@blp.response(200, CompletedCountSchema)
def complete_checked_in(need_id: uuid.UUID):
    """Every checked-in accepted application becomes `completed` (recording designated activities)."""
    return {"completed": checkin.complete_checked_in(_me(), need_id)}
