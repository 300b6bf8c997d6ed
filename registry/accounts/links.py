"""One-time set-password links, for every purpose that needs one (see models.SetPasswordToken).

    raw = issue(user, HOST_INVITATION, created_by=staff)      # → link(raw, site_url) to hand out
    user, row = set_password(raw, password="…")                 # POST /auth/set-password

This module owns the links: hosts, the roster import and password resets use it. A later feature
adds its purpose to `models.PURPOSES` (and the check constraint) and a lifetime to `LIFETIMES`;
`set_password` returns the token row, so the caller can act on its `purpose` and `subject_id` in
the same transaction (registry.workflows.links: a roster invitation's link also accepts it).
"""
import base64
import hashlib
import os
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from registry.accounts import service as accounts
from registry.accounts.models import (
    HOST_INVITATION, PASSWORD_RESET, PURPOSES, ROSTER_INVITATION, SetPasswordToken, User, new_session_nonce,
)
from registry.common.time import today_tokyo, utcnow
from registry.errors import Problem
from registry.extensions import db, get_password_hasher
from registry.i18n import N_

LIFETIMES = {HOST_INVITATION: timedelta(days=7), ROSTER_INVITATION: timedelta(days=14),
             PASSWORD_RESET: timedelta(hours=24)}
PAGE_PATH = "/set-password"


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def mint() -> tuple[str, str]:
    """A new raw token (256 random bits, shown once) and the digest stored for it. `issue` uses it;
    so does a bulk writer of link rows (the roster import), with `LIFETIMES` and `link`."""
    raw = secrets.token_urlsafe(32)
    return raw, _digest(raw)


def mint_many(count: int) -> list[tuple[str, str]]:
    """`count` of `mint()`'s pairs, for bulk writers: the same tokens (`token_urlsafe(32)`'s form)
    from one read of the system's random source instead of one per token."""
    random_bytes, encode = os.urandom(32 * count), base64.urlsafe_b64encode
    raws = [encode(random_bytes[i:i + 32]).rstrip(b"=").decode("ascii") for i in range(0, 32 * count, 32)]
    return [(raw, _digest(raw)) for raw in raws]


def link(raw: str, site_url: str) -> str:
    return f"{site_url.rstrip('/')}{PAGE_PATH}?token={raw}"


