"""Accounts: residents, staff, hosts, the national office, admins; their bearer tokens."""
import secrets
import uuid
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import JSONList, UTCDateTime
from registry.extensions import db


def new_session_nonce() -> str:
    return secrets.token_hex(8)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('resident', 'staff', 'host', 'national', 'admin')", name="role"),
        CheckConstraint("role NOT IN ('staff', 'host') OR organization_code IS NOT NULL "
                        "OR erased_at IS NOT NULL", name="staff_organization"),
        # Only the accounts of a 団体 (staff, hosts) have one: residents, nearly every row, are left
        # out of the index (no query looks for a missing organization, and every signup, seed and
        # roster import would write an entry for it).
        Index("ix_users_organization_code_set", "organization_code",
              postgresql_where=text("organization_code IS NOT NULL"),
              sqlite_where=text("organization_code IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Personal data: every column in this block is erased by DELETE /me.
    email: Mapped[str | None] = mapped_column(String(254))
    # email lower-cased: e-mail addresses compare case-insensitively (API.md).
    email_key: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(100))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    skills: Mapped[list] = mapped_column(JSONList, default=list)
    interests: Mapped[list] = mapped_column(JSONList, default=list)
    availability: Mapped[str | None] = mapped_column(String(16))

    role: Mapped[str] = mapped_column(String(16), default="resident")
    organization_code: Mapped[str | None] = mapped_column(ForeignKey("organizations.code"))
    home_municipality_code: Mapped[str | None] = mapped_column(ForeignKey("organizations.code"))
    guardian_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_share_profile: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_scouting: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_announcements: Mapped[bool] = mapped_column(Boolean, default=False)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of the session cookie's id: rotating it signs every browser out.
    session_nonce: Mapped[str] = mapped_column(String(32), default=new_session_nonce)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:  # Flask-Login: inactive users cannot sign in
        return self.erased_at is None and self.deactivated_at is None

    def get_id(self) -> str:  # Flask-Login session id
        return f"{self.id}:{self.session_nonce}"

    @property
    def consents(self) -> dict:
        return {"share_profile": self.consent_share_profile, "scouting": self.consent_scouting,
                "announcements": self.consent_announcements}


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored (it is 256 random bits, so no slow hash is needed)."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(db.Model):
    """A signed-in browser (the pages' session cookie carries the raw id, 256 random bits; only its
    SHA-256 is stored). Signing out ends it here, so a copy of the cookie opens nothing afterwards."""

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(db.Model):
    """Failed sign-ins per e-mail address (whether or not an account has it, so the back-off does
    not reveal which addresses exist)."""

    __tablename__ = "login_throttles"

    email_key: Mapped[str] = mapped_column(String(254), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


# One-time set-password links (links.py): a host's invitation, a roster import's invitation, a reset.
HOST_INVITATION, ROSTER_INVITATION, PASSWORD_RESET = "host_invitation", "roster_invitation", "password_reset"
PURPOSES = (HOST_INVITATION, ROSTER_INVITATION, PASSWORD_RESET)


class SetPasswordToken(db.Model):
    """A link `<site>/set-password?token=T` that sets the account's password once. Only the token's
    SHA-256 is stored (it is 256 random bits, so no slow hash is needed); `used_at` makes it single
    use, `expires_at` ends it, `subject_id` may name what the link also accepts (a roster
    invitation's id)."""

    __tablename__ = "set_password_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('host_invitation', 'roster_invitation', 'password_reset')", name="purpose"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(24))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
