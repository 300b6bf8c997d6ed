"""The partners' consent page (API.md "Partners"): GET /oauth/authorize names the partner and what it
asks for, in plain words; allowing sends the person back to the partner with a code, denying with
`error=access_denied` (with the partner's `state`). A request naming an unknown partner, or a redirect
URI the partner did not register (string for string), shows an error here and never redirects
(RFC 6749 §4.1.2.1). Signing in comes first (/login?next=…); only residents grant."""
import re
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import make_response, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from registry.common.auth import RESIDENT
from registry.pages.common import page_blueprint, page_require
from registry.partners.oauth import server

blp = page_blueprint("oauth_pages", __name__)

# The site's policy (registry.create_app), with the partner's origin allowed as the form's target: the
# answer to the form is a redirect there, which browsers check against form-action.
CONSENT_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                  "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self' {origin}")
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    return origin if ORIGIN.match(origin) else ""


@blp.route("/oauth/authorize", methods=["GET", "POST"])
@page_require(RESIDENT)
def authorize():
    me = current_user._get_current_object()
    try:
        grant = server.get_consent_grant(end_user=me)
    except OAuth2Error as error:
        return _refused(error)
    if request.method == "POST":  # the form's CSRF token was checked (page_blueprint)
        allowed = request.form.get("decision") == "allow"
        return server.create_authorization_response(grant=grant, grant_user=me if allowed else None)
    origin = _origin(grant.redirect_uri)
    response = make_response(render_template("pages/oauth_consent.html", partner=grant.client,
                                             scopes=grant.request.scope.split(), destination=origin,
                                             action=request.full_path))
    response.headers["Content-Security-Policy"] = CONSENT_POLICY.format(origin=origin).rstrip()
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(error: OAuth2Error):
    """After the partner and its redirect URI are known good, the partner hears of the error (a redirect
    with `error` and `state`); before, only the person does: the error's code, and nothing the link
    carried (a page must not repeat what a stranger's link says)."""
    if error.redirect_uri:
        return server.handle_error_response(None, error)
    return render_template("pages/error.html", title=_("This link to a partner service is not valid"),
                           detail=_("Go back to the service you came from and try again. (%(error)s)",
                                    error=error.error)), 400
