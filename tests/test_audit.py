"""Every staff, host or admin read of people's data is logged (who, what, whose, when) in the reading
request; only admins read the log; nobody changes it."""
import uuid

import pytest
from sqlalchemy import event, select

from registry.audit.models import (
    APPLICATIONS, CANDIDATES, EVIDENCE, EVIDENCE_FILE, HOSTS, IDENTITY_VERIFICATIONS, PREMIUM_REQUESTS,
    REGISTRANTS, AuditEntry,
)
from registry.common.time import utcnow
from registry.extensions import db
from tests.conftest import Browser
from tests.factories import HIDA, PASSWORD, TAKAYAMA
from tests.scenes import World, account

pytestmark = pytest.mark.usefixtures("upload_dir")  # evidence files in the test's own folder


@pytest.fixture
def world(api):
    return World(api)


def _entry_ids() -> set:
    return set(db.session.scalars(select(AuditEntry.id)))


def _new_entries(before: set) -> list[AuditEntry]:
    return sorted((e for e in db.session.scalars(select(AuditEntry)) if e.id not in before), key=lambda e: e.action)


REASON = {"reason": "書類が読めません"}
# (method, path, reader, body, action, the people read)
API_READS = [
    ("GET", "/organizations/212172/registrants", "staff", None, REGISTRANTS, ["a"]),  # b and c share nothing
    ("GET", "/needs/{need}/applications", "staff", None, APPLICATIONS, ["a", "c"]),
    ("GET", "/needs/{host_need}/applications", "host", None, APPLICATIONS, ["a"]),
    ("POST", "/applications/{application}/accept", "staff", None, APPLICATIONS, ["a"]),
    ("POST", "/applications/{host_application}/decline", "host", None, APPLICATIONS, ["a"]),
    ("POST", "/applications/{accepted}/complete", "staff", None, APPLICATIONS, ["c"]),
    ("POST", "/applications/{accepted}/no-show", "staff", None, APPLICATIONS, ["c"]),
    ("GET", "/needs/{need}/candidates", "staff", None, CANDIDATES, ["b"]),
    ("GET", "/needs/{host_need}/candidates", "host", None, CANDIDATES, ["b"]),
    ("GET", "/activity-evidence?status=pending", "staff", None, EVIDENCE, ["a"]),
    ("GET", "/activity-evidence/{evidence}", "staff", None, EVIDENCE, ["a"]),
    ("GET", "/activity-evidence/{evidence}/file", "staff", None, EVIDENCE_FILE, ["a"]),
    ("POST", "/activity-evidence/{evidence}/approve", "staff", None, EVIDENCE, ["a"]),
    ("POST", "/activity-evidence/{evidence}/reject", "staff", REASON, EVIDENCE, ["a"]),
    ("GET", "/premium-requests?status=pending", "staff", None, PREMIUM_REQUESTS, ["a"]),
    ("POST", "/premium-requests/{premium}/approve", "staff", None, PREMIUM_REQUESTS, ["a"]),
    ("POST", "/premium-requests/{premium}/reject", "staff", REASON, PREMIUM_REQUESTS, ["a"]),
    ("GET", "/identity-verifications?status=pending", "staff", None, IDENTITY_VERIFICATIONS, ["a"]),
    ("GET", "/identity-verifications?status=pending", "admin", None, IDENTITY_VERIFICATIONS, ["a"]),
    ("POST", "/identity-verifications/{verification}/confirm", "staff", None, IDENTITY_VERIFICATIONS, ["a"]),
    ("POST", "/identity-verifications/{verification}/reject", "admin", REASON, IDENTITY_VERIFICATIONS, ["a"]),
    ("GET", "/organizations/212172/hosts", "staff", None, HOSTS, ["host"]),
    ("GET", "/hosts/{host}", "staff", None, HOSTS, ["host"]),
    ("PATCH", "/hosts/{host}", "staff", {"trusted": False}, HOSTS, ["host"]),
]


@pytest.mark.parametrize("method, path, reader, body, action, subjects", API_READS,
                         ids=[f"{m} {p} by {r}" for m, p, r, *_ in API_READS])
def test_every_api_read_of_personal_data_is_audited(api, world, method, path, reader, body, action, subjects):
    actor = world.reader(reader)
    before, started = _entry_ids(), utcnow()
    response = api.call(method, path.format(**world.ids), token=actor.token, **({"json": body} if body else {}))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    [entry] = _new_entries(before)  # one entry per read
    assert (entry.actor_id, entry.actor_role, entry.action) == (uuid.UUID(actor.id), actor.role, action)
    assert entry.subject_ids == sorted(world.ids[s] for s in subjects) and entry.subject_count == len(subjects)
    assert entry.organization_code == (None if reader == "admin" and action != REGISTRANTS else HIDA)
    assert started <= entry.at <= utcnow()


@pytest.mark.parametrize("path, reader", [("/activity-evidence/{evidence}", "a"),
                                          ("/activity-evidence/{evidence}/file", "a"), ("/hosts/{host}", "host"),
                                          ("/me/applications", "a"), ("/me", "c")])
def test_reading_ones_own_data_is_not_audited(api, world, path, reader):
    before = _entry_ids()
    assert api.get(path.format(**world.ids), token=world.reader(reader).token).status_code == 200
    assert _new_entries(before) == []


