"""Pages anyone may open: the landing page with the 団体 search, a 団体's page, the certificate check."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.certificates import service as certificates
from registry.certificates.keys import app_key
from registry.common import limits
from registry.common.auth import RESIDENT
from registry.common.pagination import paginate
from registry.common.time import today_tokyo
from registry.needs import service as needs
from registry.organizations import service as organizations
from registry.pages.common import attempt, page_blueprint, page_require, public_page
from registry.registrations import service as registrations
from registry.registrations.models import TIES

blp = page_blueprint("public_pages", __name__)


@blp.get("/")
@public_page
def index():
    q = request.args.get("q", "").strip()[:100]
    results = []
    if q:
        results, _headers = paginate(organizations.list_statement(q=q), 1, 30)
    return render_template("pages/index.html", q=q, results=results)


@blp.get("/organizations/<code>")
@public_page
def organization(code):
    org = organizations.get(code)
    registered = None
    if current_user.is_authenticated and current_user.role == RESIDENT:
        registered = next((r for r in registrations.active_registrations(current_user)
                           if r.organization_code == org.code), None)
    return _organization_page(org, registered=registered)


def _organization_page(org, *, registered=None, errors=None, message=None, chosen=(), status=200):
    open_needs, _headers = paginate(needs.list_statement(today=today_tokyo(), organization=org.code), 1, 20)
    return render_template("pages/organization.html", org=org, prefecture=organizations.find(org.prefecture_code),
                           ties=TIES, registered=registered, errors=errors or {}, message=message,
                           chosen=list(chosen), open_needs=open_needs), status


@blp.post("/organizations/<code>/register")
@page_require(RESIDENT)
def register(code):
    org = organizations.get(code)
    chosen = [t for t in request.form.getlist("ties") if t in TIES]
    if not chosen:
        reg, feedback = None, ({"ties": [_("Choose at least one tie.")]}, _("Choose at least one tie."))
    else:
        reg, feedback = attempt(lambda: registrations.register(current_user, org.code, chosen))
    if reg is not None:
        flash(_("You are now registered with %(name)s.", name=org.name))
        return redirect(url_for("resident_pages.my"))
    errors, message = feedback
    return _organization_page(org, errors=errors, message=message, chosen=chosen, status=422)


@blp.get("/verify")
@limits.certificate_check
@public_page
def verify():
    token = request.args.get("token", "")
    result = certificates.verify(token, keys=certificates.public_keys(app_key(current_app))) if token else None
    org = organizations.find(result["organization_code"]) if result and result["valid"] else None
    return render_template("pages/verify.html", result=result, org=org)
