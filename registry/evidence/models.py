"""Activity evidence: a resident's proof of an activity done outside this service, for one of their
registrations, reviewed by the 団体's staff (DESIGN.md "Premium in practice"); or a partner's report
of one (`source` "partner", API.md "Partners"), reviewed the same way unless the 団体 trusts it."""
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import UTCDateTime
from registry.extensions import db
from registry.registrations.models import TIES

KINDS = TIES + ("event",)
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
WITHDRAWN = "withdrawn"  # its registration ended before review: out of the queue, its file deleted
STATUSES = (PENDING, APPROVED, REJECTED, WITHDRAWN)
# A reason code that also deletes the file at once: the document shows the Individual Number.
INDIVIDUAL_NUMBER_VISIBLE = "individual_number_visible"
REASON_CODES = (INDIVIDUAL_NUMBER_VISIBLE,)
UPLOAD, PARTNER = "upload", "partner"  # where it came from: the person's upload, or a partner's report
SOURCES = (UPLOAD, PARTNER)


class ActivityEvidence(db.Model):
    __tablename__ = "activity_evidence"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'withdrawn')", name="status"),
        # Unreviewed items per person and 団体 (the bound on what one resident may have waiting).
        Index("ix_activity_evidence_user_org_pending", "user_id", "organization_code",
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")", name="kind"),
        CheckConstraint("file_type IS NULL OR file_type IN ('application/pdf', 'image/jpeg', 'image/png')",
                        name="file_type"),
        # Staff review queues: a 団体's evidence by status, oldest first.
        Index("ix_activity_evidence_org_status_created", "organization_code", "status", "created_at", "id"),
        Index("ix_activity_evidence_registration_created", "registration_id", "created_at", "id"),
        CheckConstraint("source IN ('upload', 'partner')", name="source"),
        # A partner's report is idempotent by its own id, per person (the same id for someone else is
        # another report, and answering with theirs would show one person's evidence to another).
        UniqueConstraint("partner_id", "user_id", "external_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrations.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    kind: Mapped[str] = mapped_column(String(20))
    done_on: Mapped[date] = mapped_column(Date)
    # Personal data: emptied when the account is erased.
    description: Mapped[str] = mapped_column(Text, default="")
    host_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(String(32))
    # The stored file (random name under UPLOAD_DIR), its type as judged from its content, its size.
    file_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    file_type: Mapped[str | None] = mapped_column(String(32))
    file_size: Mapped[int | None] = mapped_column(Integer)
    file_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(8), default=UPLOAD, server_default=UPLOAD)
    # A partner's report: the partner (registry.partners; no foreign key, so this domain stays below
    # it), its name when it reported, and its own id of the activity (emptied by erasure).
    partner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    partner_name: Mapped[str | None] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))

    @property
    def has_file(self) -> bool:
        return self.file_name is not None
