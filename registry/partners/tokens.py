"""What the OAuth server (oauth.py) keeps: authorization codes and tokens, each found by the SHA-256
of what the partner holds (models.py says why SHA-256 suffices).

- A code lives 10 minutes and is spent once: `claim_code` is a conditional UPDATE (… WHERE used_at IS
  NULL), so of two exchanges of one code at the same moment exactly one succeeds (PostgreSQL makes
  the second wait for the first's row lock, then finds it spent; SQLite runs one writer at a time).
- An access token lives an hour (`expires_in: 3600`); its refresh token 90 days, and is rotated:
  `claim_refresh` spends it the same way.
- A code or a refresh token presented again after it was spent revokes every token issued from that
  code (RFC 6749 §4.1.2, OAuth 2.0 Security BCP §4.14): someone else may hold a copy.
- A token works only while its grant (the person's consent) stands and the account is active.
"""
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from registry.accounts.models import User
from registry.audit import models as audit
from registry.audit.service import record_partner
from registry.common.time import utcnow
from registry.extensions import db
from registry.partners import service
from registry.partners.models import Partner, PartnerAuthorizationCode, PartnerGrant, PartnerToken, digest

CODE_TTL = timedelta(minutes=10)
ACCESS_TOKEN_SECONDS = 3600
REFRESH_TTL = timedelta(days=90)
ACCESS_TOKEN, REFRESH_TOKEN = "access_token", "refresh_token"


def save_code(code: str, *, partner: Partner, user: User, redirect_uri: str, scope: str, challenge: str,
              method: str, now: datetime | None = None) -> PartnerAuthorizationCode:
    """The person allowed the partner (the consent page): their grant, and a code for it."""
    now = now or utcnow()
    grant = service.consent(user, partner, scope.split(), now=now)
    row = PartnerAuthorizationCode(code_hash=digest(code), partner_id=partner.id, grant_id=grant.id,
                                   user_id=user.id, redirect_uri=redirect_uri, scope=scope,
                                   code_challenge=challenge, code_challenge_method=method, created_at=now,
                                   expires_at=now + CODE_TTL)
    db.session.add(row)
    db.session.flush()
    return row


def find_code(code: str, partner: Partner) -> PartnerAuthorizationCode | None:
    """The partner's code, spent or not (a spent one presented again is a replay: `revoke_family`)."""
    return db.session.scalar(select(PartnerAuthorizationCode).where(
        PartnerAuthorizationCode.code_hash == digest(code), PartnerAuthorizationCode.partner_id == partner.id))


def code_expired(row: PartnerAuthorizationCode, now: datetime | None = None) -> bool:
    return row.expires_at <= (now or utcnow())


def claim_code(row: PartnerAuthorizationCode, now: datetime | None = None) -> bool:
    """Spend the code; False when it was already spent (by a concurrent exchange)."""
    now = now or utcnow()
    claimed = db.session.execute(update(PartnerAuthorizationCode).where(
        PartnerAuthorizationCode.id == row.id, PartnerAuthorizationCode.used_at.is_(None),
        PartnerAuthorizationCode.expires_at > now).values(used_at=now))
    return claimed.rowcount == 1


def person_of(row: PartnerAuthorizationCode | PartnerToken) -> User | None:
    """The person a code or token is for, while their grant stands and their account is active."""
    grant = db.session.get(PartnerGrant, row.grant_id)
    user = db.session.get(User, row.user_id)
    if grant is None or grant.revoked_at is not None or user is None or not user.is_active:
        return None
    return user


def save_token(token: dict, *, partner: Partner, user: User, origin: PartnerAuthorizationCode | PartnerToken,
               now: datetime | None = None) -> PartnerToken:
    """A token Authlib generated (`access_token`, `refresh_token`, `expires_in`, `scope`), kept by
    digest; `origin` is the code it was exchanged for, or the token it refreshes (same grant, same family)."""
    now = now or utcnow()
    code_id = origin.id if isinstance(origin, PartnerAuthorizationCode) else origin.code_id
    refresh = token.get("refresh_token")
    row = PartnerToken(partner_id=partner.id, grant_id=origin.grant_id, user_id=user.id, code_id=code_id,
                       access_token_hash=digest(token["access_token"]),
                       refresh_token_hash=digest(refresh) if refresh else None, scope=token.get("scope") or "",
                       issued_at=now, expires_at=now + timedelta(seconds=int(token["expires_in"])),
                       refresh_expires_at=now + REFRESH_TTL if refresh else None)
    db.session.add(row)
    db.session.flush()
    record_partner(partner.id, audit.PARTNER_TOKEN, [user.id], now=now)
    return row


_LIVE_ACCESS = select(PartnerToken).join(PartnerGrant, PartnerGrant.id == PartnerToken.grant_id) \
    .join(User, User.id == PartnerToken.user_id).where(
        PartnerGrant.revoked_at.is_(None), User.erased_at.is_(None), User.deactivated_at.is_(None))


def find_access(token: str) -> PartnerToken | None:
    """The token a partner's call carries, while its grant stands and the account is active (Authlib's
    validator then checks expiry, revocation and scope)."""
    return db.session.scalar(_LIVE_ACCESS.where(PartnerToken.access_token_hash == digest(token)))


def find_refresh(token: str) -> PartnerToken | None:
    return db.session.scalar(select(PartnerToken).where(PartnerToken.refresh_token_hash == digest(token)))


def refresh_live(row: PartnerToken, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (row.refresh_used_at is None and row.revoked_at is None and row.refresh_expires_at is not None
            and row.refresh_expires_at > now and person_of(row) is not None)


def claim_refresh(row: PartnerToken, now: datetime | None = None) -> bool:
    """Spend the refresh token (rotation); False when it was already spent."""
    claimed = db.session.execute(update(PartnerToken).where(
        PartnerToken.id == row.id, PartnerToken.refresh_used_at.is_(None), PartnerToken.revoked_at.is_(None))
        .values(refresh_used_at=now or utcnow()))
    return claimed.rowcount == 1


def find_any(token: str, hint: str | None) -> PartnerToken | None:
    """RFC 7009: the token to revoke, whichever kind (the hint only says where to look first)."""
    hashed = digest(token)
    if hint == ACCESS_TOKEN:
        where = PartnerToken.access_token_hash == hashed
    elif hint == REFRESH_TOKEN:
        where = PartnerToken.refresh_token_hash == hashed
    else:
        where = or_(PartnerToken.access_token_hash == hashed, PartnerToken.refresh_token_hash == hashed)
    return db.session.scalar(select(PartnerToken).where(where))


def revoke_family(row: PartnerAuthorizationCode | PartnerToken, *, now: datetime | None = None) -> None:
    """Every token issued from one authorization code (the first one and its refreshes) stops working:
    a revocation (RFC 7009: the whole grant a token came from), or a replayed code or refresh token."""
    now = now or utcnow()
    code_id = row.id if isinstance(row, PartnerAuthorizationCode) else row.code_id
    db.session.execute(update(PartnerToken).where(PartnerToken.code_id == code_id, PartnerToken.revoked_at.is_(None))
                       .values(revoked_at=now))
    db.session.execute(update(PartnerAuthorizationCode).where(PartnerAuthorizationCode.id == code_id,
                                                              PartnerAuthorizationCode.used_at.is_(None))
                       .values(used_at=now))
    record_partner(row.partner_id, audit.PARTNER_TOKEN_REVOKED, [row.user_id], now=now)
