"""The resident's own page (/my): registrations with their certificates, premium progress, profile,
consents, withdrawal and erasure."""
from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from registry.accounts import service as accounts
from registry.accounts.schemas import ProfileUpdateSchema
from registry.certificates import service as certificates
from registry.certificates.keys import app_key
from registry.common.auth import RESIDENT
from registry.announcements import service as announcements
from registry.evidence import files as evidence_files, service as evidence
from registry.evidence.models import KINDS as EVIDENCE_KINDS
from registry.evidence.schemas import EvidenceCreateSchema
from registry.hosts import checkin
from registry.invitations import service as invitations
from registry.invitations.models import PENDING
from registry.notifications import service as notifications
from registry.common.time import today_tokyo
from registry.extensions import db
from registry.needs import recommendations, service as needs
from registry.organizations import service as organizations
from registry.errors import Problem
from registry.pages.common import act, attempt, form_values, load_form, page_blueprint, page_require
from registry.registrations import service as registrations

blp = page_blueprint("resident_pages", __name__)


def _me():
    return current_user._get_current_object()


def _my_page(profile_errors=None, profile_message=None, status=200):
    me = _me()
    cards = []
    for reg in registrations.active_registrations(me):
        certificate = certificates.issue(me, reg.id, key=app_key(current_app),
                                         ttl_hours=current_app.config["CERTIFICATE_TTL_HOURS"],
                                         site_root=current_app.config["SITE_URL"])
        cards.append({"registration": reg, "organization": organizations.find(reg.organization_code),
                      "certificate": certificate,
                      "progress": registrations.premium_progress(me, reg, settings=current_app.config)})
    home = organizations.find(me.home_municipality_code) if me.home_municipality_code else None
    today = today_tokyo()
    applications = list(db.session.scalars(needs.applications_of(me)))[::-1][:20]
    activities = list(db.session.scalars(needs.activities_of(me).limit(20)))
    inbox = list(db.session.execute(announcements.inbox(me).limit(10)))
    names = {o: organizations.find(o).name for o in {a.organization_code for a in activities}
             | {row[0].organization_code for row in inbox}}
    notices = [(n, *notifications.render(n)) for n in db.session.scalars(notifications.inbox(me).limit(10))]
    invited = invitations.describe(me, list(db.session.scalars(invitations.invitations_of(me, PENDING).limit(20))))
    return render_template("pages/my.html", me=me, cards=cards, home=home, today=today, notices=notices,
                           invitations=invited,
                           check_in_due=checkin.due_today(me),
                           evidence_kinds=EVIDENCE_KINDS,
                           recommendations=recommendations.recommend_needs(me, 5, today=today),
                           applications=applications, activities=activities, inbox=inbox, names=names,
                           profile_errors=profile_errors or {}, profile_message=profile_message), status


@blp.get("/my")
@page_require(RESIDENT)
def my():
    return _my_page()


@blp.post("/my/profile")
@page_require(RESIDENT)
def update_profile():
    schema = ProfileUpdateSchema()

    def change():
        posted = form_values(schema)
        values = {k: posted[k] for k in ("display_name", "home_municipality_code", "birth_year", "availability")
                  if k in posted}
        values["skills"] = _split(request.form.get("skills_text", ""))
        values["interests"] = _split(request.form.get("interests_text", ""))
        values["consents"] = {name: request.form.get(f"consent_{name}") == "on"
                              for name in ("share_profile", "scouting", "announcements")}
        return accounts.update_profile(_me(), load_form(schema, values))

    result, feedback = attempt(change)
    if result is None:
        return _my_page(*feedback, status=422)
    flash(_("Your profile is saved."))
    return redirect(url_for("resident_pages.my") + "#profile")


def _split(text: str) -> list[str]:
    return [part.strip()[:50] for part in text.replace("、", ",").split(",") if part.strip()][:30]


@blp.post("/my/invitations/<uuid:invitation_id>/accept")
@page_require(RESIDENT)
def accept_invitation(invitation_id):
    def accept():
        reg = invitations.accept(_me(), invitation_id)
        flash(_("You are now registered with %(name)s.", name=organizations.find(reg.organization_code).name))
    _result, feedback = attempt(accept)
    if feedback:
        flash(feedback[1])
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
    accounts.erase(_me())
    logout_user()
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
