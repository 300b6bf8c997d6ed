"""Partners (連携サービス): platforms that report activities for a person who allowed it, through
OAuth 2.0 (API.md "Partners"). The models implement Authlib's client, code and token interfaces
(authlib.oauth2.rfc6749 ClientMixin, AuthorizationCodeMixin, TokenMixin) over rows that keep only
digests of every secret:

- a partner's client secret is 256 random bits; only its SHA-256 is kept. A slow hash (argon2, as
  for passwords) protects guessable secrets; nobody guesses 256 random bits, and a partner
  authenticates on every token request (a code exchange per person, a refresh every hour), where
  argon2's quarter second of CPU per request would buy nothing;
- access tokens, refresh tokens and authorization codes: only their SHA-256, for the same reason.
"""
import hashlib
import hmac
import uuid
from datetime import datetime

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import JSONList, UTCDateTime
from registry.extensions import db

REGISTRATIONS_READ, ACTIVITIES_WRITE = "registrations:read", "activities:write"
SCOPES = (REGISTRATIONS_READ, ACTIVITIES_WRITE)
AUTHORIZATION_CODE, REFRESH_TOKEN = "authorization_code", "refresh_token"
CLIENT_SECRET_BASIC = "client_secret_basic"  # HTTP Basic with the client id and secret (API.md)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Partner(ClientMixin, db.Model):
    """An OAuth client, made by an operator (`create-partner`). Its `client_id` is its id."""

    __tablename__ = "partners"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    # Compared string for string: a redirect URI that is not exactly one of these is never used.
    redirect_uris: Mapped[list] = mapped_column(JSONList)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def client_id(self) -> str:
        return str(self.id)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self):
        return None  # `redirect_uri` is required on every authorization request

    def get_allowed_scope(self, scope):
        """The requested scopes this server knows; None (invalid_scope) when none is asked for."""
        asked = [s for s in (scope or "").split() if s in SCOPES]
        return " ".join(dict.fromkeys(asked)) or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == CLIENT_SECRET_BASIC

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (AUTHORIZATION_CODE, REFRESH_TOKEN)


class PartnerGrant(db.Model):
    """A person's consent to one partner: one row per (person, partner), the scopes allowed; revoked
    from /my (or DELETE /me/partner-grants/{id}), when every token of it stops working at once."""

    __tablename__ = "partner_grants"
    __table_args__ = (UniqueConstraint("user_id", "partner_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    scopes: Mapped[list] = mapped_column(JSONList)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PartnerAuthorizationCode(AuthorizationCodeMixin, db.Model):
    """An authorization code: single use (`used_at`, set by a conditional UPDATE), 10 minutes, bound
    to the partner, the redirect URI and the PKCE challenge (S256)."""

    __tablename__ = "partner_authorization_codes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partner_grants.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(100))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class PartnerToken(TokenMixin, db.Model):
    """An access token (an hour) with its refresh token. Refreshing rotates: the old refresh token is
    spent (`refresh_used_at`); one presented again revokes every token issued from the same code
    (`code_id`, the token family), as does a code presented twice."""

    __tablename__ = "partner_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partner_grants.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    code_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partner_authorization_codes.id"), index=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def check_client(self, client: Partner) -> bool:
        return self.partner_id == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class TrustedPartner(db.Model):
    """A 団体 that counts a partner's reports without review (staff of the 団体 decide)."""

    __tablename__ = "trusted_partners"
    __table_args__ = (Index("ix_trusted_partners_partner_id", "partner_id"),)

    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    trusted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    trusted_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
