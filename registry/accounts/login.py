"""Flask-Login wiring: bearer tokens for the API, the session cookie for pages (whose browser session
must also be open on the server: accounts.models.WebSession)."""
import uuid

from flask import current_app, session
from flask_login import login_user, logout_user

from registry.accounts import service
from registry.accounts.models import User
from registry.common.auth import bearer_token, partner_path, session_allowed
from registry.errors import Problem
from registry.extensions import db

API_PATH = "/api/"


def init_login(login_manager) -> None:
    @login_manager.user_loader
    def load_from_session(session_id: str):
        if not session_allowed():
            return None
        user_id, _, nonce = session_id.partition(":")
        try:
            user = db.session.get(User, uuid.UUID(user_id))
        except ValueError:
            return None
        if user is None or not user.is_active or user.session_nonce != nonce:
            return None
        if not service.web_session_open(user.id, session.get(WEB_SESSION_KEY),
                                        ttl_days=current_app.config["TOKEN_TTL_DAYS"]):
            return None  # signed out (or never signed in) on the server: the cookie opens nothing
        return user

    @login_manager.request_loader
    def load_from_bearer(request):
        """A valid bearer token's user. Any other `Authorization` (a bad or expired token, HTTP Basic,
        a bare `Bearer`) is a 401 problem on the API; elsewhere the request is anonymous, for pages are
        rendered (their error pages too) by reading the current user, which must never raise there.
        Under /api/v1/partner/ no account is ever signed in: that path takes partners' tokens only
        (registry.partners), so an account's token cannot stand in for one."""
        if "Authorization" not in request.headers or partner_path(request.path):
            return None
        token = bearer_token()
        user = service.user_for_token(token) if token is not None else None
        if user is None and request.path.startswith(API_PATH):
            challenge = 'Bearer error="invalid_token"' if token is not None else "Bearer"
            raise Problem(401, "unauthorized", headers={"WWW-Authenticate": challenge})
        return user


WEB_SESSION_KEY = "web_session"  # the browser session's raw id, in the (signed) session cookie


def sign_in_browser(user) -> None:
    """Pages: a new session (no fixation), open on the server, then Flask-Login's."""
    session.clear()
    session[WEB_SESSION_KEY] = service.start_web_session(user)
    login_user(user)


def sign_out_browser() -> None:
    """Pages: this browser's session ends on the server too, so a copy of its cookie opens nothing."""
    service.end_web_session(session.get(WEB_SESSION_KEY))
    logout_user()
    session.clear()
