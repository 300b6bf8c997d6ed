"""Accounts: sign-up, sign-in, tokens, profile, the personal data erasure removes. Functions flush;
the request commits. What reaches other domains (erasure, a new home) is in registry.workflows."""
import hashlib
import logging
import math
import secrets
from datetime import datetime, timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, select, update

from registry.accounts.models import ApiToken, LoginThrottle, User, WebSession, new_session_nonce
from registry.common.database import insert_for_upsert
from registry.common.auth import ROLES, RESIDENT, STAFF, HOST
from registry.common.time import today_tokyo, utcnow
from registry.errors import Problem
from registry.extensions import db, get_password_hasher
from registry.organizations import service as organizations
from registry.i18n import N_

log = logging.getLogger(__name__)

GUARDIAN_CONSENT_AGE = 16
ADULT_AGE = 18
_DUMMY_HASH: str | None = None


def normalize_email(email: str) -> str:
    return email.strip().lower()


def age_in(year_of_birth: int | None, today=None) -> int | None:
    """Age reached this calendar year (only the birth year is known)."""
    if year_of_birth is None:
        return None
    return (today or today_tokyo()).year - year_of_birth


def is_adult_year(birth_year: int | None, today=None) -> bool:
    """Unknown birth year counts as not adult: scouting and side jobs need a known adult."""
    age = age_in(birth_year, today)
    return age is not None and age >= ADULT_AGE


def is_adult(user: User, today=None) -> bool:
    return is_adult_year(user.birth_year, today)


AGE_BANDS = ((18, "under_18"), (30, "18_29"), (40, "30_39"), (50, "40_49"), (60, "50_59"), (70, "60_69"))


def age_band(birth_year: int | None, today=None) -> str | None:
    """The published age bands (API.md "Figures")."""
    age = age_in(birth_year, today)
    if age is None:
        return None
    return next((band for limit, band in AGE_BANDS if age < limit), "70_plus")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, *, ttl_days: int, now: datetime | None = None) -> str:
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), created_at=now,
                            expires_at=now + timedelta(days=ttl_days)))
    db.session.flush()
    return token


# Built once: every API request runs it, and building a select costs more than running it.
_USER_BY_TOKEN = select(User).join(ApiToken, ApiToken.user_id == User.id).where(
    ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None),
    ApiToken.expires_at > bindparam("now"))


def user_for_token(token: str, now: datetime | None = None) -> User | None:
    user = db.session.scalar(_USER_BY_TOKEN, {"token_hash": hash_token(token), "now": now or utcnow()})
    return user if user is not None and user.is_active else None


def revoke_token(token: str, now: datetime | None = None) -> None:
    db.session.execute(update(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                              ApiToken.revoked_at.is_(None))
                       .values(revoked_at=now or utcnow()))


def tokens_of(user: User, now: datetime | None = None):
    """The user's tokens still in force, newest first."""
    return select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
                                  ApiToken.expires_at > (now or utcnow())) \
        .order_by(ApiToken.created_at.desc(), ApiToken.id)


def revoke_token_by_id(user: User, token_id, now: datetime | None = None) -> None:
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise Problem(404, "not_found")
    row.revoked_at = now or utcnow()
    db.session.flush()


# --- the pages' signed-in browsers ---------------------------------------------------------------------

def start_web_session(user: User, *, now: datetime | None = None) -> str:
    """A browser signs in: the raw id for its session cookie (shown once, stored as a digest)."""
    raw = secrets.token_urlsafe(32)
    db.session.add(WebSession(user_id=user.id, token_hash=hash_token(raw), created_at=now or utcnow()))
    db.session.flush()
    return raw


_WEB_SESSION = select(WebSession.user_id).where(
    WebSession.token_hash == bindparam("token_hash"), WebSession.ended_at.is_(None),
    WebSession.created_at > bindparam("oldest"))


def web_session_open(user_id, raw: str | None, *, ttl_days: int, now: datetime | None = None) -> bool:
    """Is this browser's session still open (not signed out, not older than `ttl_days`) and
    the user's?"""
    if not raw:
        return False
    owner = db.session.scalar(_WEB_SESSION, {"token_hash": hash_token(raw),
                                             "oldest": (now or utcnow()) - timedelta(days=ttl_days)})
    return owner is not None and owner == user_id


