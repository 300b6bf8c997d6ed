"""DELETE /me erases a person from every table: one resident is given data in every table that can
hold something about a person, erases their account, and then every row of every table in the
metadata is scanned for what they were identified by or wrote.

A table added later must be entered in TABLES below (the test fails until it is), which makes
whoever adds it decide whether it can hold something about a person; its columns are scanned
anyway, whatever the decision.
"""
import json
import uuid
from pathlib import Path

from sqlalchemy import select, update

from registry.accounts.models import User
from registry.extensions import db
from registry.figures.recount import verify
from registry.accounts import links as tokens
from registry.accounts.service import start_web_session
from registry.accounts.models import PASSWORD_RESET
from registry.invitations.models import Invitation
from registry.registrations.models import Activity
from registry.partners import service as partners
from registry.workflows.notices import fan_out_broadcasts
from tests.conftest import Browser
from tests.factories import GERO, HIDA, PASSWORD, TAKAYAMA, days
from tests.partners.conftest import REDIRECT, PartnerApp, PartnerClient, Resident, code_for, exchange
from tests.scenes import account, apply, host, need, register, resident, submit_evidence


# Every table, and whether it can hold something about a resident (True) or cannot (why not).
TABLES = {
    "users": True, "api_tokens": True, "login_throttles": True, "set_password_tokens": True,
    "registrations": True, "registration_events": True, "person_tallies": True, "identity_verifications": True,
    "premium_requests": True, "activities": True, "activity_evidence": True, "applications": True,
    "notifications": True, "outbox_messages": True, "announcement_reads": True, "audit_entries": True,
    "invitations": True, "web_sessions": True, "emergency_offers": True,
    "partner_grants": True, "partner_authorization_codes": True, "partner_tokens": True, "funnel_marks": True,
    "organizations": "reference data (団体)", "wards": "reference data (designated-city wards)",
    "figure_counters": "sums over people, never one person",
    "funnel_cells": "the funnel's sums over people again, in value order, never one person",
    "needs": "written by staff and hosts about the work, not about an applicant",
    "announcements": "written by staff to every registrant of a 団体",
    "broadcasts": "an announcement's or emergency's text on its way to everyone tied to a 団体, never about one person",
    "emergencies": "written by staff to everyone tied to the stricken 団体",
    "emergency_organizations": "which 団体 an emergency names",
    "emergency_proxies": "which 団体 act for the stricken ones",
    "benefits": "written by staff about what a tier gets",
    "hosts": "host accounts only; DELETE /me is for residents (a host is deactivated by staff)",
    "partners": "partner services (OAuth clients) an operator registered, never about a person",
    "trusted_partners": "which partners a 団体's staff trust",
    "open_data_releases": "a month's published figures, sums over people",
    "open_data_files": "a release's files: suppressed sums over people, never one person",
}

# Where the erased person's id may remain: pseudonymous references the design keeps, each for a
# reason. The user row itself holds nothing personal any more.
PSEUDONYMOUS = {
    ("users", "id"): "the row other references point to; every personal column is emptied",
    ("registrations", "user_id"): "withdrawn registrations: the figures (延べ, moved-in, withdrawals) are "
                                  "recounted from these rows",
    ("registration_events", "user_id"): "the append-only ledger behind the time series",
    ("applications", "user_id"): "a need's history of places taken and freed (messages emptied)",
    ("activities", "user_id"): "designated activities done for a 団体, by date",
    ("activity_evidence", "user_id"): "kind, date and decision of evidence, files and texts gone",
    ("premium_requests", "user_id"): "who decided which request when (reasons emptied)",
    ("identity_verifications", "user_id"): "the fact, method and date of a check and who decided it (reasons emptied)",
    ("audit_entries", "subject_ids"): "the record of who read this person's data stays the controller's to show",
    ("audit_entries", "actor_id"): "the person's own consents to partners and their withdrawals: when which partner "
                                   "was allowed, the controller's to show",
}


def _needles_in(value, needles) -> list[str]:
    """Which needles occur in a column's value, however it is stored (text, JSON, UUID)."""
    if value is None:
        return []
    if isinstance(value, uuid.UUID):
        text = f"{value} {value.hex}"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return [n for n in needles if n in text]


