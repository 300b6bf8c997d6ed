"""Activity evidence: submitted by a registrant for one of their registrations, reviewed by the
団体's staff; an approved item is a designated activity on its date, exactly like a completed need.

Functions flush; the request commits. Files follow the transaction (files.py): nothing is stored
when a check fails, and a file rejected for showing the Individual Number is deleted as the
rejection commits.
"""
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from registry.accounts.models import User
from registry.audit import models as audit
from registry.audit.service import record_read
from registry.common.auth import STAFF
from registry.common.pagination import Page, page_of
from registry.i18n import N_
from registry.common.time import one_year_before, today_tokyo, utcnow
from registry.errors import Problem, not_found, validation_error
from registry.evidence import events as evidence_events, files, notices
from registry.evidence.files import Store
from registry.evidence.models import (
    APPROVED, INDIVIDUAL_NUMBER_VISIBLE, PENDING, REJECTED, WITHDRAWN, ActivityEvidence,
)
from registry.extensions import db
from registry.organizations.models import Organization
from registry.registrations import events, service as registrations
from registry.registrations.models import ACTIVE

# Unreviewed items one person may have waiting with one 団体 at a time, whatever their registrations
# there (each may carry a 5 MB file; withdrawing and registering again does not reset it).
PENDING_LIMIT = 20


def submit(user: User, registration_id: uuid.UUID, data: dict, upload: bytes | None, *, store: Store,
           now: datetime | None = None) -> ActivityEvidence:
    """POST /registrations/{id}/activity-evidence. `upload` is the file's bytes (size already
    checked), None without a file."""
    now = now or utcnow()
    today = today_tokyo(now)
    reg = registrations.get_owned(user, registration_id)  # someone else's or unknown: 404
    if reg.status != ACTIVE:
        raise Problem(409, "invalid_state", N_("This registration is no longer active."))
    done_on = data["done_on"]
    if done_on > today:
        raise validation_error({"done_on": [N_("The date is in the future.")]})
    if done_on < one_year_before(today):
        raise validation_error({"done_on": [N_("The date is more than 12 months ago.")]})
    content_type = cleaned = None
    if upload is not None:
        try:
            content_type, cleaned = files.clean(upload)
        except files.UnsupportedFile:
            raise Problem(422, "unsupported_file", errors={"file": [N_("Send a PDF, JPEG or PNG file.")]})
    waiting = db.session.scalar(select(func.count(ActivityEvidence.id)).where(
        ActivityEvidence.user_id == user.id, ActivityEvidence.organization_code == reg.organization_code,
        ActivityEvidence.status == PENDING))
    if waiting >= PENDING_LIMIT:
        raise Problem(409, "invalid_state", N_("Too many items are waiting for review with this 団体."))
    evidence = ActivityEvidence(registration_id=reg.id, user_id=user.id, organization_code=reg.organization_code,
                                kind=data["kind"], done_on=done_on, description=data["description"].strip(),
                                host_name=(data.get("host_name") or "").strip() or None, status=PENDING,
                                created_at=now)
    if cleaned is not None:
        name = store.save(cleaned, content_type)  # the last step: every check has passed
        files.written(db.session, store, name)
        evidence.file_name, evidence.file_type, evidence.file_size = name, content_type, len(cleaned)
    db.session.add(evidence)
    db.session.flush()
    return evidence


def of_registration(user: User, registration_id: uuid.UUID):
    """The owner's evidence for a registration, oldest first."""
    reg = registrations.get_owned(user, registration_id)
    return select(ActivityEvidence).where(ActivityEvidence.registration_id == reg.id) \
        .order_by(ActivityEvidence.created_at, ActivityEvidence.id)


def for_staff(staff: User, status: str | None = None, *, page: int, per_page: int) -> Page:
    """A page of the evidence for the staff's 団体, oldest first (a review queue): the read is audited."""
    stmt = select(ActivityEvidence).where(ActivityEvidence.organization_code == staff.organization_code)
    if status:
        stmt = stmt.where(ActivityEvidence.status == status)
    found = page_of(stmt.order_by(ActivityEvidence.created_at, ActivityEvidence.id), page, per_page)
    _shown(staff, found.items)
    return found


def _is_staff_of(actor: User, evidence: ActivityEvidence) -> bool:
    return actor.role == STAFF and actor.organization_code == evidence.organization_code


def _visible(actor: User, evidence_id: uuid.UUID) -> ActivityEvidence:
    evidence = db.session.get(ActivityEvidence, evidence_id)
    if evidence is None or not (evidence.user_id == actor.id or _is_staff_of(actor, evidence)):
        raise not_found()
    return evidence


def get_visible(actor: User, evidence_id: uuid.UUID) -> ActivityEvidence:
    """The owner's, or the 団体's staff's (an audited read); 404 for anyone else."""
    evidence = _visible(actor, evidence_id)
    _shown(actor, [evidence])
    return evidence


def file_of(actor: User, evidence_id: uuid.UUID, *, store: Store) -> tuple[ActivityEvidence, bytes]:
    """The uploaded document, to its owner and the 団体's staff (an audited read)."""
    evidence = _visible(actor, evidence_id)
    content = store.read(evidence.file_name) if evidence.file_name else None
    if content is None:
        raise not_found()
    _shown(actor, [evidence], file=True)
    return evidence, content


def _shown(actor: User, items: list[ActivityEvidence], *, file: bool = False) -> list:
    """Evidence (with `file`, its uploaded document) shown to the 団体's staff: the read is audited.
    Owners reading their own are not."""
    if actor.role == STAFF:
        record_read(actor, audit.EVIDENCE_FILE if file else audit.EVIDENCE, [e.user_id for e in items])
    return items


