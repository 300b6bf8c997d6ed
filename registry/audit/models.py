"""Who read whose personal data, when: append-only; staff have no way to change it."""
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
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
ACTIONS = (REGISTRANTS, APPLICATIONS, CANDIDATES, EVIDENCE, EVIDENCE_FILE, PREMIUM_REQUESTS,
           IDENTITY_VERIFICATIONS, HOSTS, EMERGENCY_OFFERS)


class AuditEntry(db.Model):
    """`subject_ids` are user ids: pseudonymous once a person erases their account (the user row
    then holds no personal data)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_actor_at", "actor_id", "at"),
                      Index("ix_audit_entries_org_at", "organization_code", "at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(16))
    organization_code: Mapped[str | None] = mapped_column(String(6))
    action: Mapped[str] = mapped_column(String(32))
    subject_ids: Mapped[list] = mapped_column(JSONList, default=list)
    subject_count: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
