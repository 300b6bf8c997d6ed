"""The evidence service without HTTP: its arguments (dates as dates, the file as bytes, the store and
the clock passed in), its refusals and their codes, and its transaction contract: it flushes, never
commits, and a stored file lives or dies with the transaction."""
import os
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from registry.audit.models import AuditEntry
from registry.evidence import service
from registry.evidence.models import INDIVIDUAL_NUMBER_VISIBLE, ActivityEvidence
from registry.extensions import db
from registry.notifications.models import Notification
from registry.registrations import service as registrations
from registry.registrations.models import Activity
from tests.evidence.conftest import stored
from tests.evidence.images import pdf
from tests.factories import GIFU, HIDA, TAKAYAMA, account, flushed_not_committed, person, refused

NOW = datetime(2028, 2, 29, 3, 0, tzinfo=timezone.utc)  # 2028-02-29 12:00 in Tokyo
TODAY = date(2028, 2, 29)


def _data(done_on=TODAY - timedelta(days=5), **fields) -> dict:
    return {"kind": "volunteer", "done_on": done_on, "description": "  雪かきの証明書  ",
            "host_name": "  飛騨市社会福祉協議会 ", **fields}


@pytest.fixture
def registered():
    """(person, their active registration with 飛騨市)."""
    user = person()
    return user, registrations.register(user, HIDA, ["volunteer"], now=NOW - timedelta(days=400))


def test_submit_keeps_what_was_sent_cleaned_and_flushes_without_committing(registered, store):
    user, reg = registered
    evidence = service.submit(user, reg.id, _data(), pdf(), store=store, now=NOW)
    assert (evidence.status, evidence.organization_code, evidence.user_id, evidence.created_at) == \
        ("pending", HIDA, user.id, NOW)
    assert (evidence.description, evidence.host_name) == ("雪かきの証明書", "飛騨市社会福祉協議会")
    assert (evidence.file_type, evidence.file_size) == ("application/pdf", len(pdf()))
    assert store.read(evidence.file_name) == pdf()
    assert flushed_not_committed(ActivityEvidence, evidence.id)
    assert stored(store) == []  # the rolled-back transaction took its file with it


def test_a_blank_host_name_is_none_and_no_file_stores_nothing(registered, store):
    user, reg = registered
    evidence = service.submit(user, reg.id, _data(host_name="   "), None, store=store, now=NOW)
    assert evidence.host_name is None and evidence.file_name is None and stored(store) == []


@pytest.mark.parametrize("done_on, accepted", [
    (TODAY, True),
    (date(2027, 2, 28), True),   # a year before 29 February: the 28th is still inside
    (date(2027, 2, 27), False),
    (TODAY + timedelta(days=1), False),
])
def test_done_on_within_the_12_months_before_the_clock_given(registered, store, done_on, accepted):
    user, reg = registered
    if accepted:
        assert service.submit(user, reg.id, _data(done_on), None, store=store, now=NOW).done_on == done_on
    else:
        assert refused(service.submit, user, reg.id, _data(done_on), pdf(), store=store, now=NOW) == \
            (422, "validation_error")
        assert stored(store) == []  # checked before anything is written


def test_refusals_store_nothing(registered, store, monkeypatch):
    user, reg = registered
    assert refused(service.submit, person(), reg.id, _data(), pdf(), store=store, now=NOW) == (404, "not_found")
    assert refused(service.submit, user, reg.id, _data(), b"GIF89a not accepted", store=store, now=NOW) == \
        (422, "unsupported_file")
    monkeypatch.setattr(service, "PENDING_LIMIT", 2)
    for _ in range(2):
        service.submit(user, reg.id, _data(), None, store=store, now=NOW)
    assert refused(service.submit, user, reg.id, _data(), pdf(), store=store, now=NOW) == (409, "invalid_state")
    registrations.withdraw(user, reg.id, now=NOW)
    assert refused(service.submit, user, reg.id, _data(), pdf(), store=store, now=NOW) == (409, "invalid_state")
    assert stored(store) == []


def test_approval_records_the_activity_once_on_its_date_and_tells_the_person(registered, store):
    user, reg = registered
    evidence = service.submit(user, reg.id, _data(date(2027, 3, 1)), None, store=store, now=NOW)
    staff = account("staff", HIDA)
    for outsider in (account("staff", TAKAYAMA), account("staff", GIFU), user):
        assert refused(service.approve, outsider, evidence.id, now=NOW) == (404, "not_found")
    decided = service.approve(staff, evidence.id, now=NOW)
    assert (decided.status, decided.decided_at, decided.decided_by) == ("approved", NOW, staff.id)
    activities = db.session.execute(select(Activity.organization_code, Activity.source, Activity.evidence_id,
                                           Activity.completed_on).where(Activity.user_id == user.id)).all()
    assert activities == [(HIDA, "evidence", evidence.id, date(2027, 3, 1))]
    assert registrations.activities_in_window(user.id, reg, TODAY) == 1
    assert refused(service.approve, staff, evidence.id, now=NOW) == (409, "invalid_state")
    assert refused(service.reject, staff, evidence.id, "x", store=store, now=NOW) == (409, "invalid_state")
    assert db.session.scalars(select(Notification.kind).where(Notification.user_id == user.id)).all() == \
        ["evidence_decided"]


