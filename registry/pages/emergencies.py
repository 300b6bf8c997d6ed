"""Emergencies (災害時モード) on the pages: the notice with the offer form (/emergencies/<id>), and the staff
console (/staff/emergencies) to declare, follow delivery, read offers, name a proxy 団体 and close; a
proxy's staff also post announcements there for the 団体 they act for."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.announcements import service as announcements
from registry.announcements.schemas import AnnouncementCreateSchema
from registry.common.auth import NATIONAL, RESIDENT, STAFF, current_actor
from registry.emergencies import consoles, service as emergencies
from registry.emergencies.models import OFFER_KINDS
from registry.emergencies.schemas import EmergencyCreateSchema, OfferCreateSchema, ProxyCreateSchema
from registry.pages.common import act, attempt, form_values, load_form, page_blueprint, page_require, public_page
from registry.pages.resident import _split

blp = page_blueprint("emergency_pages", __name__)
PER_PAGE = 50


def _me():
    return current_user._get_current_object()


def _notice(emergency_id, *, values=None, errors=None, message=None, status=200):
    shown = consoles.notice(current_actor(), emergency_id)
    offer = shown["emergency"].get("my_offer")
    if values is None and offer is not None:
        values = {"kinds": offer.kinds, "skills": ", ".join(offer.skills), "available_from": offer.available_from,
                  "available_until": offer.available_until, "message": offer.message or ""}
    return render_template("pages/emergency.html", offer_kinds=OFFER_KINDS, values=values or {"kinds": []},
                           errors=errors or {}, message=message, **shown), status


@blp.get("/emergencies/<uuid:emergency_id>")
@public_page
def notice(emergency_id):
    return _notice(emergency_id)


@blp.post("/emergencies/<uuid:emergency_id>/offer")
@page_require(RESIDENT)
def offer(emergency_id):
    schema = OfferCreateSchema()
    values = form_values(schema)
    values["skills"] = _split(request.form.get("skills", ""))
    result, feedback = attempt(lambda: emergencies.make_offer(_me(), emergency_id, load_form(schema, values)))
    if result is not None:
        flash(_("Thank you: your offer is sent.") if result[1] else _("Your offer is updated."))
        return redirect(url_for("emergency_pages.notice", emergency_id=emergency_id) + "#offer")
    errors, message = feedback
    shown = {**values, "skills": request.form.get("skills", "")}
    return _notice(emergency_id, values=shown, errors=errors, message=message, status=422)


@blp.get("/staff/emergencies")
@page_require(STAFF, NATIONAL)
def console():
    return render_template("pages/staff_emergencies.html", values={}, errors={}, message=None,
                           **consoles.console(_me()))


@blp.post("/staff/emergencies")
@page_require(STAFF, NATIONAL)
def declare():
    schema = EmergencyCreateSchema()
    values = form_values(schema)
    emergency, feedback = attempt(lambda: emergencies.declare(_me(), **load_form(schema, values)))
    if emergency is not None:
        flash(_("The emergency is declared. Everyone tied to it is being notified."))
        return redirect(url_for("emergency_pages.staff_emergency", emergency_id=emergency.id))
    errors, message = feedback
    return render_template("pages/staff_emergencies.html", values=values, errors=errors, message=message,
                           **consoles.console(_me())), 422


@blp.get("/staff/emergencies/<uuid:emergency_id>")
@page_require(STAFF, NATIONAL)
def staff_emergency(emergency_id):
    page = request.args.get("page", "1")
    page = max(1, min(int(page), 100_000)) if page.isdigit() else 1
    return render_template("pages/staff_emergency.html",
                           **consoles.one(_me(), emergency_id, page=page, per_page=PER_PAGE))


@blp.post("/staff/emergencies/<uuid:emergency_id>/close")
@page_require(STAFF, NATIONAL)
def close(emergency_id):
    return act(lambda: emergencies.close(_me(), emergency_id), _("The emergency is closed."),
               url_for("emergency_pages.staff_emergency", emergency_id=emergency_id))


@blp.post("/staff/emergencies/<uuid:emergency_id>/proxies")
@page_require(STAFF, NATIONAL)
def name_proxy(emergency_id):
    return act(lambda: emergencies.name_proxy(_me(), emergency_id, load_form(ProxyCreateSchema())["organization_code"]),
               _("The proxy 団体 is named: its staff now act for the affected ones."),
               url_for("emergency_pages.staff_emergency", emergency_id=emergency_id) + "#proxies")


@blp.post("/staff/emergencies/<uuid:emergency_id>/announcements")
@page_require(STAFF)
def announce(emergency_id):
    """An announcement to an affected 団体's registrants: its own staff, or a proxy's acting for it."""
    def post():
        data = load_form(AnnouncementCreateSchema(), {"title": request.form.get("title", ""),
                                                      "body": request.form.get("body", "")})
        return announcements.post(_me(), request.form.get("organization_code", ""), data["title"], data["body"])

    return act(post, _("The announcement is sent."),
               url_for("emergency_pages.staff_emergency", emergency_id=emergency_id) + "#announce")
