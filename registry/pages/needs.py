"""Needs (募集) for everyone: browse with filters, read one, apply."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from registry.common.auth import RESIDENT, current_actor
from registry.common.time import today_tokyo
from registry.needs import service as needs
from registry.needs.models import KINDS
from registry.needs.schemas import ApplySchema, NeedQuerySchema
from registry.pages.common import attempt, load_form, page_blueprint, page_require, public_page
from registry.workflows import need_pages

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
    shown = need_pages.browse(today=today_tokyo(), page=page, per_page=PER_PAGE, **args)
    return render_template("pages/needs.html", page=page, kinds=KINDS, args=request.args, errors=errors,
                           more=page * PER_PAGE < shown["total"], **shown)


@blp.get("/needs/<uuid:need_id>")
@public_page
def show(need_id):
    return render_template("pages/need.html", errors={}, message=None, **need_pages.need(current_actor(), need_id))


@blp.post("/needs/<uuid:need_id>/apply")
@page_require(RESIDENT)
def apply(need_id):
    application, feedback = attempt(lambda: needs.apply(current_user, need_id, load_form(ApplySchema()).get("message")))
    if application is not None:
        flash(_("Your application is sent.") if application.status == "applied"
              else _("The need is full: you are on the waiting list."))
        return redirect(url_for("resident_pages.my") + "#applications")
    errors, message = feedback
    shown = need_pages.need(current_actor(), need_id, own_application=False)
    return render_template("pages/need.html", errors=errors, message=message, **shown), 409
