"""Pages anyone may open: the landing page with the 団体 search, a 団体's page, the certificate check."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.certificates import service as certificates
from registry.certificates.keys import app_key
from registry.common import limits
from registry.common.auth import RESIDENT, current_actor
from registry.common.time import today_tokyo
from registry.organizations import service as organizations
from registry.pages.common import attempt, page_blueprint, page_require, public_page
from registry.registrations import service as registrations
from registry.registrations.models import TIES
from registry.workflows import organizations as organization_pages

blp = page_blueprint("public_pages", __name__)


@blp.get("/")
@public_page
def index():
    q = request.args.get("q", "").strip()[:100]
    results = organizations.search(q=q, page=1, per_page=30).items if q else []
    return render_template("pages/index.html", q=q, results=results)


@blp.get("/organizations/<code>")
@public_page
def organization(code):
    return _organization_page(code, viewer=current_actor())


def _organization_page(code, *, viewer=None, errors=None, message=None, chosen=(), status=200):
    shown = organization_pages.page(code, viewer=viewer, today=today_tokyo())
    return render_template("pages/organization.html", ties=TIES, errors=errors or {}, message=message,
                           chosen=list(chosen), **shown), status


@blp.post("/organizations/<code>/register")
@page_require(RESIDENT)
def register(code):
    chosen = [t for t in request.form.getlist("ties") if t in TIES]
    if not chosen:
        reg, feedback = None, ({"ties": [_("Choose at least one tie.")]}, _("Choose at least one tie."))
    else:
        reg, feedback = attempt(lambda: registrations.register(current_user, code, chosen))
    if reg is not None:
        flash(_("You are now registered with %(name)s.", name=organizations.get(reg.organization_code).name))
        return redirect(url_for("resident_pages.my"))
    errors, message = feedback
    return _organization_page(code, errors=errors, message=message, chosen=chosen, status=422)


@blp.get("/verify")
@limits.certificate_check
@public_page
def verify():
    token = request.args.get("token", "")
    result, org = certificates.check(token, keys=certificates.public_keys(app_key(current_app))) if token \
        else (None, None)
    return render_template("pages/verify.html", result=result, org=org)
