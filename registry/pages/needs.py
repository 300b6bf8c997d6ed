"""Needs (募集) for everyone: browse with filters, read one, apply."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from registry.common.auth import RESIDENT, current_actor
from registry.common.pagination import paginate
from registry.common.time import today_tokyo
from registry.extensions import db
from registry.needs import service as needs
from registry.needs.models import KINDS, Application
from registry.needs.schemas import ApplySchema, NeedQuerySchema
from registry.organizations import service as organizations
from registry.pages.common import attempt, load_form, page_blueprint, page_require, public_page

blp = page_blueprint("needs_pages", __name__)
PER_PAGE = 20


@blp.get("/needs")
@public_page
def browse():
    raw = {k: v for k, v in request.args.items() if v.strip() and k in NeedQuerySchema().fields}
    if "remote" in raw:
        raw["remote"] = raw["remote"] == "true"
    raw["per_page"] = PER_PAGE
    try:
        args = NeedQuerySchema().load(raw)
        errors = {}
    except ValidationError as error:
        args, errors = NeedQuerySchema().load({"per_page": PER_PAGE}), error.messages
    page = args.pop("page")
    args.pop("per_page")
    items, headers = paginate(needs.list_statement(today=today_tokyo(), **args), page, PER_PAGE)
    total = int(headers["X-Total-Count"])
    return render_template("pages/needs.html", items=items, total=total, page=page, kinds=KINDS,
                           args=request.args, errors=errors, names=_names(items),
                           more=page * PER_PAGE < total)


def _names(items) -> dict:
    return {code: organizations.find(code).name for code in {n.organization_code for n in items}}


@blp.get("/needs/<uuid:need_id>")
@public_page
def show(need_id):
    need = needs.get_need(current_actor(), need_id)
    mine = None
    if current_user.is_authenticated and current_user.role == RESIDENT:
        mine = db.session.scalars(needs.applications_of(current_user).where(Application.need_id == need.id)).all()
        mine = mine[-1] if mine else None  # the latest
    return render_template("pages/need.html", need=need, org=organizations.find(need.organization_code),
                           mine=mine, errors={}, message=None)


@blp.post("/needs/<uuid:need_id>/apply")
@page_require(RESIDENT)
def apply(need_id):
    application, feedback = attempt(lambda: needs.apply(current_user, need_id, load_form(ApplySchema()).get("message")))
    if application is not None:
        flash(_("Your application is sent.") if application.status == "applied"
              else _("The need is full: you are on the waiting list."))
        return redirect(url_for("resident_pages.my") + "#applications")
    need = needs.get_need(current_actor(), need_id)
    errors, message = feedback
    return render_template("pages/need.html", need=need, org=organizations.find(need.organization_code),
                           mine=None, errors=errors, message=message), 409
