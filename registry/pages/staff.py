"""The staff console (/staff): premium reviews, identity checks, needs and applicants, candidates,
registrants (consented data only), announcements and the 団体's own figures."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.announcements import service as announcements
from registry.announcements.schemas import AnnouncementCreateSchema
from registry.benefits import service as benefits
from registry.benefits.models import KINDS as BENEFIT_KINDS
from registry.benefits.schemas import BenefitCreateSchema
from registry.common.auth import HOST, STAFF
from registry.evidence import files as evidence_files, service as evidence
from registry.evidence.models import INDIVIDUAL_NUMBER_VISIBLE
from registry.evidence.schemas import EvidenceRejectSchema
from registry.common.time import today_tokyo, utcnow
from registry.needs import service as needs
from registry.needs.models import ACCEPTED, COMPLETED, DECLINED, KINDS, NO_SHOW
from registry.needs.schemas import NeedCreateSchema
from registry.organizations import acting
from registry.pages.common import act, attempt, form_values, load_form, page_blueprint, page_require
from registry.pages.resident import _split
from registry.registrations import service as registrations
from registry.registrations.schemas import IdentityRejectSchema, ReasonSchema
from registry.workflows import need_pages, staff_page

blp = page_blueprint("staff_pages", __name__)
DECISIONS = {"accept": ACCEPTED, "decline": DECLINED, "complete": COMPLETED, "no-show": NO_SHOW}


def _me():
    return current_user._get_current_object()


@blp.get("/staff")
@page_require(STAFF)
def console():
    return render_template("pages/staff.html", benefit_kinds=BENEFIT_KINDS, values={}, errors={}, message=None,
                           **staff_page.console(_me(), today=today_tokyo(), now=utcnow()))


def _reason(schema, blank: str | None) -> str | None:
    """The form's `reason` checked by the API's schema (bounds, no Individual Number); `blank` when
    left empty."""
    reason = request.form.get("reason", "").strip()
    return load_form(schema, {"reason": reason})["reason"] if reason else blank


@blp.post("/staff/premium-requests/<uuid:request_id>/<any(approve, reject):decision>")
@page_require(STAFF)
def decide_premium(request_id, decision):
    def decide():
        if decision == "approve":
            return registrations.approve_premium(_me(), request_id, settings=current_app.config)
        return registrations.reject_premium(_me(), request_id, _reason(ReasonSchema(), _("Not approved.")))

    return act(decide, _("The request is decided."), url_for("staff_pages.console") + "#premium")


@blp.post("/staff/identity-verifications/<uuid:verification_id>/<any(confirm, reject):decision>")
@page_require(STAFF)
def decide_identity(verification_id, decision):
    def decide():
        reason = _reason(IdentityRejectSchema(), None) if decision == "reject" else None
        return registrations.decide_identity_verification(_me(), verification_id, verified=decision == "confirm",
                                                          reason=reason)

    return act(decide, _("The identity check is recorded."), url_for("staff_pages.console") + "#identity")


@blp.post("/staff/announcements")
@page_require(STAFF)
def announce():
    me = _me()
    return act(lambda: announcements.post(me, me.organization_code,
                                                           **load_form(AnnouncementCreateSchema())), _("The announcement is sent."), url_for("staff_pages.console") + "#announcements")


@blp.route("/staff/needs/new", methods=["GET", "POST"])
@page_require(STAFF)
def new_need():
    me = _me()
    values, errors, message = {"capacity": 1}, {}, None
    if request.method == "POST":
        schema = NeedCreateSchema()
        values = form_values(schema)
        values.update(organization_code=me.organization_code, skills=_split(request.form.get("skills_text", "")))
        values.pop("place", None)
        need, feedback = attempt(lambda: needs.create_need(me, load_form(schema, values)))
        if need is not None:
            flash(_("The need is posted."))
            return redirect(url_for("staff_pages.need", need_id=need.id))
        errors, message = feedback
    return render_template("pages/staff_need_new.html", values=values, errors=errors, message=message,
                           kinds=KINDS, in_emergency=acting.in_emergency(me.organization_code)), 422 if message else 200


@blp.get("/staff/needs/<uuid:need_id>")
@page_require(STAFF, HOST)
def need(need_id):
    return render_template("pages/staff_need.html", **need_pages.managed(_me(), need_id, today=today_tokyo()))


@blp.post("/staff/applications/<uuid:application_id>/<any(accept, decline, complete, 'no-show'):decision>")
@page_require(STAFF, HOST)
def decide_application(application_id, decision):
    application, feedback = attempt(lambda: needs.decide(_me(), application_id, DECISIONS[decision]))
    flash(feedback[1] if feedback else _("The application is updated."))
    target = request.form.get("back") or ""
    return redirect(target if target.startswith("/staff/") or target.startswith("/host") else url_for("staff_pages.console"))


@blp.post("/staff/evidence/<uuid:evidence_id>/<any(approve, reject):decision>")
@page_require(STAFF)
def decide_evidence(evidence_id, decision):
    def decide():
        if decision == "approve":
            return evidence.approve(_me(), evidence_id)
        code = INDIVIDUAL_NUMBER_VISIBLE if request.form.get("individual_number_visible") else None
        return evidence.reject(_me(), evidence_id, _reason(EvidenceRejectSchema(), _("Not approved.")), code,
                               store=evidence_files.store_for(current_app.config))

    return act(decide, _("The evidence is decided."), url_for("staff_pages.console") + "#evidence")


@blp.post("/staff/benefits")
@page_require(STAFF)
def add_benefit():
    me = _me()
    schema = BenefitCreateSchema()
    return act(lambda: benefits.create(me, me.organization_code, load_form(schema)), _("The benefit is published."), url_for("staff_pages.console") + "#benefits")


@blp.post("/staff/benefits/<uuid:benefit_id>/delete")
@page_require(STAFF)
def delete_benefit(benefit_id):
    return act(lambda: benefits.delete(_me(), benefit_id), _("The benefit is removed."), url_for("staff_pages.console") + "#benefits")
