"""The resident's own page (/my): registrations with their certificates, premium progress, profile,
consents, withdrawal and erasure."""
from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.accounts.login import sign_out_browser
from registry.accounts.schemas import ProfileUpdateSchema
from registry.announcements import service as announcements
from registry.certificates.keys import app_key
from registry.common import limits
from registry.common.auth import RESIDENT
from registry.common.time import today_tokyo
from registry.errors import Problem
from registry.evidence import files as evidence_files, service as evidence
from registry.evidence.models import KINDS as EVIDENCE_KINDS
from registry.evidence.schemas import EvidenceCreateSchema
from registry.invitations import service as invitations
from registry.needs import service as needs
from registry.notifications import service as notifications
from registry.organizations import service as organizations
from registry.pages import home_picker
from registry.pages.common import act, attempt, form_values, load_form, page_blueprint, page_require
from registry.partners import service as partners
from registry.registrations import service as registrations
from registry.workflows import accounts as workflows, erasure, resident_page

blp = page_blueprint("resident_pages", __name__)
CONSENTS = ("share_profile", "scouting", "announcements")


def _me():
    return current_user._get_current_object()


def _my_page(profile_errors=None, profile_message=None, status=200, posted=False):
    """/my; after a refused or unfinished profile form (`posted`), with what was typed in it."""
    me = _me()
    shown = resident_page.overview(me, settings=current_app.config, site_root=current_app.config["SITE_URL"],
                                   key=app_key(current_app), today=today_tokyo(),
                                   home_prefecture=home_picker.chosen_prefecture(me.home_municipality_code))
    profile_errors, profile_message = home_picker.feedback(profile_errors or {}, profile_message)
    return render_template("pages/my.html", me=me, evidence_kinds=EVIDENCE_KINDS, profile_errors=profile_errors,
                           profile_message=profile_message, profile=_profile_values(me, posted), **shown), status


def _profile_values(me, posted: bool) -> dict:
    """The profile form's values: the account's, or what was posted."""
    if posted:
        form = request.form
        return {**{k: form.get(k, "") for k in ("display_name", "home_municipality_code", "birth_year",
                                                 "availability", "skills_text", "interests_text")},
                "consents": {name: form.get(f"consent_{name}") == "on" for name in CONSENTS}}
    return {"display_name": me.display_name, "home_municipality_code": me.home_municipality_code or "",
            "birth_year": me.birth_year if me.birth_year is not None else "", "availability": me.availability or "",
            "skills_text": ", ".join(me.skills), "interests_text": ", ".join(me.interests),
            "consents": {name: me.consents[name] for name in CONSENTS}}


@blp.get("/my")
@page_require(RESIDENT)
def my():
    return _my_page()


@blp.post("/my/profile")
@page_require(RESIDENT)
def update_profile():
    schema = ProfileUpdateSchema()
    if home_picker.picking():  # the prefecture's municipalities asked for: nothing is saved
        return _my_page(posted=True)

    def change():
        posted = form_values(schema)
        values = {k: posted[k] for k in ("display_name", "home_municipality_code", "birth_year", "availability")
                  if k in posted}
        values["skills"] = _split(request.form.get("skills_text", ""))
        values["interests"] = _split(request.form.get("interests_text", ""))
        values["consents"] = {name: request.form.get(f"consent_{name}") == "on" for name in CONSENTS}
        return workflows.update_profile(_me(), home_picker.load(schema, values, required=False))

    result, feedback = attempt(change)
    if result is None:
        return _my_page(*feedback, status=422, posted=True)
    flash(_("Your profile is saved."))
    return redirect(url_for("resident_pages.my") + "#profile")


def _split(text: str) -> list[str]:
    return [part.strip()[:50] for part in text.replace("、", ",").split(",") if part.strip()][:30]


@blp.post("/my/invitations/<uuid:invitation_id>/accept")
@page_require(RESIDENT)
def accept_invitation(invitation_id):
    reg, feedback = attempt(lambda: invitations.accept(_me(), invitation_id))
    flash(feedback[1] if feedback else
          _("You are now registered with %(name)s.", name=organizations.find(reg.organization_code).name))
    return redirect(url_for("resident_pages.my"))


@blp.post("/my/registrations/<uuid:registration_id>/withdraw")
@page_require(RESIDENT)
def withdraw(registration_id):
    return act(lambda: registrations.withdraw(_me(), registration_id), _("The registration is withdrawn."), url_for("resident_pages.my"))


@blp.post("/my/registrations/<uuid:registration_id>/premium-request")
@page_require(RESIDENT)
def request_premium(registration_id):
    return act(lambda: registrations.request_premium(_me(), registration_id,
                                                                      settings=current_app.config), _("Your premium request was sent to the 団体 for review."), url_for("resident_pages.my"))


@blp.post("/my/erase")
@page_require(RESIDENT)
def erase():
    if request.form.get("confirm") != "erase":
        flash(_("Tick the box to confirm that your account and data are to be erased."))
        return redirect(url_for("resident_pages.my") + "#erase")
    erasure.erase(_me())
    sign_out_browser()
    flash(_("Your account and personal data are erased."))
    return redirect(url_for("public_pages.index"))


@blp.post("/my/applications/<uuid:application_id>/cancel")
@page_require(RESIDENT)
def cancel_application(application_id):
    return act(lambda: needs.cancel_application(_me(), application_id), _("Your application is cancelled."), url_for("resident_pages.my") + "#applications")


@blp.get("/my/applications/<uuid:application_id>/calendar.ics")
@page_require(RESIDENT)
def calendar(application_id):
    return Response(needs.calendar_for(_me(), application_id), mimetype="text/calendar",
                    headers={"Content-Disposition": 'attachment; filename="furusato-need.ics"'})


@blp.post("/my/announcements/<uuid:announcement_id>/read")
@page_require(RESIDENT)
def read_announcement(announcement_id):
    attempt(lambda: announcements.mark_read(_me(), announcement_id))
    return redirect(url_for("resident_pages.my") + "#inbox")


@blp.post("/my/notifications/<uuid:notification_id>/read")
@page_require(RESIDENT)
def read_notification(notification_id):
    attempt(lambda: notifications.mark_read(_me(), notification_id))
    return redirect(url_for("resident_pages.my") + "#notifications")


@blp.post("/my/registrations/<uuid:registration_id>/evidence")
@limits.evidence_upload
@page_require(RESIDENT)
def submit_evidence(registration_id):
    """Activity evidence for premium: what, when, with whom, and an optional PDF or photo."""
    schema = EvidenceCreateSchema()
    values = {k: v for k, v in form_values(schema).items() if k != "file"}
    upload = request.files.get("file")
    content = upload.stream.read(evidence_files.MAX_FILE_BYTES + 1) if upload and upload.filename else None

    def submit():
        if content is not None and len(content) > evidence_files.MAX_FILE_BYTES:
            raise Problem(413, "payload_too_large")
        return evidence.submit(_me(), registration_id, load_form(schema, values), content,
                               store=evidence_files.store_for(current_app.config))

    return act(submit, _("Your evidence was sent to the 団体 for review."), url_for("resident_pages.my") + "#registrations")


@blp.post("/my/partner-grants/<uuid:grant_id>/revoke")
@page_require(RESIDENT)
def revoke_partner_grant(grant_id):
    """Withdraw a partner's access: its tokens for the person stop working at once."""
    return act(lambda: partners.revoke_grant(_me(), grant_id), _("The partner service can no longer act for you."),
               url_for("resident_pages.my") + "#partners")
