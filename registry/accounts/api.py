import uuid

from flask import current_app
from flask_login import current_user

from registry.accounts import service
from registry.accounts.schemas import (
    AuthResultSchema, LoginSchema, PasswordResetSchema, ProfileSchema, ProfileUpdateSchema, SignupSchema,
    TokenSchema,
)
from registry.common import limits
from registry.common.openapi import Blueprint
from registry.notifications.verification import request_verification
from registry.common.auth import RESIDENT, ROLES, bearer_token, public, require
from registry.common.pagination import PAGINATED, paginate
from registry.common.schemas import PaginationSchema

blp = Blueprint("accounts", __name__, description="Accounts and sign-in")


def _ttl() -> int:
    return current_app.config["TOKEN_TTL_DAYS"]


@blp.post("/auth/signup")
@limits.signup
@public
@blp.arguments(SignupSchema)
@blp.response(201, AuthResultSchema)
@blp.alt_response(409, response="CONFLICT")
def signup(data):
    """Create a resident account; answers a bearer token."""
    user, token = service.signup(**data, ttl_days=_ttl())
    request_verification(user, settings=current_app.config)  # e-mails the link when SMTP is configured
    return {"user": user, "token": token}


@blp.post("/auth/login")
@limits.sign_in
@public
@blp.arguments(LoginSchema)
@blp.response(200, AuthResultSchema)
@blp.alt_response(401, response="UNAUTHORIZED")
def login(data):
    user, token = service.login(data["email"], data["password"], ttl_days=_ttl(),
                                backoff_after=current_app.config["LOGIN_FAILURES_BEFORE_BACKOFF"])
    return {"user": user, "token": token}


@blp.post("/auth/logout")
@require(*ROLES)
@blp.response(204)
def logout():
    """Revoke the bearer token this request carries."""
    service.revoke_token(bearer_token())


@blp.get("/me")
@require(*ROLES)
@blp.response(200, ProfileSchema)
def get_me():
    return current_user


@blp.patch("/me")
@require(*ROLES)
@blp.arguments(ProfileUpdateSchema)
@blp.response(200, ProfileSchema)
def patch_me(changes):
    return service.update_profile(current_user._get_current_object(), changes)


@blp.delete("/me")
@require(RESIDENT)
@blp.response(204)
def delete_me():
    """Withdraw every registration and erase personal data."""
    service.erase(current_user._get_current_object())


@blp.get("/me/tokens")
@require(*ROLES)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, TokenSchema(many=True), headers=PAGINATED)
def list_tokens(args):
    """The caller's bearer tokens still in force (never the tokens themselves), newest first."""
    return paginate(service.tokens_of(current_user._get_current_object()), args["page"], args["per_page"])


@blp.delete("/me/tokens/<uuid:token_id>")
@require(*ROLES)
@blp.response(204)
def revoke_token(token_id: uuid.UUID):
    service.revoke_token_by_id(current_user._get_current_object(), token_id)


@blp.post("/auth/password-reset")
@limits.sign_in
@public
@blp.arguments(PasswordResetSchema)
@blp.response(202)
def password_reset(data):
    """E-mails a set-password link valid 24 hours; 202 always, so it never tells whether an account exists."""
    service.request_password_reset(data["email"])
    return {}
