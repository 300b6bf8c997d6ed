"""What a partner does with a person's token (/api/v1/partner/*), the person's grants, a 団体's trusted
partners, and the wall between partners' tokens and accounts' tokens, through the API."""
import base64
import uuid

import pytest
from sqlalchemy import select

from registry.audit.models import AuditEntry
from registry.extensions import db
from registry.partners.models import PartnerGrant
from tests.conftest import Browser
from tests.factories import GERO, HIDA, PASSWORD, TAKAYAMA, days
from tests.partners.conftest import code_for, exchange, refresh
from tests.scenes import account


def report(**fields) -> dict:
    return {"organization_code": HIDA, "done_on": days(-3), "title": "古川町の雪かき（ヒダスケ!）", "kind": "volunteer",
            "external_id": "hidasuke-2027-0001", **fields}


@pytest.fixture
def connected(connect, partner, resident_with_browser):
    """(the person, their partner token response)."""
    return resident_with_browser, connect(resident_with_browser, partner)


# --- /partner/me ------------------------------------------------------------------------------------------------

def test_partner_me_shows_registrations_and_nothing_else(api, connected):
    person, token = connected
    api.post("/registrations", token=person.token, json={"organization_code": TAKAYAMA, "ties": ["family"]})
    body = api.get("/partner/me", token=token["access_token"]).get_json()
    assert set(body) == {"registrations"}
    assert [r["organization_code"] for r in body["registrations"]] == [HIDA, TAKAYAMA]
    for row in body["registrations"]:
        assert set(row) == {"organization_code", "tier", "registered_at"} and row["tier"] == "basic"
        assert row["registered_at"].endswith("+09:00")


def test_each_endpoint_needs_its_scope(api, connect, partner, resident_with_browser):
    reader = connect(resident_with_browser, partner, scope="registrations:read")
    refused = api.post("/partner/activities", token=reader["access_token"], json=report())
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    writer = connect(resident_with_browser, partner, scope="activities:write")
    assert api.get("/partner/me", token=writer["access_token"]).status_code == 403
    assert api.post("/partner/activities", token=writer["access_token"], json=report()).status_code == 201


# --- /partner/activities ----------------------------------------------------------------------------------------

def test_a_report_waits_for_review_and_then_counts_like_uploaded_evidence(app, api, staff, connected, partner):
    person, token = connected
    created = api.post("/partner/activities", token=token["access_token"], json=report())
    assert created.status_code == 201
    evidence = created.get_json()
    assert evidence["source"] == "partner" and evidence["partner_name"] == partner.name
    assert evidence["status"] == "pending" and evidence["description"] == "古川町の雪かき（ヒダスケ!）"
    assert evidence["external_id"] == "hidasuke-2027-0001" and evidence["has_file"] is False
    queue = api.get("/activity-evidence?status=pending", token=staff).get_json()
    assert [e["id"] for e in queue] == [evidence["id"]] and queue[0]["source"] == "partner"
    staff_page = Browser(app.test_client())
    reviewer = account(api, "staff", HIDA)
    assert staff_page.login(reviewer.email, PASSWORD).status_code == 302
    assert "ヒダスケ!からの報告" in staff_page.get("/staff").get_data(as_text=True)
    assert api.get("/me/activities", token=person.token).get_json() == []
    assert api.post(f"/activity-evidence/{evidence['id']}/approve", token=staff).status_code == 200
    activities = api.get("/me/activities", token=person.token).get_json()
    assert [(a["source"], a["evidence_id"], a["completed_on"]) for a in activities] == \
        [("evidence", evidence["id"], days(-3))]


