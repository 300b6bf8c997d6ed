"""Pages of the hosts feature: the host console (/host) with its needs, drafts, applicants and the
check-in code full screen; the resident's check-in (/my/check-in); setting a password from a
one-time link (/set-password); staff inviting, trusting and deactivating hosts and publishing their
drafts (/staff/hosts). Every action calls the same services as the API."""
import uuid

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import func, select

from registry.common import limits
from registry.common.auth import HOST, RESIDENT, STAFF
from registry.common.pagination import paginate
from registry.common.time import today_tokyo, utcnow
from registry.errors import Problem
from registry.extensions import db
from registry.hosts import checkin, service as hosts, tokens
from registry.hosts.schemas import HostCreateSchema, SetPasswordSchema
from registry.invitations import service as invitations
from registry.invitations.models import ACCEPTED as INVITATION_ACCEPTED
from registry.needs import service as needs
from registry.needs.models import ACCEPTED, COMPLETED, DECLINED, DRAFT, KINDS, NO_SHOW, Application, Need
from registry.needs.schemas import NeedCreateSchema
from registry.notifications.verification import mail_configured
from registry.organizations import service as organizations
from registry.pages.common import (
    act, attempt, form_values, load_form, page_blueprint, page_require, problem_feedback, public_page,
)

blp = page_blueprint("host_pages", __name__)
DECISIONS = {"accept": ACCEPTED, "decline": DECLINED, "complete": COMPLETED, "no-show": NO_SHOW}
HOMES = {STAFF: "/staff", HOST: "/host", RESIDENT: "/my"}


def _me():
    return current_user._get_current_object()


def _split(text: str) -> list[str]:
    return [part.strip()[:50] for part in text.replace("、", ",").split(",") if part.strip()][:20]


# --- setting a password from a link ----------------------------------------------------------------

@blp.route("/set-password", methods=["GET", "POST"])
@limits.set_password
@public_page
def set_password():
    raw = (request.values.get("token") or "")[:200]
    pending = tokens.peek(raw) if raw else None
    errors, message, status = {}, None, 200
    if pending is None:
        message, status = _("This link is invalid or has expired. Ask for a new one."), 422
    elif request.method == "POST":
        def use():
            values = form_values(SetPasswordSchema())
            values["token"] = raw
            if request.form.get("password_again", "") != request.form.get("password", ""):
                raise Problem(422, "validation_error", errors={"password_again": [_("The passwords differ.")]})
            data = load_form(SetPasswordSchema(), values)
            return tokens.set_password(data["token"], password=data["password"], birth_year=data.get("birth_year"),
                                       guardian_consent=data["guardian_consent"])

        result, feedback = attempt(use)
        if result is not None:
            user, row = result
            session.clear()  # a new session: no fixation
            login_user(user)
            flash(_("Your password is set. Welcome!"))
            invitation = invitations.find(row.subject_id) if row.subject_id else None
            if invitation is not None and invitation.status == INVITATION_ACCEPTED:
                flash(_("You are now registered with %(name)s.",
                        name=organizations.find(invitation.organization_code).name))
            elif invitation is not None:
                flash(_("The invitation could not be accepted now: see it on your page."))
            return redirect(HOMES.get(user.role, "/dashboard"))
        errors, message = feedback
        status = 422
        pending = tokens.peek(raw)
    asks_birth_year, asks_guardian_consent = tokens.asks_for(pending[1]) if pending else (False, False)
    inviting = None
    if pending and pending[0].subject_id:
        invitation = invitations.find(pending[0].subject_id)
        inviting = organizations.find(invitation.organization_code) if invitation is not None else None
    return render_template("pages/set_password.html", token=raw if pending else "", pending=pending,
                           asks_birth_year=asks_birth_year, asks_guardian_consent=asks_guardian_consent,
                           inviting=inviting, errors=errors, message=message), status


# --- the host console ------------------------------------------------------------------------------