def end_web_session(raw: str | None, *, now: datetime | None = None) -> None:
    """Signing out: this browser's session ends on the server."""
    if raw:
        db.session.execute(update(WebSession).where(WebSession.token_hash == hash_token(raw),
                                                    WebSession.ended_at.is_(None)).values(ended_at=now or utcnow()))


def revoke_all_tokens(user: User, now: datetime | None = None) -> None:
    db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                       .values(revoked_at=now or utcnow()))


def _check_age_rules(birth_year: int | None, guardian_consent: bool, today) -> None:
    age = age_in(birth_year, today)
    if age is not None and age < GUARDIAN_CONSENT_AGE and not guardian_consent:  # None: staff give no year
        raise Problem(422, "guardian_consent_required",
                      errors={"guardian_consent": [N_("A guardian's consent is required under 16.")]})


def account(user_id, *, for_update: bool = False) -> User | None:
    """The account with this id (its row locked until the transaction ends when `for_update`), or None.
    How other domains look an account up without reaching into this domain's models."""
    return db.session.get(User, user_id, with_for_update=for_update or None)


def mark_address_verified(user: User, *, now: datetime) -> None:
    """The account's current address is verified (from now; a second check changes nothing)."""
    if user.email_verified_at is None:
        user.email_verified_at = now
        db.session.flush()


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email_key == normalize_email(email)))


def create_resident(*, email: str, password: str, display_name: str, home_municipality_code: str,
                    birth_year: int, guardian_consent: bool = False, now: datetime | None = None) -> User:
    now = now or utcnow()
    _check_age_rules(birth_year, guardian_consent, today_tokyo(now))
    home = organizations.resolve_home_municipality(home_municipality_code)
    if find_by_email(email) is not None:
        raise Problem(409, "email_taken")
    user = User(email=email.strip(), email_key=normalize_email(email),
                password_hash=get_password_hasher().hash(password), display_name=display_name.strip(),
                role=RESIDENT, home_municipality_code=home.code, birth_year=birth_year,
                guardian_consent=bool(guardian_consent), created_at=now)
    db.session.add(user)
    db.session.flush()
    return user


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = get_password_hasher().hash(secrets.token_hex(16))
    return _DUMMY_HASH


def authenticate(email: str, password: str, *, now: datetime | None = None,
                 backoff_after: int = 5) -> User:
    """The user for this pair, or 401 `invalid_credentials`.

    An unknown e-mail costs one argon2 verification too, so timing does not reveal which e-mails
    have accounts. After `backoff_after` failures for an address (known or not), it is refused with
    429 for 1, 2, 4 … (at most 60) minutes; a success clears the count.
    """
    now = now or utcnow()
    key = normalize_email(email)
    throttle = db.session.get(LoginThrottle, key)
    if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
        wait = math.ceil((throttle.locked_until - now).total_seconds())
        _log_failure("locked", None)
        raise Problem(429, "rate_limited", headers={"Retry-After": str(wait)})
    hasher = get_password_hasher()
    user = find_by_email(email)
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    try:
        hasher.verify(stored, password)
        matched = True
    except (VerificationError, InvalidHashError):
        matched = False
    reason = ("unknown_account" if user is None else "no_password" if user.password_hash is None
              else "wrong_password" if not matched else "inactive" if not user.is_active else None)
    if reason is not None:
        _log_failure(reason, user)
        _count_failure(key, now, backoff_after)
        raise Problem(401, "invalid_credentials", keep_changes=True)
    if throttle is not None:
        db.session.delete(throttle)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def _log_failure(reason: str, user: User | None) -> None:
    """One line per refused sign-in, for the operator: why, and the account id when there is an
    account; never the e-mail address typed or the password. The log adds the request id and the
    client's address (registry/operations/logs.py)."""
    user_id = str(user.id) if user is not None else None
    log.warning("sign-in refused: %s%s", reason, f" (account {user_id})" if user_id else "",
                extra={"event": "sign_in_failed", "reason": reason, "user_id": user_id})