def _scan(needles) -> dict:
    """{(table, column): [needles found]} over every row of every table in the metadata."""
    found: dict = {}
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)).mappings():
            for column, value in row.items():
                hits = _needles_in(value, needles)
                if hits:
                    found.setdefault((table.name, column), set()).update(hits)
    return found


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    return response.get_json()


def test_the_inventory_names_every_table():
    assert set(TABLES) == set(db.metadata.tables), "decide for each new table whether it can hold personal data"
    assert {table for table, _ in PSEUDONYMOUS} <= {t for t, personal in TABLES.items() if personal is True}


def test_erasure_leaves_nothing_personal_in_any_table(app, api, upload_dir):
    mark = uuid.uuid4().hex[:8]
    personal = {
        "email": f"erase-me-{mark}@example.jp", "display_name": f"消える人{mark}", "skill": f"わさび栽培{mark}",
        "interest": f"古い町並み{mark}", "message": f"土曜なら行けます{mark}", "host_message": f"初参加です{mark}",
        "description": f"雪かきの証明{mark}", "evidence_host": f"古川町内会{mark}",
        "evidence_reason": f"日付が読めません{mark}", "premium_reason": f"活動の記録が不足{mark}",
        "identity_reason": f"写真が不鮮明{mark}",
        "offer_message": f"重機を持って行けます{mark}", "offer_skill": f"重機の運転{mark}",
        "partner_title": f"棚田の草刈り{mark}", "partner_activity_id": f"hidasuke-{mark}",
    }
    staff = account(api, "staff", HIDA)
    trusted_host = host(api, staff)
    person = resident(api, email=personal["email"], display_name=personal["display_name"],
                      skills=[personal["skill"]], interests=[personal["interest"]], availability="weekends",
                      consents={"share_profile": True, "scouting": True, "announcements": True})
    person_id = uuid.UUID(person.id)
    db.session.execute(update(User).where(User.id == person_id).values(email_verified_at=db.func.now()))
    db.session.commit()  # notifications are then e-mailed too (outbox rows)

    registration = register(api, person, HIDA, ("family", "volunteer"))
    register(api, person, TAKAYAMA)
    # A need done (an activity) and one applied to, with messages.
    done = apply(api, person, need(api, staff), personal["message"])
    _ok(api.post(f"/applications/{done}/accept", token=staff.token))
    _ok(api.post(f"/applications/{done}/complete", token=staff.token))
    host_need = need(api, trusted_host)
    apply(api, person, host_need, personal["host_message"])
    # Evidence, each with a file: approved twice, rejected with a reason, one pending.
    for _ in range(2):
        evidence = submit_evidence(api, person, registration, description=personal["description"],
                                   host_name=personal["evidence_host"])
        _ok(api.post(f"/activity-evidence/{evidence}/approve", token=staff.token))
    rejected = submit_evidence(api, person, registration, description=personal["description"])
    _ok(api.post(f"/activity-evidence/{rejected}/reject", token=staff.token,
                 json={"reason": personal["evidence_reason"]}))
    submit_evidence(api, person, registration, description=personal["description"],
                    host_name=personal["evidence_host"])
    assert len(_files(upload_dir)) == 4
    # Identity checks: confirmed, rejected with a reason, pending.
    checks = [_ok(api.post("/me/identity-verifications", token=person.token, json={"method": method}), 201)["id"]
              for method in ("in_person", "document", "mynumber_card")]
    _ok(api.post(f"/identity-verifications/{checks[0]}/confirm", token=staff.token))
    _ok(api.post(f"/identity-verifications/{checks[1]}/reject", token=staff.token,
                 json={"reason": personal["identity_reason"]}))
    # Premium: a request rejected with a reason, another pending.
    first = _ok(api.post(f"/registrations/{registration}/premium-request", token=person.token), 202)["id"]
    _ok(api.post(f"/premium-requests/{first}/reject", token=staff.token, json={"reason": personal["premium_reason"]}))
    _ok(api.post(f"/registrations/{registration}/premium-request", token=person.token), 202)
    # A partner they allowed (a grant, a code, tokens) reported an activity for them.
    made, secret = partners.create_partner("ヒダスケ!", [REDIRECT])
    db.session.commit()
    partner = PartnerApp(made.client_id, secret, made.name)
    browser = Browser(app.test_client())
    assert browser.login(person.email, PASSWORD).status_code == 302
    code, verifier = code_for(Resident(person.id, person.email, person.token, browser), partner)
    partner_token = _ok(exchange(PartnerClient(app.test_client()), partner, code, verifier))["access_token"]
    _ok(api.post("/partner/activities", token=partner_token, json={
        "organization_code": HIDA, "done_on": days(-2), "title": personal["partner_title"], "kind": "volunteer",
        "external_id": personal["partner_activity_id"]}), 201)
    # An announcement read; a password-reset link and its e-mail; a browser session; failed sign-ins.
    announcement = _ok(api.post(f"/organizations/{HIDA}/announcements", token=staff.token,
                                json={"title": "雪まつり", "body": "2月に開催します"}), 201)["id"]
    _ok(api.post(f"/me/announcements/{announcement}/read", token=person.token))
    _ok(api.post("/auth/password-reset", json={"email": person.email}), 202)
    tokens.issue(db.session.get(User, person_id), PASSWORD_RESET)
    start_web_session(db.session.get(User, person_id))  # signed in on a browser too
    db.session.commit()
    _ok(api.post("/auth/login", json={"email": person.email, "password": PASSWORD}))  # a second bearer token
    assert api.post("/auth/login", json={"email": person.email, "password": "wrong-password"}).status_code == 401
    # A 団体's roster invited them (import-roster's invitation, pending).
    db.session.add(Invitation(organization_code=GERO, user_id=person_id, ties=["family"]))
    db.session.commit()
    # An emergency: they were notified and offered help.
    emergency = _ok(api.post("/emergencies", token=staff.token, json={
        "title": "大雨災害", "message": "支援をお願いします", "organization_codes": [HIDA]}), 201)["id"]
    fan_out_broadcasts()
    _ok(api.post(f"/emergencies/{emergency}/offers", token=person.token, json={
        "kinds": ["on_site"], "skills": [personal["offer_skill"]], "message": personal["offer_message"]}), 201)
    # Staff and the host read their data (audit entries naming them).
    _ok(api.get(f"/emergencies/{emergency}/offers", token=staff.token))
    _ok(api.get(f"/organizations/{HIDA}/registrants", token=staff.token))
    _ok(api.get(f"/needs/{host_need}/applications", token=trusted_host.token))
    _ok(api.get("/activity-evidence", token=staff.token))

    needles = [person.email, person.email.lower(), *personal.values()]
    ids = [str(person_id), person_id.hex]
    before = _scan(needles + ids)
    mentioned = {table for table, _column in before}
    personal_tables = {t for t, can_hold in TABLES.items() if can_hold is True}
    assert personal_tables <= mentioned, f"the test gave the person no data in {personal_tables - mentioned}"
    assert db.session.scalar(select(db.func.count(Activity.id)).where(Activity.user_id == person_id)) == 3

    assert api.delete("/me", token=person.token).status_code == 204

    after = _scan(needles)
    assert after == {}, f"personal data left after erasure: {after}"
    left = {place for place, _ in _scan(ids).items()}
    assert left <= set(PSEUDONYMOUS), f"the person's id is left in {left - set(PSEUDONYMOUS)}"
    assert _files(upload_dir) == []
    row = db.session.get(User, person_id)
    assert row.erased_at is not None and row.home_municipality_code is None and row.birth_year is None
    assert verify() == []
    # Nothing of theirs can be used any more.
    assert api.get("/me", token=person.token).status_code == 401
    assert api.get("/partner/me", token=partner_token).status_code == 401
    assert api.post("/auth/login", json={"email": person.email, "password": PASSWORD}).status_code == 401
    assert db.session.scalar(select(db.func.count()).select_from(
        select(User).where(User.email_key == person.email.lower()).subquery())) == 0