def test_a_trusted_partners_report_is_approved_at_once_and_counts_toward_premium(api, staff, connected, partner):
    person, token = connected
    trusted = api.post(f"/organizations/{HIDA}/trusted-partners", token=staff, json={"client_id": partner.client_id})
    assert trusted.status_code == 201
    registration = api.get("/registrations", token=person.token).get_json()[0]["id"]
    before = api.get(f"/registrations/{registration}/premium-progress", token=person.token).get_json()
    for n in range(3):
        made = api.post("/partner/activities", token=token["access_token"],
                        json=report(external_id=f"hidasuke-{n}", done_on=days(-n)))
        assert made.status_code == 201 and made.get_json()["status"] == "approved"
    after = api.get(f"/registrations/{registration}/premium-progress", token=person.token).get_json()
    assert before["activities_in_window"] == 0 and after["activities_in_window"] == 3
    assert "activities" not in after["missing"]
    assert api.get("/activity-evidence?status=pending", token=staff).get_json() == []
    notices = api.get("/me/notifications", token=person.token).get_json()
    assert sum(n["kind"] == "evidence_decided" for n in notices) == 3
    # No longer trusted: the next report waits for review again.
    assert api.delete(f"/organizations/{HIDA}/trusted-partners/{partner.client_id}", token=staff).status_code == 204
    assert api.post("/partner/activities", token=token["access_token"],
                    json=report(external_id="hidasuke-9")).get_json()["status"] == "pending"