def test_rejection_keeps_the_file_unless_it_shows_the_individual_number(registered, store):
    user, reg = registered
    kept = service.submit(user, reg.id, _data(), pdf(), store=store, now=NOW)
    dropped = service.submit(user, reg.id, _data(), pdf(), store=store, now=NOW)
    db.session.commit()  # the uploads' transaction
    staff = account("staff", HIDA)
    service.reject(staff, kept.id, "  日付が読めません ", store=store, now=NOW)
    name = dropped.file_name
    service.reject(staff, dropped.id, "番号が見えています", INDIVIDUAL_NUMBER_VISIBLE, store=store, now=NOW)
    assert (kept.status, kept.reason, kept.reason_code) == ("rejected", "日付が読めません", None)
    assert (dropped.file_name, dropped.file_deleted_at, dropped.reason_code) == \
        (None, NOW, INDIVIDUAL_NUMBER_VISIBLE)
    assert store.exists(name)  # deleted when the rejection commits, not before
    db.session.commit()
    assert not store.exists(name) and store.exists(kept.file_name)
    assert db.session.scalars(select(Activity)).all() == []


def test_what_staff_see_is_audited_and_owners_reading_their_own_is_not(registered, store):
    user, reg = registered
    evidence = service.submit(user, reg.id, _data(), pdf(), store=store, now=NOW)
    staff = account("staff", HIDA)
    assert service.get_visible(user, evidence.id) is evidence
    assert service.file_of(user, evidence.id, store=store) == (evidence, pdf())
    db.session.flush()
    assert db.session.scalars(select(AuditEntry)).all() == []  # owners reading their own: no entry
    assert refused(service.get_visible, account("staff", TAKAYAMA), evidence.id) == (404, "not_found")
    assert service.file_of(staff, evidence.id, store=store) == (evidence, pdf())
    db.session.flush()
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.subject_ids) == ("evidence_file", [str(user.id)])
    assert [e.id for e in service.for_staff(staff, "pending", page=1, per_page=50).items] == [evidence.id]
    assert service.for_staff(account("staff", TAKAYAMA), page=1, per_page=50).items == []
    db.session.flush()
    assert [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.at))].count("evidence") == 2


def test_erasure_rejects_the_pending_empties_the_text_and_drops_every_file(registered, store):
    user, reg = registered
    pending = service.submit(user, reg.id, _data(), pdf(), store=store, now=NOW)
    approved = service.submit(user, reg.id, _data(), pdf(), store=store, now=NOW)
    db.session.commit()
    service.approve(account("staff", HIDA), approved.id, now=NOW)
    later = NOW + timedelta(days=1)
    service.erase_for(user, now=later, store=store)
    assert (pending.status, pending.reason, pending.decided_at) == ("rejected", "account erased", later)
    assert approved.status == "approved" and approved.reason is None
    for evidence in (pending, approved):
        assert (evidence.description, evidence.host_name, evidence.file_name, evidence.file_deleted_at) == \
            ("", None, None, later)
    db.session.commit()
    assert stored(store) == []


def test_the_sweep_removes_old_files_nothing_refers_to(registered, store):
    user, reg = registered
    referenced = service.submit(user, reg.id, _data(), pdf(), store=store, now=NOW)
    old_orphan, new_orphan = store.save(pdf(), "application/pdf"), store.save(pdf(), "application/pdf")
    two_hours_ago = time.time() - 7200
    if hasattr(store, "path"):  # a folder: age two of the files
        for name in (referenced.file_name, old_orphan):
            os.utime(store.path(name), (two_hours_ago, two_hours_ago))
        later, removed = None, 1
    else:  # a bucket's objects cannot be aged: sweep two hours from now, when both orphans are old
        later, removed, new_orphan = datetime.now(timezone.utc) + timedelta(hours=2), 2, None
    assert service.sweep_orphans(store, grace=timedelta(hours=1), now=later) == removed
    assert store.exists(referenced.file_name) and not store.exists(old_orphan)
    assert new_orphan is None or store.exists(new_orphan)
