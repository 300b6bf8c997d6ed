import uuid

from flask import current_app
from flask_login import current_user

from registry.accounts import service
from registry.accounts.schemas import (
    AuthResultSchema, LoginSchema, PasswordResetSchema, ProfileSchema, ProfileUpdateSchema, SetPasswordSchema,
    SignupSchema, TokenSchema,
)
from registry.common import limits
from registry.common.openapi import Blueprint
from registry.common.auth import RESIDENT, ROLES, bearer_token, public, require
from registry.common.pagination import PAGINATED, paginate
from registry.common.schemas import PaginationSchema
from registry.workflows import accounts as workflows, erasure

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
    user = workflows.sign_up(data, settings=current_app.config)  # e-mails the address check when SMTP is set
    return {"user": user, "token": service.issue_token(user, ttl_days=_ttl())}


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
    return workflows.update_profile(current_user._get_current_object(), changes)


@blp.delete("/me")
@require(RESIDENT)
@blp.response(204)
def delete_me():
    """Withdraw every registration and erase personal data."""
    erasure.erase(current_user._get_current_object())


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
    workflows.request_password_reset(data["email"])
    return {}


@blp.post("/auth/set-password")
@limits.set_password
@public
@blp.arguments(SetPasswordSchema)
@blp.response(200, AuthResultSchema)
def set_password(data):
    """Use a one-time link's token: sets the password and signs in (a bearer token). A used, expired
    or unknown token is 422 `invalid_token`. A resident account without a birth year must give
    `birth_year` (and `guardian_consent` under 16, also when the birth year is known but the consent
    is not). A roster invitation's link also accepts that invitation; if a registration rule refuses
    it now, the password is still set and the invitation stays pending (`GET /me/invitations` says why)."""
    user, _invitation = workflows.set_password(data["token"], password=data["password"], birth_year=data.get("birth_year"),
                                  guardian_consent=data["guardian_consent"])
    return {"user": user, "token": service.issue_token(user, ttl_days=_ttl())}
