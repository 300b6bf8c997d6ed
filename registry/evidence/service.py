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
    APPROVED, INDIVIDUAL_NUMBER_VISIBLE, PARTNER, PENDING, REJECTED, WITHDRAWN, ActivityEvidence,
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
    _check_day(done_on, today)
    content_type = cleaned = None
    if upload is not None:
        try:
            content_type, cleaned = files.clean(upload)
        except files.UnsupportedFile:
            raise Problem(422, "unsupported_file", errors={"file": [N_("Send a PDF, JPEG or PNG file.")]})
    _check_waiting(user, reg.organization_code)
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


def _check_day(done_on, today) -> None:
    if done_on > today:
        raise validation_error({"done_on": [N_("The date is in the future.")]})
    if done_on < one_year_before(today):
        raise validation_error({"done_on": [N_("The date is more than 12 months ago.")]})


def _check_waiting(user: User, organization_code: str) -> None:
    """The review queue holds at most PENDING_LIMIT items of one person for one 団体."""
    waiting = db.session.scalar(select(func.count(ActivityEvidence.id)).where(
        ActivityEvidence.user_id == user.id, ActivityEvidence.organization_code == organization_code,
        ActivityEvidence.status == PENDING))
    if waiting >= PENDING_LIMIT:
        raise Problem(409, "invalid_state", N_("Too many items are waiting for review with this 団体."))


def _reported(user: User, partner_id: uuid.UUID, external_id: str) -> ActivityEvidence | None:
    return db.session.scalar(select(ActivityEvidence).where(
        ActivityEvidence.partner_id == partner_id, ActivityEvidence.user_id == user.id,
        ActivityEvidence.external_id == external_id))


def report(user: User, data: dict, *, partner_id: uuid.UUID, partner_name: str, trusted: bool,
           now: datetime | None = None) -> tuple[ActivityEvidence, bool]:
    """A partner's report of an activity (POST /partner/activities): evidence with `source`
    "partner" for the person's active registration with `organization_code`, under the rules of
    uploaded evidence (the day, the review queue's bound). Approved at once, recording the designated
    activity exactly as a staff approval does, when the 団体 trusts the partner (`trusted`).

    Idempotent by the partner's `external_id` for this person: the same id again answers the first
    report. Answers (evidence, whether it was made now)."""
    now = now or utcnow()
    external_id = data["external_id"]
    earlier = _reported(user, partner_id, external_id)
    if earlier is not None:
        return earlier, False
    code = data["organization_code"]
    reg = next((r for r in registrations.active_registrations(user) if r.organization_code == code), None)
    if reg is None:
        raise Problem(422, "not_registered", N_("The person has no active registration with this 団体."),
                      errors={"organization_code": [N_("The person has no active registration with this 団体.")]})
    _check_day(data["done_on"], today_tokyo(now))
    if not trusted:
        _check_waiting(user, reg.organization_code)
    evidence = ActivityEvidence(registration_id=reg.id, user_id=user.id, organization_code=reg.organization_code,
                                kind=data["kind"], done_on=data["done_on"], description=data["title"].strip(),
                                status=PENDING, created_at=now, source=PARTNER, partner_id=partner_id,
                                partner_name=partner_name, external_id=external_id)
    try:
        with db.session.begin_nested():  # the same report twice at once: the unique index decides
            db.session.add(evidence)
            db.session.flush()
    except IntegrityError:
        return _reported(user, partner_id, external_id), False
    if trusted:
        _approve(evidence, user, decided_by=None, now=now)
    return evidence, True


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
    _approve(evidence, db.session.get(User, evidence.user_id), decided_by=staff.id, now=now)
    return _shown(staff, [evidence])[0] if shown else evidence


def _approve(evidence: ActivityEvidence, user: User, *, decided_by: uuid.UUID | None, now: datetime) -> None:
    """The designated activity on `done_on` (by staff, or at once for a trusted partner's report)."""
    try:
        with db.session.begin_nested():  # once per evidence item (unique index), also without row locks
            registrations.record_activity(user, evidence.organization_code, evidence.done_on, source="evidence",
                                          evidence_id=evidence.id, now=now)
    except IntegrityError:
        raise Problem(409, "invalid_state", N_("This evidence has already been decided."))
    evidence.status, evidence.decided_at, evidence.decided_by = APPROVED, now, decided_by
    db.session.flush()
    evidence_events.announce(evidence_events.EvidenceEvent(evidence_events.APPROVED, evidence.user_id,
                                                           evidence.organization_code, now))
    notices.evidence_decided(user, evidence, _organization_name(evidence.organization_code), now=now)


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
        evidence.description, evidence.host_name, evidence.external_id = "", None, None
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
