"""E-mail address verification: the link e-mailed at signup leads to `POST /auth/verify-email`.

The token is signed (itsdangerous, with SECRET_KEY) and names the account and a digest of its
current address, so nothing secret is stored: the outbox row only says "send the check", the token is
made when the e-mail is composed, and it stops working when the address changes, the account is
erased, or 7 days pass.
"""
import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime

from itsdangerous import BadData, URLSafeTimedSerializer

from registry.accounts import service as accounts
from registry.common.time import utcnow
from registry.errors import Problem
from registry.notifications import service
from registry.notifications.service import Recipient
from registry.notifications.models import VERIFY_EMAIL_MAIL

SALT = "registry.verify-email"
MAX_AGE_SECONDS = 7 * 24 * 3600
PAGE_PATH = "/verify-email"


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def _address_digest(user: Recipient) -> str:
    return hashlib.sha256((user.email_key or "").encode()).hexdigest()[:24]


def make_token(user: Recipient, secret_key: str) -> str:
    return _serializer(secret_key).dumps({"u": str(user.id), "a": _address_digest(user)})


def link(token: str, site_url: str) -> str:
    return f"{site_url.rstrip('/')}{PAGE_PATH}?token={token}"


def verify(token: str, secret_key: str, *, now: datetime | None = None) -> Recipient:
    """Marks the account's address verified (again: no change); 422 `invalid_token` otherwise."""
    try:
        claims = _serializer(secret_key).loads(token, max_age=MAX_AGE_SECONDS)
        user_id = uuid.UUID(claims["u"])
        digest = claims["a"]
    except (BadData, KeyError, TypeError, ValueError, AttributeError):
        raise Problem(422, "invalid_token")
    user = accounts.account(user_id, for_update=True)
    if user is None or not user.is_active or user.email_key is None or digest != _address_digest(user):
        raise Problem(422, "invalid_token")
    accounts.mark_address_verified(user, now=now or utcnow())
    return user


def mail_configured(settings: Mapping) -> bool:
    return bool(settings.get("SMTP_URL"))


def request_verification(user: Recipient, *, settings: Mapping, now: datetime | None = None) -> bool:
    """Queues the address check (signup, or asked again); False when mail is off or the address is
    already verified."""
    if not mail_configured(settings) or user.email_verified_at is not None or user.email is None:
        return False
    service.queue_account_mail(user, VERIFY_EMAIL_MAIL, now=now)
    return True
