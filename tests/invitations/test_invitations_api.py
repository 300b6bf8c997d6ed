"""GET /me/invitations and POST /me/invitations/{id}/accept, and the /my page's invitations."""
import pytest
from sqlalchemy import func, select

from registry.extensions import db
from registry.figures import recount
from registry.invitations.models import Invitation
from tests.factories import CHIYODA, HIDA, TAKAYAMA


@pytest.fixture
def invited(api, signup, roster_file, import_roster):
    """invited(code=HIDA, ties="family;volunteer", **signup fields) → (user json, bearer token) of a
    resident whose account received an invitation from `code`'s roster."""

    def make(code=HIDA, ties="family;volunteer", **fields):
        user, token = signup(**fields)
        result = import_roster(roster_file(f"{user['email']},名簿,{CHIYODA},{ties},1990"), code=code)
        assert result.exit_code == 0, result.output
        return user, token

    return make


def _invitations(api, token, **query):
    response = api.get("/me/invitations", token=token, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_resident_lists_and_accepts_an_invitation(api, invited, make_account):
    national = make_account("national")
    _user, token = invited()
    before = api.get("/stats/totals", token=national).get_json()
    [invitation] = _invitations(api, token)
    assert invitation["organization_code"] == HIDA and invitation["organization_name"] == "飛騨市"
    assert invitation["ties"] == ["family", "volunteer"] and invitation["status"] == "pending"
    assert invitation["refusal"] is None and invitation["registration_id"] is None
    assert invitation["created_at"].endswith("+09:00") and isinstance(invitation["id"], str)

    accepted = api.post(f"/me/invitations/{invitation['id']}/accept", token=token)
    assert accepted.status_code == 201, accepted.get_json()
    reg = accepted.get_json()
    direct = api.post("/registrations", token=invited()[1], json={"organization_code": TAKAYAMA, "ties": ["other"]})
    assert set(reg) == set(direct.get_json())  # the same shape as POST /registrations
    assert reg["organization_code"] == HIDA and reg["ties"] == ["family", "volunteer"] and reg["status"] == "active"

    [after] = _invitations(api, token)
    assert after["status"] == "accepted" and after["registration_id"] == reg["id"] and after["accepted_at"]
    assert _invitations(api, token, status="pending") == []
    again = api.post(f"/me/invitations/{invitation['id']}/accept", token=token)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    totals = api.get("/stats/totals", token=national).get_json()
    assert totals["cumulative_registrations"] == before["cumulative_registrations"] + 2  # this one and TAKAYAMA's
    assert totals["actual_people"] == before["actual_people"] + 2
    assert recount.verify() == []


def test_someone_elses_invitation_is_not_found(api, invited, signup):
    _user, token = invited()
    [invitation] = _invitations(api, token)
    _other, other_token = signup()
    assert _invitations(api, other_token) == []
    response = api.post(f"/me/invitations/{invitation['id']}/accept", token=other_token)
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    assert api.post("/me/invitations/not-an-id/accept", token=token).status_code == 404
    assert _invitations(api, token)[0]["status"] == "pending"


def test_the_registration_rules_still_apply_and_the_invitation_says_which(api, invited):
    _user, token = invited()
    [invitation] = _invitations(api, token)
    direct = api.post("/registrations", token=token, json={"organization_code": HIDA, "ties": ["other"]})
    assert direct.status_code == 201
    assert _invitations(api, token)[0]["refusal"] == "already_registered"
    taken = api.post(f"/me/invitations/{invitation['id']}/accept", token=token)
    assert taken.status_code == 409 and taken.get_json()["code"] == "already_registered"

    assert api.patch("/me", token=token, json={"home_municipality_code": HIDA}).status_code == 200  # moved there
    assert _invitations(api, token)[0]["refusal"] == "home_municipality"
    home = api.post(f"/me/invitations/{invitation['id']}/accept", token=token)
    assert home.status_code == 422 and home.get_json()["code"] == "home_municipality"
    assert _invitations(api, token)[0]["status"] == "pending"
    assert recount.verify() == []


def test_only_residents_call_it(api, make_account, invited):
    _user, token = invited()
    invitation_id = _invitations(api, token)[0]["id"]
    staff = make_account("staff", HIDA)
    assert api.get("/me/invitations").status_code == 401
    assert api.get("/me/invitations", token=staff).status_code == 403
    assert api.post(f"/me/invitations/{invitation_id}/accept", token=staff).status_code == 403
    assert api.get("/me/invitations", token=token, query_string={"status": "maybe"}).status_code == 422


def test_erasing_the_account_erases_its_invitations(api, invited):
    _user, token = invited()
    assert api.delete("/me", token=token).status_code == 204
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_my_page_lists_pending_invitations_and_accepts_with_csrf(app, invited, browser):
    user, _token = invited(password="page-pass-123")
    browser.login(user["email"], "page-pass-123")
    html = browser.get("/my").get_data(as_text=True)
    assert 'id="invitations"' in html and "飛騨市" in html
    invitation = db.session.scalar(select(Invitation))
    action = f"/my/invitations/{invitation.id}/accept"
    assert action in html
    assert browser.post(action, csrf=False).status_code == 400
    db.session.refresh(invitation)
    assert invitation.status == "pending"
    response = browser.post(action)
    assert response.status_code == 302
    db.session.refresh(invitation)
    assert invitation.status == "accepted" and invitation.registration_id is not None
    assert 'id="invitations"' not in browser.get("/my").get_data(as_text=True)  # nothing pending any more