def _staff_evidence(staff: User, evidence_id: uuid.UUID) -> ActivityEvidence:
    evidence = db.session.get(ActivityEvidence, evidence_id, with_for_update=True, populate_existing=True)
    if evidence is None or not _is_staff_of(staff, evidence):
        raise not_found()
    if evidence.status != PENDING:
        raise Problem(409, "invalid_state", N_("This evidence has already been decided."))
    return evidence


def _organization_name(code: str) -> str:
    return db.session.get(Organization, code).name


def approve(staff: User, evidence_id: uuid.UUID, *, now: datetime | None = None,
            shown: bool = False) -> ActivityEvidence:
    """Records the designated activity on `done_on` for the registration's 団体. `shown`: the decided
    item is handed to the reader (the API answers with it), so the read is audited."""
    now = now or utcnow()
    evidence = _staff_evidence(staff, evidence_id)
    user = db.session.get(User, evidence.user_id)
    try:
        with db.session.begin_nested():  # once per evidence item (unique index), also without row locks
            registrations.record_activity(user, evidence.organization_code, evidence.done_on, source="evidence",
                                          evidence_id=evidence.id, now=now)
    except IntegrityError:
        raise Problem(409, "invalid_state", N_("This evidence has already been decided."))
    evidence.status, evidence.decided_at, evidence.decided_by = APPROVED, now, staff.id
    db.session.flush()
    evidence_events.announce(evidence_events.EvidenceEvent(evidence_events.APPROVED, evidence.user_id,
                                                           evidence.organization_code, now))
    notices.evidence_decided(user, evidence, _organization_name(evidence.organization_code), now=now)
    return _shown(staff, [evidence])[0] if shown else evidence


def reject(staff: User, evidence_id: uuid.UUID, reason: str, reason_code: str | None = None, *,
           store: Store, now: datetime | None = None, shown: bool = False) -> ActivityEvidence:
    """Rejects with a reason; `individual_number_visible` also deletes the file at once. `shown`: as
    for `approve`."""
    now = now or utcnow()
    evidence = _staff_evidence(staff, evidence_id)
    evidence.status, evidence.reason, evidence.reason_code = REJECTED, reason.strip(), reason_code
    evidence.decided_at, evidence.decided_by = now, staff.id
    if reason_code == INDIVIDUAL_NUMBER_VISIBLE:
        _drop_file(evidence, store, now)
    db.session.flush()
    user = db.session.get(User, evidence.user_id)
    notices.evidence_decided(user, evidence, _organization_name(evidence.organization_code), now=now)
    return _shown(staff, [evidence])[0] if shown else evidence


def _drop_file(evidence: ActivityEvidence, store: Store, now: datetime) -> None:
    if evidence.file_name:
        files.delete_on_commit(db.session, store, evidence.file_name)
        evidence.file_name, evidence.file_deleted_at = None, now


def erase_for(user: User, *, now: datetime | None = None, store: Store | None = None) -> None:
    """DELETE /me: pending evidence is rejected, every file deleted, the free text (the person's and
    staff's reasons about it) emptied; what remains (kind, date, status) keeps approved activities
    explainable without personal data."""
    now = now or utcnow()
    store = store or files.current_store()
    for evidence in db.session.scalars(select(ActivityEvidence).where(ActivityEvidence.user_id == user.id)
                                       .with_for_update()):
        evidence.reason = None
        if evidence.status == PENDING:
            evidence.status, evidence.reason, evidence.decided_at = REJECTED, "account erased", now
        _drop_file(evidence, store, now)
        evidence.description, evidence.host_name = "", None
    db.session.flush()


def subscribe() -> None:
    """Called by create_app: evidence follows its registration's end (idempotent)."""
    events.changed.connect(_on_registration_change)


def _on_registration_change(change) -> None:
    if change.kind in (events.WITHDRAWN, events.MOVED_IN) and change.registration_id is not None:
        withdraw_pending(change.registration_id, now=change.now)


def withdraw_pending(registration_id: uuid.UUID, *, now: datetime | None = None, store: Store | None = None) -> int:
    """A registration ended (withdrawn, moved in): its evidence still waiting for review leaves the
    staff's queue as `withdrawn`, and its files are deleted when the transaction commits. Answers how
    many."""
    now = now or utcnow()
    store = store or files.current_store()
    pending = list(db.session.scalars(select(ActivityEvidence).where(
        ActivityEvidence.registration_id == registration_id, ActivityEvidence.status == PENDING).with_for_update()))
    for evidence in pending:
        evidence.status, evidence.reason, evidence.decided_at = WITHDRAWN, "registration ended", now
        _drop_file(evidence, store, now)
    db.session.flush()
    return len(pending)


def sweep_orphans(store: Store, *, now: datetime | None = None, grace: timedelta = timedelta(hours=1)) -> int:
    """Deletes stored files no evidence refers to (left by a crash between a commit and its file
    deletion, or before an upload's commit), once older than `grace`. Answers how many."""
    now = now or utcnow()
    candidates = [name for name, modified in store.names() if now - modified > grace]
    removed = 0
    for start in range(0, len(candidates), 500):
        chunk = candidates[start:start + 500]
        referenced = set(db.session.scalars(select(ActivityEvidence.file_name)
                                            .where(ActivityEvidence.file_name.in_(chunk))))
        for name in chunk:
            if name not in referenced:
                store.delete(name)
                removed += 1
    return removed
