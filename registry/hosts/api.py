import uuid

from flask import current_app
from flask_login import current_user

from registry.accounts.schemas import AuthResultSchema
from registry.accounts.service import issue_token
from registry.common import limits
from registry.common.auth import HOST, RESIDENT, STAFF, public, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, paginate
from registry.common.schemas import PaginationSchema
from registry.hosts import checkin, service, tokens
from registry.hosts.schemas import (
    CheckInCodeSchema, CheckInSchema, CompletedCountSchema, HostCreatedSchema, HostCreateSchema, HostSchema,
    HostUpdateSchema, ManagedNeedQuerySchema, SetPasswordLinkSchema, SetPasswordSchema,
)
from registry.needs.schemas import ApplicationSchema, NeedSchema
from registry.notifications.verification import mail_configured

blp = Blueprint("hosts", __name__, description="Hosts (ヌシ), set-password links and check-in")


def _me():
    return current_user._get_current_object()


def _site_url() -> str:
    return current_app.config["SITE_URL"]


def _link_fields(raw: str, link: str, row) -> dict:
    return {"set_password_token": raw, "set_password_link": link, "set_password_expires_at": row.expires_at}


@blp.post("/organizations/<code>/hosts")
@require(STAFF)
@blp.arguments(HostCreateSchema)
@blp.response(201, HostCreatedSchema)
@blp.alt_response(409, response="CONFLICT")
def invite_host(data, code: str):
    """Staff of {code} invite a host: an account with role `host` bound to {code}, without a password
    until its one-time link (valid 7 days) is used. The link is answered here for staff to pass on."""
    host, raw, link, row = service.invite(_me(), code, site_url=_site_url(),
                                          send_mail=mail_configured(current_app.config), **data)
    fields = {name: getattr(host, name) for name in HostSchema().fields}
    return {**fields, **_link_fields(raw, link, row)}


@blp.get("/organizations/<code>/hosts")
@require(STAFF)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, HostSchema(many=True), headers=PAGINATED)
def list_hosts(args, code: str):
    """The 団体's hosts, deactivated ones included (`active: false`), oldest first."""
    items, headers = paginate(service.hosts_of(_me(), code), args["page"], args["per_page"])
    return service.audit_hosts(_me(), items), headers


@blp.get("/hosts/<uuid:host_id>")
@require(STAFF, HOST)
@blp.response(200, HostSchema)
def get_host(host_id: uuid.UUID):
    """Staff of the host's 団体, or the host itself."""
    return service.audit_hosts(_me(), [service.get_host(_me(), host_id)])[0]


@blp.patch("/hosts/<uuid:host_id>")
@require(STAFF)
@blp.arguments(HostUpdateSchema)
@blp.response(200, HostSchema)
@blp.alt_response(409, response="CONFLICT")
def update_host(changes, host_id: uuid.UUID):
    """Trust (its new needs open at once) or untrust a host; rename it."""
    return service.audit_hosts(_me(), [service.update_host(_me(), host_id, changes)])[0]


@blp.delete("/hosts/<uuid:host_id>")
@require(STAFF)
@blp.response(204)
def deactivate_host(host_id: uuid.UUID):
    """Deactivate: its tokens answer 401 at once, it cannot sign in; its needs stay with staff."""
    service.deactivate(_me(), host_id)


@blp.post("/hosts/<uuid:host_id>/invitation")
@require(STAFF)
@blp.response(201, SetPasswordLinkSchema)
@blp.alt_response(409, response="CONFLICT")
def reinvite_host(host_id: uuid.UUID):
    """A fresh set-password link for the host (the earlier unused one stops working)."""
    _host, raw, link, row = service.reinvite(_me(), host_id, site_url=_site_url())
    return _link_fields(raw, link, row)


@blp.post("/auth/set-password")
@limits.set_password
@public
@blp.arguments(SetPasswordSchema)
@blp.response(200, AuthResultSchema)
def set_password(data):
    """Use a one-time link's token: sets the password and signs in (a bearer token). A used, expired
    or unknown token is 422 `invalid_token`. A resident account without a birth year must give
    `birth_year` (and `guardian_consent` under 16, also when the birth year is known but the consent
    is not). A roster invitation's link also accepts that invitation; if a registration rule refuses
    it now, the password is still set and the invitation stays pending (`GET /me/invitations` says why)."""
    user, _row = tokens.set_password(data["token"], password=data["password"], birth_year=data.get("birth_year"),
                                     guardian_consent=data["guardian_consent"])
    return {"user": user, "token": issue_token(user, ttl_days=current_app.config["TOKEN_TTL_DAYS"])}


@blp.get("/me/needs")
@require(STAFF, HOST)
@blp.arguments(ManagedNeedQuerySchema, location="query")
@blp.response(200, NeedSchema(many=True), headers=PAGINATED)
def my_needs(args):
    """The needs I manage, drafts included: a host's own, or every need of a staff member's 団体; by
    `starts_on` then id. `status` filters the stored status."""
    return paginate(service.managed_needs(_me(), args.get("status")), args["page"], args["per_page"])


@blp.get("/needs/<uuid:need_id>/check-in-code")
@require(STAFF, HOST)
@blp.response(200, CheckInCodeSchema)
@blp.alt_response(409, response="CONFLICT")
def check_in_code(need_id: uuid.UUID):
    """The need's current check-in code and its QR, while the need is in progress (else 409
    `not_in_progress`); good for this minute and the next."""
    return checkin.current_code(_me(), need_id, secret_key=current_app.config["SECRET_KEY"],
                                site_root=_site_url())


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
