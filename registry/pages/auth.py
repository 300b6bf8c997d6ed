"""Sign-up, sign-in and sign-out for pages (session cookie)."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.accounts import service as accounts
from registry.accounts.login import sign_in_browser, sign_out_browser
from registry.accounts.schemas import LoginSchema, SignupSchema
from registry.common import limits
from registry.common.auth import ADMIN, HOST, NATIONAL, STAFF
from registry.notifications import verification
from registry.organizations.service import home_choices
from registry.pages import home_picker
from registry.pages.common import attempt, form_values, load_form, page_blueprint, public_page, safe_next
from registry.workflows import accounts as workflows

blp = page_blueprint("auth_pages", __name__)


def home_of(user) -> str:
    return {STAFF: "/staff", HOST: "/host", NATIONAL: "/dashboard", ADMIN: "/dashboard"}.get(user.role, "/my")


def _sign_in(user) -> None:
    sign_in_browser(user)  # a new session (no fixation), open on the server until signing out


@blp.route("/signup", methods=["GET", "POST"])
@limits.signup
@public_page
def signup():
    if current_user.is_authenticated:
        return redirect(home_of(current_user))
    values, feedback = {}, None
    if request.method == "POST":
        values = form_values(SignupSchema())
        if not home_picker.picking():
            user, feedback = attempt(lambda: _sign_up(values))
            if user is not None:
                _sign_in(user)
                flash(_("Welcome! Your account is ready."))
                return redirect(safe_next("/my"))
        values.pop("password", None)
    errors, message = home_picker.feedback(*(feedback or ({}, None)))
    return render_template("pages/signup.html", values=values, errors=errors, message=message,
                           home=home_choices(home_picker.chosen_prefecture())), 422 if feedback else 200


def _sign_up(values: dict):
    return workflows.sign_up(home_picker.load(SignupSchema(), values, required=True), settings=current_app.config)


@blp.route("/login", methods=["GET", "POST"])
@limits.sign_in
@public_page
def login():
    values, feedback = {}, None
    if request.method == "POST":
        values = form_values(LoginSchema())
        values.pop("password", None)
        form = LoginSchema()
        user, feedback = attempt(lambda: accounts.authenticate(**load_form(form)))
        if user is not None:
            _sign_in(user)
            return redirect(safe_next(home_of(user)))
    errors, message = feedback or ({}, None)
    return render_template("pages/login.html", values=values, errors=errors, message=message), \
        401 if feedback else 200


@blp.route("/logout", methods=["GET", "POST"])
@public_page
def logout():
    if request.method == "POST":
        sign_out_browser()
        flash(_("You are signed out."))
        return redirect(url_for("public_pages.index"))
    return render_template("pages/logout.html")


@blp.route("/verify-email", methods=["GET", "POST"])
@public_page
def verify_email():
    """The link e-mailed at signup. Opening it shows a button: mail scanners that follow links
    must not verify an address by themselves."""
    token = request.values.get("token", "")[:500]
    verified, feedback = None, None
    if request.method == "POST":
        verified, feedback = attempt(lambda: verification.verify(token, current_app.config["SECRET_KEY"]))
    return render_template("pages/verify_email.html", token=token, verified=verified,
                           message=feedback[1] if feedback else None), 422 if feedback else 200
