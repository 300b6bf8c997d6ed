"""The emergencies service without HTTP: it flushes and never commits, decides reach and ties in one
place each, records the audited read of offers, and takes urgent marks off when an emergency closes;
parallel offers by one person make one offer (PostgreSQL)."""
import uuid

import pytest
from sqlalchemy import func, select

from registry.audit.models import EMERGENCY_OFFERS, AuditEntry
from registry.emergencies import consoles, service, ties
from registry.emergencies.models import Emergency, Offer
from registry.extensions import db
from registry.needs import service as needs
from registry.needs.schemas import NeedCreateSchema
from registry.registrations import service as registrations
from tests.factories import (
    CHIYODA, GIFU, HIDA, NAHA, TAKAYAMA, account, flushed_not_committed, person, refused,
)
from tests.needs.conftest import need_body
from tests.parallel import auth, in_parallel, resident_token, staff_token


def test_declaring_flushes_and_never_commits():
    emergency = service.declare(account("staff", HIDA), "大雨", "支援を", [HIDA])
    assert flushed_not_committed(Emergency, emergency.id)


@pytest.mark.parametrize("role, own, code, allowed", [
    ("staff", HIDA, HIDA, True), ("staff", HIDA, TAKAYAMA, False), ("staff", HIDA, GIFU, False),
    ("staff", GIFU, GIFU, True), ("staff", GIFU, HIDA, True), ("staff", GIFU, CHIYODA, False),
    ("national", None, NAHA, True), ("host", HIDA, HIDA, False), ("admin", None, HIDA, False),
])
def test_reach(role, own, code, allowed):
    assert service.in_reach(account(role, own), code) is allowed


def test_refusals():
    resident = person()
    assert refused(service.declare, resident, "t", "m", [HIDA]) == (403, "forbidden")
    assert refused(service.declare, account("staff", HIDA), "t", "m", ["999999"]) == (422, "unknown_organization")
    emergency = service.declare(account("staff", HIDA), "t", "m", [HIDA])
    assert refused(service.make_offer, resident, emergency.id, {"kinds": ["remote"]}) == (403, "forbidden")
    assert refused(service.offers, account("national"), emergency.id, page=1, per_page=10) == (403, "forbidden")
    assert refused(service.close, account("staff", TAKAYAMA), emergency.id) == (403, "forbidden")
    assert refused(service.detail, None, uuid.uuid4()) == (404, "not_found")


def test_offers_once_each_and_an_audited_read():
    staff = account("staff", HIDA)
    emergency = service.declare(staff, "t", "m", [HIDA])
    someone = person()
    registrations.register(someone, HIDA, ["family"])
    first, created = service.make_offer(someone, emergency.id, {"kinds": ["lodging", "remote"], "skills": [" 看護 ", "看護"]})
    assert created and first.kinds == ["remote", "lodging"] and first.skills == ["看護"]  # in the catalogue's order
    again, created = service.make_offer(someone, emergency.id, {"kinds": ["donation"]})
    assert not created and again.id == first.id and again.kinds == ["donation"] and again.skills == []
    found = service.offers(staff, emergency.id, page=1, per_page=10)
    assert found.total == 1 and found.items[0]["email"] == someone.email
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == EMERGENCY_OFFERS))
    assert entry.subject_ids == [str(someone.id)] and entry.actor_id == staff.id


def test_ties_and_the_banner():
    gifu = service.declare(account("staff", GIFU), "県全域", "m", [GIFU])
    hida = service.declare(account("staff", HIDA), "飛騨", "m", [HIDA])
    of_takayama, of_gifu, of_hida = person(), person(), person()
    registrations.register(of_takayama, TAKAYAMA, ["family"])
    registrations.register(of_gifu, GIFU, ["family"])
    registrations.register(of_hida, HIDA, ["family"])
    assert [ties.is_tied(p, gifu.id) for p in (of_takayama, of_gifu, of_hida)] == [True, True, True]
    assert [ties.is_tied(p, hida.id) for p in (of_takayama, of_gifu, of_hida)] == [False, False, True]
    assert [e["id"] for e in consoles.touching(of_hida)] == [hida.id, gifu.id]  # newest first
    assert [e["id"] for e in consoles.touching(of_takayama)] == [gifu.id]
    assert consoles.touching(person()) == []
    service.close(account("national"), gifu.id)
    assert consoles.touching(of_takayama) == []


def test_closing_takes_the_urgent_marks_off_the_affected_団体_only():
    staff, chiyoda_staff = account("staff", HIDA), account("staff", CHIYODA)
    emergency = service.declare(staff, "t", "m", [HIDA])
    service.declare(chiyoda_staff, "t", "m", [CHIYODA])
    urgent = needs.create_need(staff, NeedCreateSchema().load(need_body(urgent=True)))
    elsewhere = needs.create_need(chiyoda_staff, NeedCreateSchema().load(need_body(organization_code=CHIYODA,
                                                                                   urgent=True)))
    service.close(staff, emergency.id)
    db.session.refresh(urgent)
    db.session.refresh(elsewhere)
    assert (urgent.urgent, elsewhere.urgent) == (False, True)


def test_the_progress_lines_for_the_command_line():
    emergency = service.declare(account("national"), "地震", "m", [HIDA, TAKAYAMA])
    [item] = consoles.progress_of_active()
    assert consoles.progress_lines(item) == [
        f"emergency {emergency.id} 「地震」 ({TAKAYAMA}, {HIDA}), 0 offer(s)",  # codes in order
        "  not yet fanned out: the next send-notifications starts it"]
    half = {**item, "recipients": 4, "notified": 2, "emailed": 1, "failed": 1}
    assert consoles.progress_lines(half)[1] == "  [############------------]  50.0%  notified 2 of 4, e-mailed 1, failed 1"


@pytest.mark.committing
@pytest.mark.postgres_only
def test_parallel_offers_by_one_person_make_one_offer(app):
    client = app.test_client()
    staff = staff_token(app, client)
    emergency = client.post("/api/v1/emergencies", headers=auth(staff),
                            json={"title": "t", "message": "m", "organization_codes": [HIDA]}).get_json()
    token = resident_token(client)
    assert client.post("/api/v1/registrations", headers=auth(token),
                       json={"organization_code": HIDA, "ties": ["family"]}).status_code == 201
    statuses = in_parallel(app, 8, lambda c, i: c.post(f"/api/v1/emergencies/{emergency['id']}/offers",
                                                        headers=auth(token), json={"kinds": ["remote"]}).status_code)
    assert sorted(statuses) == [200] * 7 + [201]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Offer)) == 1
