"""Staff reads of personal data are logged; only admins read the log; nobody changes it."""
from sqlalchemy import select

from registry.audit.models import AuditEntry
from registry.extensions import db


def test_reading_registrants_is_audited(api, signup, make_account):
    user, token = signup()
    api.patch("/me", token=token, json={"consents": {"share_profile": True}})
    api.post("/registrations", token=token, json={"organization_code": "212172", "ties": ["family"]})
    staff = make_account("staff", "212172")
    assert api.get("/organizations/212172/registrants", token=staff).status_code == 200
    entry = db.session.scalars(select(AuditEntry)).one()
    assert entry.action == "registrants" and entry.subject_ids == [user["id"]] and entry.actor_role == "staff"
    admin = make_account("admin")
    listed = api.get(f"/audit?subject_id={user['id']}", token=admin).get_json()
    assert [e["id"] for e in listed] == [str(entry.id)]
    assert api.get("/audit", token=staff).status_code == 403
    assert api.get("/audit", token=make_account("national")).status_code == 403
    # There is no way to change or delete an entry through the API.
    assert api.delete(f"/audit/{entry.id}", token=admin).status_code in (404, 405)
    assert api.call("PATCH", "/audit", token=admin).status_code == 405


def test_erasure_leaves_only_a_pseudonymous_id(api, signup, make_account):
    user, token = signup(display_name="消える人")
    api.patch("/me", token=token, json={"consents": {"share_profile": True}})
    api.post("/registrations", token=token, json={"organization_code": "212172", "ties": ["family"]})
    api.get("/organizations/212172/registrants", token=make_account("staff", "212172"))
    assert api.delete("/me", token=token).status_code == 204
    entry = db.session.scalars(select(AuditEntry)).one()
    assert entry.subject_ids == [user["id"]]  # the id stays; nothing in it names the person
    assert "消える人" not in str(entry.__dict__) and user["email"] not in str(entry.__dict__)
