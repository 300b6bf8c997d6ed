"""Who read whose personal data, when: append-only; staff have no way to change it."""
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import JSONList, UTCDateTime
from registry.extensions import db

# What was read (`action`): one kind per sort of personal data a staff, host or admin account is shown.
REGISTRANTS = "registrants"  # a 団体's registrants (profiles shared by consent)
APPLICATIONS = "applications"  # a need's applicants with their messages (also the check-in roster)
CANDIDATES = "candidates"  # people recommended for a need
EVIDENCE = "evidence"  # activity evidence (what, when, with whom)
EVIDENCE_FILE = "evidence_file"  # the uploaded document itself
PREMIUM_REQUESTS = "premium_requests"
IDENTITY_VERIFICATIONS = "identity_verifications"
HOSTS = "hosts"  # hosts' contact people (name, e-mail)
EMERGENCY_OFFERS = "emergency_offers"  # offers of help in an emergency, with each person's e-mail
# Partners (連携サービス): what a partner did for a person (its calls), what a person allowed or
# withdrew, and which partners a 団体's staff trust.
PARTNER_TOKEN = "partner_token"  # a token issued (a code exchanged, or a refresh)
PARTNER_TOKEN_REVOKED = "partner_token_revoked"  # by the partner (RFC 7009), or a code or refresh token replayed
PARTNER_REGISTRATIONS = "partner_registrations"  # GET /partner/me
PARTNER_ACTIVITY = "partner_activity"  # POST /partner/activities
PARTNER_GRANTED = "partner_granted"  # the person allowed a partner (the consent page)
PARTNER_GRANT_REVOKED = "partner_grant_revoked"  # the person withdrew it
PARTNER_TRUSTED = "partner_trusted"  # staff: a partner's reports count without review (no subjects)
PARTNER_UNTRUSTED = "partner_untrusted"
PARTNER_ACTIONS = (PARTNER_TOKEN, PARTNER_TOKEN_REVOKED, PARTNER_REGISTRATIONS, PARTNER_ACTIVITY, PARTNER_GRANTED,
                   PARTNER_GRANT_REVOKED, PARTNER_TRUSTED, PARTNER_UNTRUSTED)
ACTIONS = (REGISTRANTS, APPLICATIONS, CANDIDATES, EVIDENCE, EVIDENCE_FILE, PREMIUM_REQUESTS,
           IDENTITY_VERIFICATIONS, HOSTS, EMERGENCY_OFFERS) + PARTNER_ACTIONS
PARTNER_ROLE = "partner"  # `actor_role` of an entry whose actor is a partner (its id in `partner_id`)


class AuditEntry(db.Model):
    """`subject_ids` are user ids: pseudonymous once a person erases their account (the user row
    then holds no personal data). The actor is an account (`actor_id`) or a partner (`partner_id`,
    with `actor_role` "partner"), never both."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_actor_at", "actor_id", "at"),
                      Index("ix_audit_entries_org_at", "organization_code", "at"),
                      Index("ix_audit_entries_partner_at", "partner_id", "at"),
                      CheckConstraint("(actor_id IS NULL) <> (partner_id IS NULL)", name="one_actor"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # A partner (registry.partners) as the actor; no foreign key, so the audit log stays below the
    # partners domain (partners are never deleted).
    partner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_role: Mapped[str] = mapped_column(String(16))
    organization_code: Mapped[str | None] = mapped_column(String(6))
    action: Mapped[str] = mapped_column(String(32))
    subject_ids: Mapped[list] = mapped_column(JSONList, default=list)
    subject_count: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def acting_id(self) -> uuid.UUID:
        """Whoever acted: the account, or the partner (its client id)."""
        return self.actor_id if self.actor_id is not None else self.partner_id
