"""Flask-Login wiring: bearer tokens for the API, the session cookie for pages."""
import uuid

from registry.accounts import service
from registry.accounts.models import User
from registry.common.auth import bearer_token, session_allowed
from registry.errors import Problem
from registry.extensions import db


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
        return user

    @login_manager.request_loader
    def load_from_bearer(request):
        token = bearer_token()
        if token is None:
            if "Authorization" in request.headers:
                raise Problem(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
            return None
        user = service.user_for_token(token)
        if user is None:
            raise Problem(401, "unauthorized", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return user