@blp.get("/host")
@page_require(HOST)
def console():
    me = _me()
    profile = hosts.profile_of(me)
    today = today_tokyo()
    own = list(db.session.scalars(hosts.managed_needs(me)))
    counts = dict(db.session.execute(
        select(Application.need_id, func.count()).where(Application.need_id.in_([n.id for n in own]),
                                                        Application.status.in_(("applied", "waitlisted")))
        .group_by(Application.need_id)).all()) if own else {}
    groups = {
        "today": [n for n in own if checkin.in_progress(n, today)],
        "drafts": [n for n in own if n.status == DRAFT],
        "coming": [n for n in own if n.status != DRAFT and n.status != "cancelled" and n.starts_on > today],
        "past": [n for n in own if n.status == "cancelled" or (n.status != DRAFT and n.ends_on < today)],
    }
    return render_template("pages/host.html", profile=profile, org=organizations.find(me.organization_code),
                           groups=groups, waiting=counts, today=today)


@blp.route("/host/needs/new", methods=["GET", "POST"])
@page_require(HOST)
def new_need():
    me = _me()
    profile = hosts.profile_of(me)
    values, errors, message = {"capacity": 1, "host_name": profile.host_name if profile else ""}, {}, None
    if request.method == "POST":
        schema = NeedCreateSchema()
        values = form_values(schema)
        values.update(organization_code=me.organization_code, skills=_split(request.form.get("skills_text", "")))
        values.pop("place", None)
        need, feedback = attempt(lambda: needs.create_need(me, load_form(schema, values)))
        if need is not None:
            flash(_("The need is saved as a draft: the local government's staff will publish it.")
                  if need.status == DRAFT else _("The need is published."))
            return redirect(url_for("host_pages.need", need_id=need.id))
        errors, message = feedback
        values["skills_text"] = request.form.get("skills_text", "")[:1500]
    return render_template("pages/host_need_new.html", values=values, errors=errors, message=message,
                           kinds=KINDS, profile=profile), 422 if message else 200


def _own_need(need_id) -> Need:
    need = needs.managed_need(_me(), need_id)  # 404 unseen, 403 another's
    return need


@blp.get("/host/needs/<uuid:need_id>")
@page_require(HOST)
def need(need_id):
    me = _me()
    the_need = _own_need(need_id)
    applications = needs.audit_applications(me, list(db.session.scalars(needs.applications_of_need(me, need_id))))
    today = today_tokyo()
    return render_template("pages/host_need.html", need=the_need, applications=applications, today=today,
                           in_progress=checkin.in_progress(the_need, today),
                           checked_in=sum(1 for a in applications if a.status == ACCEPTED and a.checked_in_at))


@blp.post("/host/applications/<uuid:application_id>/<any(accept, decline, complete, 'no-show'):decision>")
@page_require(HOST)
def decide_application(application_id, decision):
    application, feedback = attempt(lambda: needs.decide(_me(), application_id, DECISIONS[decision]))
    flash(feedback[1] if feedback else _("The application is updated."))
    if application is None:
        found = db.session.get(Application, application_id)
        if found is None or not needs.can_manage(_me(), found.need):
            return redirect(url_for("host_pages.console"))
        return redirect(url_for("host_pages.need", need_id=found.need_id) + "#applicants")
    return redirect(url_for("host_pages.need", need_id=application.need_id) + "#applicants")


@blp.post("/host/needs/<uuid:need_id>/complete-checked-in")
@page_require(HOST)
def complete_checked_in(need_id):
    done, feedback = attempt(lambda: checkin.complete_checked_in(_me(), need_id))
    flash(feedback[1] if feedback else _("%(n)s checked-in applications are completed.", n=done))
    return redirect(url_for("host_pages.need", need_id=need_id) + "#applicants")


@blp.get("/host/needs/<uuid:need_id>/check-in")
@page_require(HOST, STAFF)
def check_in_screen(need_id):
    """The code and its QR, full screen on the host's phone; the page renews itself every minute."""
    the_need = _own_need(need_id)
    shown, feedback = attempt(lambda: checkin.current_code(_me(), need_id, secret_key=current_app.config["SECRET_KEY"],
                                                           site_root=current_app.config["SITE_URL"]))
    refresh = None
    if shown is not None:
        refresh = 60 - int(utcnow().timestamp()) % 60 + 1
    return render_template("pages/host_checkin.html", need=the_need, shown=shown, refresh=refresh,
                           message=feedback[1] if feedback else None,
                           back=url_for("host_pages.need", need_id=need_id) if _me().role == HOST
                           else url_for("host_pages.staff_hosts")), 409 if feedback else 200


# --- the resident checks in ------------------------------------------------------------------------

