"""The audit service without HTTP: what one recorded read holds (ids only, each once, bounded), that it
is added to the session for the request's one commit (not flushed on its own), and that only admins
read the log, filtered by person or by reader."""
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest
from sqlalchemy import select

from registry.audit import service
from registry.audit.models import REGISTRANTS, AuditEntry
from registry.extensions import db
from tests.factories import HIDA, account, person, refused

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)


def test_a_read_records_who_what_and_whom_by_id_each_once():
    staff = account("staff", HIDA)
    a, b = uuid4(), uuid4()
    entry = service.record_read(staff, REGISTRANTS, [b, a, None, b], now=NOW)
    assert (entry.actor_id, entry.actor_role, entry.organization_code, entry.action, entry.at) == \
        (staff.id, "staff", HIDA, REGISTRANTS, NOW)
    assert entry.subject_ids == sorted([str(a), str(b)]) and entry.subject_count == 2


def test_an_entry_waits_for_the_requests_commit():
    entry = service.record_read(account("admin"), REGISTRANTS, [], organization_code=HIDA)
    assert entry in db.session.new  # added, not flushed: written with whatever else the request wrote
    assert (entry.organization_code, entry.subject_ids, entry.subject_count) == (HIDA, [], 0)
    db.session.rollback()
    assert db.session.scalars(select(AuditEntry)).all() == []  # a request that fails showed nothing


def test_a_large_page_keeps_the_first_ids_and_the_full_count():
    ids = [uuid4() for _ in range(service.MAX_IDS + 1)]
    entry = service.record_read(account("staff", HIDA), REGISTRANTS, ids)
    assert len(entry.subject_ids) == service.MAX_IDS == 500 and entry.subject_count == 501
    assert entry.subject_ids == sorted(str(i) for i in ids)[:500]


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError):
        service.record_read(account("staff", HIDA), "everything", [])


def test_only_admins_read_the_log_newest_first_filtered_by_person_or_reader():
    staff, other_staff, admin = account("staff", HIDA), account("staff", HIDA), account("admin")
    someone, nobody = person(), person()
    older = service.record_read(staff, REGISTRANTS, [someone.id], now=NOW)
    newer = service.record_read(other_staff, REGISTRANTS, [someone.id, uuid4()], now=NOW + timedelta(minutes=1))
    service.record_read(staff, REGISTRANTS, [], now=NOW + timedelta(minutes=2))
    for reader in (staff, account("national"), someone):
        assert refused(service.entries, reader) == (403, "forbidden")
    assert len(db.session.scalars(service.entries(admin)).all()) == 3
    assert [e.id for e in db.session.scalars(service.entries(admin, subject_id=someone.id))] == [newer.id, older.id]
    assert db.session.scalars(service.entries(admin, subject_id=nobody.id)).all() == []
    assert [e.id for e in db.session.scalars(service.entries(admin, subject_id=someone.id, actor_id=staff.id))] == \
        [older.id]
