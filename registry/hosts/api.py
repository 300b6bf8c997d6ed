import uuid

from flask import current_app
from flask_login import current_user

from registry.common.auth import HOST, STAFF, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, headers
from registry.common.schemas import PaginationSchema
from registry.hosts import service
from registry.hosts.schemas import HostCreatedSchema, HostCreateSchema, HostSchema, HostUpdateSchema, SetPasswordLinkSchema

blp = Blueprint("hosts", __name__, description="Hosts (ヌシ) and their set-password links")


def _me():
    return current_user._get_current_object()


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
    host, raw, link, row = service.invite(_me(), code, settings=current_app.config, **data)
    fields = {name: getattr(host, name) for name in HostSchema().fields}
    return {**fields, **_link_fields(raw, link, row)}


@blp.get("/organizations/<code>/hosts")
@require(STAFF)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, HostSchema(many=True), headers=PAGINATED)
def list_hosts(args, code: str):
    """The 団体's hosts, deactivated ones included (`active: false`), oldest first."""
    found = service.hosts_of(_me(), code, page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.get("/hosts/<uuid:host_id>")
@require(STAFF, HOST)
@blp.response(200, HostSchema)
def get_host(host_id: uuid.UUID):
    """Staff of the host's 団体, or the host itself."""
    return service.get_host(_me(), host_id)


@blp.patch("/hosts/<uuid:host_id>")
@require(STAFF)
@blp.arguments(HostUpdateSchema)
@blp.response(200, HostSchema)
@blp.alt_response(409, response="CONFLICT")
def update_host(changes, host_id: uuid.UUID):
    """Trust (its new needs open at once) or untrust a host; rename it."""
    return service.update_host(_me(), host_id, changes, shown=True)


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
    _host, raw, link, row = service.reinvite(_me(), host_id, site_url=current_app.config["SITE_URL"])
    return _link_fields(raw, link, row)