@blp.route("/my/check-in", methods=["GET", "POST"])
@limits.check_in
@page_require(RESIDENT)
def my_check_in():
    me = _me()
    due = checkin.due_today(me)
    values = {"need": (request.values.get("need") or "")[:36], "code": (request.values.get("code") or "")[:32]}
    errors, message, status = {}, None, 200
    if request.method == "POST":
        try:
            done = checkin.check_in(me, _need_id(values["need"]), values["code"],
                                    secret_key=current_app.config["SECRET_KEY"])
        except Problem as problem:
            db.session.rollback()
            (errors, message), status = problem_feedback(problem), problem.status
        else:
            flash(_("You are checked in. Thank you for coming!"))
            return redirect(url_for("host_pages.my_check_in", checked=done.need_id))
    checked = None
    checked_id = _need_id_or_none(request.args.get("checked"))
    if checked_id is not None:
        checked = db.session.scalar(select(Application).where(
            Application.user_id == me.id, Application.need_id == checked_id, Application.checked_in_at.is_not(None)))
    prefilled = None
    asked = _need_id_or_none(values["need"])
    if asked is not None:
        candidate = db.session.get(Need, asked)
        prefilled = candidate if candidate is not None and needs.can_view(me, candidate) else None
    return render_template("pages/checkin.html", due=due, values=values, prefilled=prefilled, errors=errors,
                           message=message, checked=checked), status


def _need_id_or_none(raw: str | None):
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError, AttributeError):
        return None


def _need_id(raw: str):
    need_id = _need_id_or_none(raw)
    if need_id is None:
        raise Problem(422, "validation_error", errors={"need": [_("Choose the need you came for.")]})
    return need_id


# --- staff: hosts and their drafts -----------------------------------------------------------------

def _staff_page(created=None, link=None, errors=None, message=None, values=None, status=200):
    me = _me()
    org = organizations.find(me.organization_code)
    host_list, _h = paginate(hosts.hosts_of(me, org.code), 1, 200)
    drafts, _h = paginate(hosts.drafts_of(me), 1, 100)
    host_list = hosts.audit_hosts(me, host_list)  # their contact people's names and e-mails
    return render_template("pages/hosts_staff.html", org=org, hosts=host_list, drafts=drafts, created=created,
                           link=link, errors=errors or {}, message=message, values=values or {}), status


@blp.get("/staff/hosts")
@page_require(STAFF)
def staff_hosts():
    return _staff_page()


@blp.post("/staff/hosts")
@page_require(STAFF)
def staff_invite():
    me = _me()
    values = form_values(HostCreateSchema())
    result, feedback = attempt(lambda: hosts.invite(me, me.organization_code, site_url=current_app.config["SITE_URL"],
                                                   send_mail=mail_configured(current_app.config),
                                                    **load_form(HostCreateSchema(), values)))
    if result is None:
        return _staff_page(errors=feedback[0], message=feedback[1], values=values, status=422)
    host, _raw, link, _row = result
    return _staff_page(created=host, link=link)


@blp.post("/staff/hosts/<uuid:host_id>/<any(trust, untrust):change>")
@page_require(STAFF)
def staff_trust(host_id, change):
    return act(lambda: hosts.update_host(_me(), host_id, {"trusted": change == "trust"}), _("The host is updated."), url_for("host_pages.staff_hosts") + "#hosts")


@blp.post("/staff/hosts/<uuid:host_id>/deactivate")
@page_require(STAFF)
def staff_deactivate(host_id):
    return act(lambda: hosts.deactivate(_me(), host_id), _("The host is deactivated. Its needs stay with you."), url_for("host_pages.staff_hosts") + "#hosts")


@blp.post("/staff/hosts/<uuid:host_id>/invitation")
@page_require(STAFF)
def staff_reinvite(host_id):
    result, feedback = attempt(lambda: hosts.reinvite(_me(), host_id, site_url=current_app.config["SITE_URL"]))
    if result is None:
        flash(feedback[1])
        return redirect(url_for("host_pages.staff_hosts") + "#hosts")
    host, _raw, link, _row = result
    return _staff_page(created=host, link=link)


@blp.post("/staff/hosts/needs/<uuid:need_id>/publish")
@page_require(STAFF)
def staff_publish(need_id):
    return act(lambda: needs.publish_need(_me(), need_id), _("The need is published."), url_for("host_pages.staff_hosts") + "#drafts")