PAGE_READS = [
    ("/staff", "staff", {PREMIUM_REQUESTS: ["a"], IDENTITY_VERIFICATIONS: ["a"], REGISTRANTS: ["a"],
                         EVIDENCE: ["a"]}),
    ("/staff/needs/{need}", "staff", {APPLICATIONS: ["a", "c"], CANDIDATES: ["b"]}),
    ("/staff/needs/{host_need}", "host", {APPLICATIONS: ["a"], CANDIDATES: ["b"]}),
    ("/host/needs/{host_need}", "host", {APPLICATIONS: ["a"]}),  # the check-in roster
    ("/staff/hosts", "staff", {HOSTS: ["host"]}),
]


@pytest.mark.parametrize("path, reader, reads", PAGE_READS, ids=[p for p, *_ in PAGE_READS])
def test_every_page_showing_personal_data_is_audited(app, world, path, reader, reads):
    actor = world.reader(reader)
    browser = Browser(app.test_client())
    assert browser.login(actor.email, PASSWORD).status_code == 302
    before = _entry_ids()
    page = browser.get(path.format(**world.ids))
    assert page.status_code == 200
    entries = _new_entries(before)
    assert {e.action: e.subject_ids for e in entries} == \
        {action: sorted(world.ids[s] for s in people) for action, people in reads.items()}
    assert all(e.actor_id == uuid.UUID(actor.id) and e.actor_role == actor.role for e in entries)


def test_a_page_of_four_reads_writes_them_in_one_insert(app, world):
    browser = Browser(app.test_client())
    browser.login(world.staff.email, PASSWORD)
    inserts = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_ENTRIES"):
            inserts.append(executemany)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert browser.get("/staff").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(inserts) == 1


@pytest.mark.parametrize("path", ["/organizations/212032/registrants", "/premium-requests",
                                  "/activity-evidence", "/identity-verifications", "/organizations/212032/hosts"])
def test_a_read_that_shows_nobody_is_recorded_too(api, path):
    """Who looked, and when, is worth knowing even when there was nobody to see (someone probing a
    list, paging past its end); the entry then names nobody."""
    staff = account(api, "staff", TAKAYAMA)
    before = _entry_ids()
    response = api.get(path, token=staff.token)
    assert response.status_code == 200 and response.get_json() == []
    [entry] = _new_entries(before)
    assert entry.subject_ids == [] and entry.subject_count == 0 and entry.actor_id == uuid.UUID(staff.id)


def test_a_refused_read_records_nothing(api, world):
    """A refused read (another 団体's need: 403) shows nothing and leaves no entry: the request rolls back."""
    other = account(api, "staff", TAKAYAMA)
    before = _entry_ids()
    assert api.get(f"/needs/{world.ids['need']}/applications", token=other.token).status_code == 403
    assert _new_entries(before) == []


def test_only_admins_read_the_log_and_filter_it_by_person(api, world):
    api.get("/organizations/212172/registrants", token=world.staff.token)
    api.get(f"/needs/{world.ids['need']}/candidates", token=world.staff.token)
    listed = api.get(f"/audit?subject_id={world.a.id}", token=world.admin.token).get_json()
    assert [e["action"] for e in listed] == [REGISTRANTS]
    assert listed[0]["actor_id"] == world.staff.id and listed[0]["subject_ids"] == [world.a.id]
    by_actor = api.get(f"/audit?actor_id={world.staff.id}", token=world.admin.token).get_json()
    assert [e["action"] for e in by_actor][:2] == [CANDIDATES, REGISTRANTS]  # newest first
    for reader in (world.staff, world.host, world.a, account(api, "national")):
        response = api.get("/audit", token=reader.token)
        assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    assert api.get("/audit").status_code == 401


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_nobody_can_write_change_or_delete_an_entry(api, world, method):
    before = _entry_ids()
    api.get("/organizations/212172/registrants", token=world.staff.token)
    [entry] = _new_entries(before)
    snapshot = (entry.actor_id, entry.action, entry.subject_ids, entry.at)
    count = len(before) + 1
    for reader in (world.admin, world.staff):
        for path in ("/audit", f"/audit/{entry.id}"):
            response = api.call(method, path, token=reader.token, json={"subject_ids": []})
            assert response.status_code in (404, 405), (method, path, response.status_code)
    db.session.refresh(entry)
    assert (entry.actor_id, entry.action, entry.subject_ids, entry.at) == snapshot
    assert len(_entry_ids()) == count


def test_no_route_writes_the_audit_log(app):
    """The log's only route reads; no page touches it."""
    routes = [rule for rule in app.url_map.iter_rules() if "audit" in rule.rule or rule.endpoint.startswith("audit")]
    assert routes and all(rule.methods <= {"GET", "HEAD", "OPTIONS"} for rule in routes), \
        [(r.rule, r.methods) for r in routes]


def test_erasure_leaves_only_a_pseudonymous_id(api, world):
    api.get("/organizations/212172/registrants", token=world.staff.token)
    assert api.delete("/me", token=world.a.token).status_code == 204
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == REGISTRANTS)).one()
    assert entry.subject_ids == [world.a.id]  # the id stays; nothing in it names the person
    assert "閲覧される人" not in str(entry.__dict__) and world.a.email not in str(entry.__dict__)

