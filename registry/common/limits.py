"""Rate limits, per endpoint. Per-IP limits are generous (carrier-grade NAT puts many phones behind
one address); per-account limits are the tight ones. `RATELIMIT_ENABLED=false` turns them off."""
from flask import current_app, g, request
from flask_login import current_user
from flask_limiter.util import get_remote_address

from registry.extensions import limiter

PER_IP_SIGN_IN = "300/hour"
PER_EMAIL_SIGN_IN = "20/hour"
PER_IP_SIGNUP = "200/hour"
PER_IP_VERIFY = "120/minute"
PER_ACCOUNT_APPLY = "30/hour"
PER_ACCOUNT_CHECK_IN = "10/minute"
PER_IP_SET_PASSWORD = "300/hour"  # each try costs an argon2 hash; the token itself is 256 random bits
PER_ACCOUNT_UPLOAD = "30/hour"  # evidence uploads (each up to 5 MB), shared by the API and the page

# Partners (registry.partners), per partner (its client id), whichever person each call is for: a
# platform reporting for many people at once stays within these, and one partner cannot crowd out
# others. `PARTNER_RATE_LIMIT` (/api/v1/partner/*) and `PARTNER_TOKEN_RATE_LIMIT` (/oauth/token and
# /oauth/revoke, by the client id the call names) set them.
PER_PARTNER_CALLS = "1200/minute"
PER_PARTNER_TOKENS = "600/minute"
PER_IP_OAUTH = "1200/minute"  # the OAuth endpoints per address, whatever client id is claimed
PARTNER_KEY = "partner_client_id"  # in flask.g: set by the partner's token check before the limit is counted


def _email_in_body() -> str:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        body = request.form
    email = body.get("email")
    return f"email:{str(email).strip().lower()[:254]}" if email else get_remote_address()


def _account() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else get_remote_address()


def _partner() -> str:
    client_id = g.get(PARTNER_KEY)
    return f"partner:{client_id}" if client_id else get_remote_address()


def _client_in_basic_auth() -> str:
    """The client id an OAuth request names in its HTTP Basic credentials (checked afterwards)."""
    auth = request.authorization
    username = auth.username if auth is not None and auth.type == "basic" else None
    return f"partner:{username[:64]}" if username else get_remote_address()


WRITES = ["POST"]  # showing a form is not limited, submitting it is


def _limited(view):
    view.rate_limited = True  # the OpenAPI document lists 429 for it (registry.common.openapi)
    return view


def sign_in(view):
    return _limited(limiter.limit(PER_IP_SIGN_IN, methods=WRITES)(
        limiter.limit(PER_EMAIL_SIGN_IN, key_func=_email_in_body, methods=WRITES)(view)))


def signup(view):
    return _limited(limiter.limit(PER_IP_SIGNUP, methods=WRITES)(view))


def check_in(view):
    """Check-in tries, per account, shared by the API and the page (a 6-digit code must not be guessable)."""
    return _limited(limiter.shared_limit(PER_ACCOUNT_CHECK_IN, scope="check-in", key_func=_account,
                                         methods=WRITES)(view))


def evidence_upload(view):
    """Evidence uploads per account, shared by the API and the page (each may carry 5 MB to store)."""
    return _limited(limiter.shared_limit(PER_ACCOUNT_UPLOAD, scope="evidence-upload", key_func=_account,
                                         methods=WRITES)(view))


def set_password(view):
    return _limited(limiter.limit(PER_IP_SET_PASSWORD, methods=WRITES)(view))


def certificate_check(view):
    return _limited(limiter.limit(PER_IP_VERIFY)(view))


def per_account(limit: str):
    def decorator(view):
        return _limited(limiter.limit(limit, key_func=_account)(view))
    return decorator


def _setting(name: str, default: str):
    return lambda: current_app.config.get(name) or default


def per_partner(view):
    """A partner's API calls, counted per partner (its token is checked first, see PARTNER_KEY)."""
    return _limited(limiter.shared_limit(_setting("PARTNER_RATE_LIMIT", PER_PARTNER_CALLS), scope="partner-calls",
                                         key_func=_partner)(view))


def oauth_client(view):
    """/oauth/token and /oauth/revoke: per client id, and per address."""
    return _limited(limiter.limit(PER_IP_OAUTH, methods=WRITES)(
        limiter.shared_limit(_setting("PARTNER_TOKEN_RATE_LIMIT", PER_PARTNER_TOKENS), scope="partner-tokens",
                             key_func=_client_in_basic_auth, methods=WRITES)(view)))