def test_the_same_external_id_answers_the_first_report(api, connect, connected, partner, make_resident):
    person, token = connected
    first = api.post("/partner/activities", token=token["access_token"], json=report())
    again = api.post("/partner/activities", token=token["access_token"], json=report(title="別の題"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    # The same id for someone else is their own report (never the first person's).
    other = make_resident()
    theirs = api.post("/partner/activities", token=connect(other, partner)["access_token"], json=report())
    assert theirs.status_code == 201 and theirs.get_json()["id"] != first.get_json()["id"]


@pytest.mark.parametrize("fields, status, code", [
    ({"organization_code": GERO}, 422, "not_registered"),
    ({"organization_code": "999999"}, 422, "unknown_organization"),
    ({"done_on": days(1)}, 422, "validation_error"),
    ({"done_on": days(-400)}, 422, "validation_error"),
    ({"done_on": "1999-12-31"}, 422, "validation_error"),
    ({"title": "マイナンバー 1234 5678 9018"}, 422, "validation_error"),  # a valid check digit
    ({"external_id": ""}, 422, "validation_error"),
    ({"external_id": "No. 1234-5678-9018"}, 422, "validation_error"),  # no Individual Number, even in an id
    ({"external_id": "x" * 201}, 422, "validation_error"),
    ({"kind": "shopping"}, 422, "validation_error"),
    ({"title": ""}, 422, "validation_error"),
])
def test_refused_reports(api, connected, fields, status, code):
    _, token = connected
    response = api.post("/partner/activities", token=token["access_token"], json=report(**fields))
    assert (response.status_code, response.get_json()["code"]) == (status, code)
    assert response.mimetype == "application/problem+json"


def test_a_withdrawn_registration_is_not_registered(api, connected):
    person, token = connected
    registration = api.get("/registrations", token=person.token).get_json()[0]["id"]
    assert api.delete(f"/registrations/{registration}", token=person.token).status_code == 204
    response = api.post("/partner/activities", token=token["access_token"], json=report())
    assert response.get_json()["code"] == "not_registered"


# --- tokens never stand in for each other -----------------------------------------------------------------------

def test_partner_tokens_work_only_under_partner_and_account_tokens_never_there(api, client, connected, partner):
    person, token = connected
    for path in ("/me", "/registrations", "/me/partner-grants"):
        refused = api.get(path, token=token["access_token"])
        assert refused.status_code == 401 and refused.get_json()["code"] == "unauthorized", path
    for call in (lambda t: api.get("/partner/me", token=t), lambda t: api.post("/partner/activities", token=t,
                                                                                 json=report())):
        refused = call(person.token)
        assert refused.status_code == 401 and refused.get_json()["code"] == "unauthorized"
        assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    # A signed-in browser's session opens nothing there either, nor does anything without a token.
    with client.application.app_context():
        assert person.browser.client.get("/api/v1/partner/me").status_code == 401
    assert api.get("/partner/me").status_code == 401
    assert api.get("/partner/me").headers["WWW-Authenticate"] == "Bearer"
    # HTTP Basic (the partner's client credentials) is no account's credential, and never a 500.
    basic = {"Authorization": "Basic " + base64.b64encode(f"{partner.client_id}:{partner.secret}".encode()).decode()}
    assert api.get("/me", headers=basic).status_code == 401
    assert api.get("/partner/me", headers=basic).status_code == 401
    garbage = {"Authorization": "Basic %%%not-base64"}
    assert api.get("/partner/me", headers=garbage).status_code == 401
    with client.application.app_context():
        answer = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": "x"}, headers=garbage)
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"


# --- the person's grants ----------------------------------------------------------------------------------------

def test_grants_are_listed_and_revoking_one_stops_its_tokens_at_once(api, oauth, connect, connected, partner,
                                                                    make_partner, make_resident):
    person, token = connected
    smout = make_partner("SMOUT", ("https://smout.example/cb",))
    connect(person, smout, scope="registrations:read")
    api.get("/partner/me", token=token["access_token"])
    grants = api.get("/me/partner-grants", token=person.token).get_json()
    assert [(g["partner_name"], g["scopes"]) for g in grants] == [
        ("ヒダスケ!", ["registrations:read", "activities:write"]), ("SMOUT", ["registrations:read"])]
    assert set(grants[0]) == {"id", "partner_name", "scopes", "granted_at", "last_used_at"}
    assert grants[0]["last_used_at"] is not None and grants[1]["last_used_at"] is None
    other = make_resident()
    assert api.delete(f"/me/partner-grants/{grants[0]['id']}", token=other.token).status_code == 404
    assert api.delete(f"/me/partner-grants/{grants[0]['id']}", token=person.token).status_code == 204
    assert api.get("/partner/me", token=token["access_token"]).status_code == 401
    assert refresh(oauth, partner, token["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert [g["partner_name"] for g in api.get("/me/partner-grants", token=person.token).get_json()] == ["SMOUT"]
    assert api.delete(f"/me/partner-grants/{grants[0]['id']}", token=person.token).status_code == 404
    # Allowing the partner again is a new consent; the old tokens stay dead.
    again = connect(person, partner)
    assert api.get("/partner/me", token=again["access_token"]).status_code == 200
    assert api.get("/partner/me", token=token["access_token"]).status_code == 401
    # One grant per (person, partner): the same row allowed again.
    rows = db.session.scalars(select(PartnerGrant).where(PartnerGrant.user_id == uuid.UUID(person.id))).all()
    assert len(rows) == 2 and all(row.revoked_at is None for row in rows)


def test_a_code_issued_before_revocation_cannot_be_exchanged_after(api, oauth, partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner)
    grant = api.get("/me/partner-grants", token=resident_with_browser.token).get_json()[0]
    assert api.delete(f"/me/partner-grants/{grant['id']}", token=resident_with_browser.token).status_code == 204
    assert exchange(oauth, partner, code, verifier).get_json()["error"] == "invalid_grant"


def test_my_page_lists_the_partners_and_stops_one(api, connected, partner):
    person, token = connected
    page = person.browser.get("/my").get_data(as_text=True)
    assert "連携しているサービス" in page and "ヒダスケ!" in page and "連携を解除する" in page
    grant = api.get("/me/partner-grants", token=person.token).get_json()[0]
    stopped = person.browser.post(f"/my/partner-grants/{grant['id']}/revoke")
    assert stopped.status_code == 302 and stopped.headers["Location"].endswith("/my#partners")
    assert api.get("/partner/me", token=token["access_token"]).status_code == 401
    assert "ヒダスケ!" not in person.browser.get("/my").get_data(as_text=True)


# --- a 団体's trusted partners ----------------------------------------------------------------------------------

def test_trusting_a_partner(api, staff, make_account, partner):
    body = {"client_id": partner.client_id}
    first = api.post(f"/organizations/{HIDA}/trusted-partners", token=staff, json=body)
    assert first.status_code == 201
    assert set(first.get_json()) == {"organization_code", "client_id", "partner_name", "trusted_at"}
    assert api.post(f"/organizations/{HIDA}/trusted-partners", token=staff, json=body).status_code == 200
    listed = api.get(f"/organizations/{HIDA}/trusted-partners", token=staff)
    assert [t["client_id"] for t in listed.get_json()] == [partner.client_id] and listed.headers["X-Total-Count"] == "1"
    other = make_account("staff", TAKAYAMA)
    assert api.post(f"/organizations/{HIDA}/trusted-partners", token=other, json=body).status_code == 403
    assert api.delete(f"/organizations/{HIDA}/trusted-partners/{partner.client_id}", token=other).status_code == 403
    unknown = api.post(f"/organizations/{HIDA}/trusted-partners", token=staff, json={"client_id": "nobody"})
    assert unknown.status_code == 422 and "client_id" in unknown.get_json()["errors"]
    assert api.post("/organizations/999999/trusted-partners", token=staff, json=body).status_code == 404
    assert api.delete(f"/organizations/{HIDA}/trusted-partners/{partner.client_id}", token=staff).status_code == 204
    assert api.delete(f"/organizations/{HIDA}/trusted-partners/{partner.client_id}", token=staff).status_code == 404


# --- the audit log ------------------------------------------------------------------------------------------------

def test_every_partner_call_is_in_the_audit_log(api, oauth, make_account, staff, connected, partner):
    person, token = connected
    api.get("/partner/me", token=token["access_token"])
    api.post("/partner/activities", token=token["access_token"], json=report())
    api.post("/partner/activities", token=token["access_token"], json=report(organization_code=GERO))  # refused
    renewed = refresh(oauth, partner, token["refresh_token"]).get_json()
    oauth.post("/oauth/revoke", {"token": renewed["access_token"]}, headers=partner.basic)
    admin = make_account("admin")
    entries = api.get(f"/audit?actor_id={partner.client_id}&per_page=200", token=admin).get_json()
    assert [e["action"] for e in reversed(entries)] == [
        "partner_token", "partner_registrations", "partner_activity", "partner_activity", "partner_token",
        "partner_token_revoked"]
    for entry in entries:
        assert entry["actor_role"] == "partner" and entry["actor_id"] == partner.client_id
        assert entry["subject_ids"] == [person.id]
    assert {e["organization_code"] for e in entries if e["action"] == "partner_activity"} == {HIDA, GERO}
    by_person = api.get(f"/audit?subject_id={person.id}&per_page=200", token=admin).get_json()
    assert {"partner_granted", "partner_token"} <= {e["action"] for e in by_person}
    api.post(f"/organizations/{HIDA}/trusted-partners", token=staff, json={"client_id": partner.client_id})
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action == "partner_trusted")) is not None


# --- rate limits per partner --------------------------------------------------------------------------------------

def test_calls_are_rate_limited_per_partner(app, api, connect, partner, make_partner, make_resident, monkeypatch):
    monkeypatch.setitem(app.config, "PARTNER_RATE_LIMIT", "3/minute")
    people = [make_resident(), make_resident()]
    tokens = [connect(p, partner)["access_token"] for p in people]
    other = connect(people[0], make_partner("SMOUT", ("https://smout.example/cb",)))["access_token"]
    assert [api.get("/partner/me", token=tokens[i % 2]).status_code for i in range(3)] == [200, 200, 200]
    limited = api.get("/partner/me", token=tokens[1])  # another person's token: the same partner
    assert limited.status_code == 429 and limited.get_json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert api.get("/partner/me", token=other).status_code == 200  # another partner counts alone