def issue(user: User, purpose: str, *, created_by: User | None = None, subject_id=None,
          now: datetime | None = None, keep_others: bool = False) -> tuple[str, SetPasswordToken]:
    """A new link for `user`; the earlier unused links of the same purpose stop working (only the
    newest link handed out is good) unless `keep_others` (the e-mailed copy of a link staff were
    shown). Returns the raw token (shown once, never stored) and its row."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    now = now or utcnow()
    if not keep_others:
        void_unused(user, purpose, now=now)
    raw, digest = mint()
    row = SetPasswordToken(user_id=user.id, purpose=purpose, token_hash=digest, subject_id=subject_id,
                           created_by=created_by.id if created_by is not None else None, created_at=now,
                           expires_at=now + LIFETIMES[purpose])
    db.session.add(row)
    db.session.flush()
    return raw, row


def invitation_for_mail(user: User, *, now: datetime | None = None) -> str:
    """The invitation link an e-mail carries, minted as it is composed (no usable token is ever
    stored): a host's or a roster's, by the account's role. The link staff were shown stays good
    too; whichever is used first spends the others. Returns the raw token."""
    purpose = HOST_INVITATION if user.role == "host" else ROSTER_INVITATION
    return issue(user, purpose, keep_others=True, now=now)[0]


def reset_for_mail(user: User, *, now: datetime | None = None) -> str:
    """The password-reset link an e-mail carries, minted as it is composed; the earlier reset
    links stop working (the newest wins). Returns the raw token."""
    return issue(user, PASSWORD_RESET, now=now)[0]


def void_unused(user: User, purpose: str | None = None, *, now: datetime | None = None) -> None:
    """Every unused link of the user (of one purpose, or all) is spent."""
    stmt = update(SetPasswordToken).where(SetPasswordToken.user_id == user.id, SetPasswordToken.used_at.is_(None))
    if purpose is not None:
        stmt = stmt.where(SetPasswordToken.purpose == purpose)
    db.session.execute(stmt.values(used_at=now or utcnow()))


def peek(raw: str, *, now: datetime | None = None) -> tuple[SetPasswordToken, User] | None:
    """The link's row and account if the link would work now (for the page to say so before the
    form is filled in), without spending it."""
    now = now or utcnow()
    row = db.session.scalar(select(SetPasswordToken).where(SetPasswordToken.token_hash == _digest(raw)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return row, user


def asks_for(user: User, *, now: datetime | None = None) -> tuple[bool, bool]:
    """(birth year, guardian consent): what setting this account's password must also collect — a
    resident's birth year when the account lacks one, and a guardian's consent when the person may
    be under 16 and has not given it."""
    if user.role != "resident":
        return False, False
    if user.birth_year is None:
        return True, True
    under_age = accounts.age_in(user.birth_year, today_tokyo(now)) < accounts.GUARDIAN_CONSENT_AGE
    return False, under_age and not user.guardian_consent


def set_password(raw: str, *, password: str, birth_year: int | None = None, guardian_consent: bool = False,
                 now: datetime | None = None) -> tuple[User, SetPasswordToken]:
    """Spends the link and sets the account's password; 422 `invalid_token` for an unknown, used or
    expired link or an account no longer active. The link is taken by one conditional UPDATE, so of
    two concurrent uses exactly one succeeds (on both databases). Every other session and bearer
    token of the account ends (a password reset signs out everywhere), and so does every other
    one-time link of the account, whatever its purpose: an old invitation (a roster's CSV, a host's
    link staff saw) can never set a password over one the owner set.

    `birth_year` (and `guardian_consent`) fill an account that lacks a birth year (a roster import
    may not know it); a resident account must then give one. A birth year the account already has
    (from a roster) that makes the person under 16 needs `guardian_consent` now, unless it was given.

    The caller acts on the returned row's `purpose` and `subject_id` (registry.workflows.links)."""
    now = now or utcnow()
    spent = db.session.execute(
        update(SetPasswordToken)
        .where(SetPasswordToken.token_hash == _digest(raw), SetPasswordToken.used_at.is_(None),
               SetPasswordToken.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        raise Problem(422, "invalid_token")
    row = db.session.scalar(select(SetPasswordToken).where(SetPasswordToken.token_hash == _digest(raw))
                            .execution_options(populate_existing=True))
    user = db.session.get(User, row.user_id, with_for_update=True)
    if user is None or not user.is_active:
        raise Problem(422, "invalid_token")
    if user.birth_year is None:
        if birth_year is not None:
            _check_age(birth_year, guardian_consent, now)
            user.birth_year, user.guardian_consent = birth_year, bool(guardian_consent)
        elif user.role == "resident":
            raise Problem(422, "validation_error", errors={"birth_year": [N_("Missing data for required field.")]})
    elif user.role == "resident" and not user.guardian_consent:
        _check_age(user.birth_year, guardian_consent, now)
        user.guardian_consent = bool(guardian_consent)
    user.password_hash = get_password_hasher().hash(password)
    accounts.revoke_all_tokens(user, now)
    user.session_nonce = new_session_nonce()
    void_unused(user, now=now)  # every other one-time link of the account dies with this one
    db.session.flush()
    return user, row


def _check_age(birth_year: int, guardian_consent: bool, now: datetime) -> None:
    age = accounts.age_in(birth_year, today_tokyo(now))
    if age < accounts.GUARDIAN_CONSENT_AGE and not guardian_consent:
        raise Problem(422, "guardian_consent_required",
                      errors={"guardian_consent": [N_("A guardian's consent is required under 16.")]})


def erase_for(user: User) -> None:
    """DELETE /me: the person's links (used or not) are deleted."""
    db.session.execute(delete(SetPasswordToken).where(SetPasswordToken.user_id == user.id))
