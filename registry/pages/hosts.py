"""Pages of the hosts feature: the host console (/host) with its needs, drafts, applicants and the
check-in code full screen; the resident's check-in (/my/check-in); setting a password from a
one-time link (/set-password); staff inviting, trusting and deactivating hosts and publishing their
drafts (/staff/hosts). Every action calls the same services as the API."""
import uuid

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.accounts.login import sign_in_browser
from registry.accounts.schemas import SetPasswordSchema
from registry.common import database, limits
from registry.common.auth import HOST, RESIDENT, STAFF
from registry.common.time import today_tokyo, utcnow
from registry.errors import Problem
from registry.hosts import service as hosts
from registry.hosts.schemas import HostCreateSchema
from registry.invitations.models import ACCEPTED as INVITATION_ACCEPTED
from registry.needs import checkin, service as needs
from registry.needs.models import ACCEPTED, COMPLETED, DECLINED, DRAFT, KINDS, NO_SHOW
from registry.needs.schemas import NeedCreateSchema
from registry.organizations import service as organizations
from registry.pages.common import (
    act, attempt, form_values, load_form, page_blueprint, page_require, problem_feedback, public_page,
)
from registry.workflows import accounts as workflows, host_pages, need_pages

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
    errors, message, status = {}, None, 200
    if request.method == "POST":
        def use():
            values = form_values(SetPasswordSchema())
            values["token"] = raw
            if request.form.get("password_again", "") != request.form.get("password", ""):
                raise Problem(422, "validation_error", errors={"password_again": [_("The passwords differ.")]})
            data = load_form(SetPasswordSchema(), values)
            return workflows.set_password(data["token"], password=data["password"], birth_year=data.get("birth_year"),
                                          guardian_consent=data["guardian_consent"])

        result, feedback = attempt(use)  # a link that does not work is refused too (422 invalid_token)
        if result is not None:
            user, invitation = result
            sign_in_browser(user)  # a new session (no fixation), open on the server
            flash(_("Your password is set. Welcome!"))
            if invitation is not None and invitation.status == INVITATION_ACCEPTED:
                flash(_("You are now registered with %(name)s.",
                        name=organizations.find(invitation.organization_code).name))
            elif invitation is not None:
                flash(_("The invitation could not be accepted now: see it on your page."))
            return redirect(HOMES.get(user.role, "/dashboard"))
        (errors, message), status = feedback, 422
    shown = workflows.set_password_page(raw)
    if shown["pending"] is None:
        errors, message, status = {}, _("This link is invalid or has expired. Ask for a new one."), 422
    return render_template("pages/set_password.html", token=raw if shown["pending"] else "", errors=errors,
                           message=message, **shown), status


# --- the host console ------------------------------------------------------------------------------

@blp.get("/host")
@page_require(HOST)
def console():
    return render_template("pages/host.html", **host_pages.console(_me(), today=today_tokyo()))


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


@blp.get("/host/needs/<uuid:need_id>")
@page_require(HOST)
def need(need_id):
    return render_template("pages/host_need.html", **need_pages.hosted(_me(), need_id, today=today_tokyo()))


@blp.post("/host/applications/<uuid:application_id>/<any(accept, decline, complete, 'no-show'):decision>")
@page_require(HOST)
def decide_application(application_id, decision):
    application, feedback = attempt(lambda: needs.decide(_me(), application_id, DECISIONS[decision]))
    flash(feedback[1] if feedback else _("The application is updated."))
    if application is None:
        need_id = needs.managed_need_of(_me(), application_id)
        if need_id is None:
            return redirect(url_for("host_pages.console"))
        return redirect(url_for("host_pages.need", need_id=need_id) + "#applicants")
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
    the_need, shown = checkin.screen(_me(), need_id, secret_key=current_app.config["SECRET_KEY"],
                                     site_root=current_app.config["SITE_URL"])  # 404 unseen, 403 another's
    refresh = message = None
    if shown is not None:
        refresh = 60 - int(utcnow().timestamp()) % 60 + 1
    else:  # what GET /needs/{id}/check-in-code answers then (409 not_in_progress)
        message = problem_feedback(Problem(409, "not_in_progress"))[1]
    return render_template("pages/host_checkin.html", need=the_need, shown=shown, refresh=refresh, message=message,
                           back=url_for("host_pages.need", need_id=need_id) if _me().role == HOST
                           else url_for("host_pages.staff_hosts")), 200 if shown is not None else 409


# --- the resident checks in ------------------------------------------------------------------------

@blp.route("/my/check-in", methods=["GET", "POST"])
@limits.check_in
@page_require(RESIDENT)
def my_check_in():
    me = _me()
    values = {"need": (request.values.get("need") or "")[:36], "code": (request.values.get("code") or "")[:32]}
    errors, message, status = {}, None, 200
    if request.method == "POST":
        try:
            done = database.attempt(lambda: checkin.check_in(me, _need_id(values["need"]), values["code"],
                                                             secret_key=current_app.config["SECRET_KEY"]))
        except Problem as problem:  # nothing of the refused check-in stays
            (errors, message), status = problem_feedback(problem), problem.status
        else:
            flash(_("You are checked in. Thank you for coming!"))
            return redirect(url_for("host_pages.my_check_in", checked=done.need_id))
    shown = checkin.resident_page(me, need_id=_need_id_or_none(values["need"]),
                                  checked_id=_need_id_or_none(request.args.get("checked")))
    return render_template("pages/checkin.html", values=values, errors=errors, message=message, **shown), status


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
    return render_template("pages/hosts_staff.html", created=created, link=link, errors=errors or {}, message=message,
                           values=values or {}, **host_pages.staff_hosts(_me())), status


@blp.get("/staff/hosts")
@page_require(STAFF)
def staff_hosts():
    return _staff_page()


@blp.post("/staff/hosts")
@page_require(STAFF)
def staff_invite():
    me = _me()
    values = form_values(HostCreateSchema())
    result, feedback = attempt(lambda: hosts.invite(me, me.organization_code, settings=current_app.config,
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