def _count_failure(key: str, now: datetime, backoff_after: int) -> None:
    stmt = insert_for_upsert(LoginThrottle).values(email_key=key, failures=1)
    stmt = stmt.on_conflict_do_update(index_elements=["email_key"],
                                      set_={"failures": LoginThrottle.failures + 1}).returning(LoginThrottle.failures)
    failures = db.session.execute(stmt).scalar_one()
    if failures >= backoff_after:
        minutes = min(60, 2 ** (failures - backoff_after))
        db.session.execute(update(LoginThrottle).where(LoginThrottle.email_key == key)
                           .values(locked_until=now + timedelta(minutes=minutes)))
    db.session.flush()


def login(email: str, password: str, *, ttl_days: int, now: datetime | None = None,
          backoff_after: int = 5) -> tuple[User, str]:
    user = authenticate(email, password, now=now, backoff_after=backoff_after)
    return user, issue_token(user, ttl_days=ttl_days, now=now)


PROFILE_FIELDS = ("display_name", "birth_year", "skills", "interests", "availability", "guardian_consent")


def check_profile_update(user: User, changes: dict, *, now: datetime | None = None) -> tuple[object, int | None]:
    """PATCH /me, before anything changes: the age rules and the new home. Returns (the new home
    municipality or None, the birth year after the change). registry.workflows.accounts moves the
    person's registrations, then calls `apply_profile_update`."""
    today = today_tokyo(now or utcnow())
    birth_year = changes.get("birth_year", user.birth_year)
    if "birth_year" in changes or "guardian_consent" in changes:
        _check_age_rules(birth_year, changes.get("guardian_consent", user.guardian_consent), today)
    consents = changes.get("consents") or {}
    if consents.get("scouting") and not is_adult_year(birth_year, today):
        raise Problem(422, "age_restricted", errors={"consents": {"scouting": [N_("Only adults can be scouted.")]}})
    home = None
    if "home_municipality_code" in changes:
        home = organizations.resolve_home_municipality(changes["home_municipality_code"])
    return home, birth_year


def apply_profile_update(user: User, changes: dict, *, now: datetime | None = None) -> User:
    """The profile's own fields and consents (the home and birth year are set by the registrations
    domain, which restates the figures)."""
    consents = changes.get("consents") or {}
    for name in PROFILE_FIELDS:
        if name in changes and name != "birth_year":
            setattr(user, name, changes[name])
    for name in ("share_profile", "scouting", "announcements"):
        if name in consents:
            setattr(user, f"consent_{name}", bool(consents[name]))
    if not is_adult(user, today_tokyo(now or utcnow())):
        user.consent_scouting = False
    db.session.flush()
    return user


def erase_personal_data(user: User, *, now: datetime | None = None) -> None:
    """The last step of erasure (registry.workflows.erasure): tokens, the sign-in throttle and every
    column that identifies the person; the row stays as a pseudonymous reference."""
    now = now or utcnow()
    db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    db.session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    if user.email_key:  # failed sign-ins are counted per address
        db.session.execute(delete(LoginThrottle).where(LoginThrottle.email_key == user.email_key))
    for column in ("email", "email_key", "password_hash", "display_name", "birth_year", "availability",
                   "email_verified_at", "home_municipality_code"):
        setattr(user, column, None)
    user.skills, user.interests = [], []
    user.consent_share_profile = user.consent_scouting = user.consent_announcements = False
    user.guardian_consent = False
    user.session_nonce = new_session_nonce()
    user.erased_at = now
    db.session.flush()


def create_user(*, email: str, password: str, role: str, organization_code: str | None = None,
                display_name: str | None = None) -> User:
    """Staff, hosts, national and admin accounts (the CLI)."""
    if role not in ROLES:
        raise Problem(422, "validation_error", errors={"role": [f"One of {', '.join(ROLES)}."]})
    if role in (STAFF, HOST):
        if not organization_code:
            raise Problem(422, "validation_error", errors={"organization": [N_("Staff belong to a 団体.")]})
        organization_code = organizations.resolve(organization_code, "organization").code
    elif organization_code:
        raise Problem(422, "validation_error", errors={"organization": [N_("Only staff and hosts have a 団体.")]})
    if find_by_email(email) is not None:
        raise Problem(409, "email_taken")
    user = User(email=email.strip(), email_key=normalize_email(email), role=role,
                password_hash=get_password_hasher().hash(password),
                display_name=display_name or email.split("@")[0], organization_code=organization_code)
    db.session.add(user)
    db.session.flush()
    return user
