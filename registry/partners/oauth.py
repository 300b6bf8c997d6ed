"""OAuth 2.0 for partners on Authlib's Flask integration (API.md "Partners"): the authorization
server behind the consent page (registry/pages/oauth.py: /oauth/authorize) and the site-root token
and revocation endpoints here (/oauth/token, /oauth/revoke), and the check of partners' tokens on
/api/v1/partner/* (`require_partner`).

- Authorization code grant only, with PKCE S256 (plain, or none, is refused), the partner
  authenticating with HTTP Basic (client_secret_basic); redirect URIs compared string for string,
  and one that does not match is never redirected to (the page shows an error instead).
- Tokens: an hour (`expires_in: 3600`), refresh tokens rotated; RFC 7009 revocation.
- Errors are RFC 6749 §5.2 JSON as Authlib writes them; the request's changes roll back, except the
  revocation that a replayed code or refresh token causes (tokens.py).
"""
import logging
import secrets
from functools import wraps

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import OAuth2Error, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator, InsufficientScopeError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Blueprint, g

from registry.common import limits
from registry.common.auth import PARTNER
from registry.errors import Problem
from registry.i18n import N_
from registry.partners import service, tokens
from registry.partners.models import CLIENT_SECRET_BASIC, SCOPES

# Authlib logs issued tokens at DEBUG: never, whatever LOG_LEVEL says (the logs hold no tokens).
logging.getLogger("authlib").setLevel(logging.INFO)

S256 = "S256"
KEEP_CHANGES = "oauth_keep_changes"  # in flask.g: a refused request whose revocation must commit


def _replayed(row) -> None:
    """A spent code or refresh token presented again: its family of tokens is revoked, and kept."""
    tokens.revoke_family(row)
    g.setdefault(KEEP_CHANGES, True)


class S256Only(CodeChallenge):
    """RFC 7636 with S256 required on every authorization request and the verifier on every exchange
    (Authlib's own extension requires them of public clients only, and accepts `plain`)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = [S256]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != S256:
            raise InvalidRequestError("Only code_challenge_method=S256 is accepted.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [CLIENT_SECRET_BASIC]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        tokens.save_code(code, partner=request.client, user=request.user, redirect_uri=request.payload.redirect_uri,
                         scope=request.scope, challenge=data["code_challenge"], method=data["code_challenge_method"])

    def query_authorization_code(self, code, client):
        row = tokens.find_code(code, client)
        if row is None or tokens.code_expired(row):
            return None
        if row.used_at is not None:
            _replayed(row)
            return None
        return row

    def create_token_response(self):
        """The code is spent first, by a conditional UPDATE: of two exchanges at once, one wins."""
        row = self.request.authorization_code
        if not tokens.claim_code(row):
            _replayed(row)
            raise InvalidGrantError("The authorization code has been used.")
        return super().create_token_response()

    def delete_authorization_code(self, authorization_code):
        """Spent already (create_token_response); the row stays, so that a replay is recognised."""

    def authenticate_user(self, authorization_code):
        return tokens.person_of(authorization_code)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [CLIENT_SECRET_BASIC]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: each refresh token works once

    def authenticate_refresh_token(self, refresh_token):
        row = tokens.find_refresh(refresh_token)
        if row is None or not row.check_client(self.request.client):
            return None
        if row.refresh_used_at is not None:
            _replayed(row)
            return None
        return row if tokens.refresh_live(row) else None

    def create_token_response(self):
        row = self.request.refresh_token
        if not tokens.claim_refresh(row):
            _replayed(row)
            raise InvalidGrantError("The refresh token has been used.")
        return super().create_token_response()

    def authenticate_user(self, refresh_token):
        return tokens.person_of(refresh_token)

    def revoke_old_credential(self, refresh_token):
        """Spent already (create_token_response); its access token lives out its hour."""


class Revocation(RevocationEndpoint):
    """RFC 7009. Revoking either token of a family revokes all of it (the grant it came from)."""

    CLIENT_AUTH_METHODS = [CLIENT_SECRET_BASIC]

    def query_token(self, token_string, token_type_hint):
        return tokens.find_any(token_string, token_type_hint)

    def revoke_token(self, token, request):
        tokens.revoke_family(token)


class PartnerTokens(BearerTokenValidator):
    def authenticate_token(self, token_string):
        return tokens.find_access(token_string)


def _new_token(**_context) -> str:
    return secrets.token_urlsafe(32)  # 256 random bits


def _save_token(token: dict, request) -> None:
    origin = request.authorization_code or request.refresh_token
    tokens.save_token(token, partner=request.client, user=request.user, origin=origin)


server = AuthorizationServer(query_client=service.find_partner, save_token=_save_token)
server.scopes_supported = list(SCOPES)
server.register_token_generator("default", BearerTokenGenerator(
    _new_token, _new_token, lambda client, grant_type: tokens.ACCESS_TOKEN_SECONDS))
server.register_grant(CodeGrant, [S256Only(required=True)])
server.register_grant(RefreshGrant)
server.register_endpoint(Revocation)

protector = ResourceProtector()
protector.register_token_validator(PartnerTokens())


# --- the partner API's check (/api/v1/partner/*) ---------------------------------------------------------

def require_partner(scope: str):
    """`@require_partner("activities:write")`: a partner's live token with that scope, else 401
    (no token, an account's token, an expired or revoked one) or 403 (another scope). The token is
    then `g.partner_token`; the per-partner rate limit counts by its partner."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            try:
                token = protector.acquire_token([scope])
            except OAuth2Error as error:
                raise _refusal(error, scope)
            g.partner_token = token
            setattr(g, limits.PARTNER_KEY, str(token.partner_id))
            return view(*args, **kwargs)

        wrapper.required_roles = (PARTNER,)  # read by the OpenAPI document and the authorization matrix
        return wrapper

    return decorator


def _refusal(error: OAuth2Error, scope: str) -> Problem:
    if isinstance(error, InsufficientScopeError):
        return Problem(403, "forbidden", N_("This token does not carry the scope this call needs."),
                       headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
    challenge = 'Bearer error="invalid_token"' if error.error == "invalid_token" else "Bearer"
    return Problem(401, "unauthorized", headers={"WWW-Authenticate": challenge})


def current_token():
    return g.partner_token


# --- the token and revocation endpoints (site root) -------------------------------------------------------

blp = Blueprint("oauth", __name__)


class OAuthAnswer(Problem):
    """An OAuth error (RFC 6749 §5.2 JSON, written by Authlib) leaving the request: it rolls back what
    the request wrote, unless a replay's revocation must be kept."""

    def __init__(self, response, keep_changes: bool):
        super().__init__(response.status_code, "oauth_error", keep_changes=keep_changes)
        self.response = response


@blp.errorhandler(OAuthAnswer)
def _answer(error: OAuthAnswer):
    return error.response


def _respond(response):
    if response.status_code >= 400:
        raise OAuthAnswer(response, keep_changes=bool(g.pop(KEEP_CHANGES, False)))
    return response


def partner_client(view):
    """Marks an endpoint a partner calls with its client id and secret (HTTP Basic)."""
    view.required_roles = (PARTNER,)
    return view


@blp.post("/oauth/token")
@limits.oauth_client
@partner_client
def token():
    """RFC 6749 §4.1.3 (a code and its PKCE verifier) and §6 (a refresh token): tokens."""
    return _respond(server.create_token_response())


@blp.post("/oauth/revoke")
@limits.oauth_client
@partner_client
def revoke():
    """RFC 7009."""
    return _respond(server.create_endpoint_response(Revocation.ENDPOINT_NAME))
