"""Rate limits, per endpoint. Per-IP limits are generous (carrier-grade NAT puts many phones behind
one address); per-account limits are the tight ones. `RATELIMIT_ENABLED=false` turns them off."""
from flask import request
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


def _email_in_body() -> str:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        body = request.form
    email = body.get("email")
    return f"email:{str(email).strip().lower()[:254]}" if email else get_remote_address()


def _account() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else get_remote_address()


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
