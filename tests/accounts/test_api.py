import uuid
from datetime import timedelta

from sqlalchemy import select

from registry.accounts.models import ApiToken, User
from registry.common.time import utcnow
from registry.extensions import db

PROFILE_FIELDS = {"id", "email", "display_name", "role", "home_municipality_code", "birth_year", "skills",
                  "interests", "availability", "consents"}


def _body(**fields):
    body = {"email": f"a-{uuid.uuid4().hex[:8]}@example.jp", "password": "correct-horse-9", "display_name": "山田花子",
            "home_municipality_code": "131016", "birth_year": 1990}
    body.update(fields)
    return body


def test_signup_returns_user_and_token(api):
    response = api.post("/auth/signup", json=_body())
    assert response.status_code == 201
    data = response.get_json()
    assert PROFILE_FIELDS <= set(data["user"]) and data["token"]
    assert data["user"]["role"] == "resident"
    assert data["user"]["consents"] == {"share_profile": False, "scouting": False, "announcements": False}
    assert "password" not in data["user"]
    assert api.get("/me", token=data["token"]).get_json()["id"] == data["user"]["id"]


def test_email_taken_case_insensitive(api):
    body = _body(email="Hanako@Example.jp")
    assert api.post("/auth/signup", json=body).status_code == 201
    again = api.post("/auth/signup", json=_body(email="hanako@example.JP"))
    assert again.status_code == 409 and again.get_json()["code"] == "email_taken"
    login = api.post("/auth/login", json={"email": "HANAKO@example.jp", "password": "correct-horse-9"})
    assert login.status_code == 200


def test_signup_validation(api):
    cases = [({"email": None}, "email"), ({"email": "not-an-email"}, "email"), ({"password": "short"}, "password"),
             ({"birth_year": 1800}, "birth_year"), ({"birth_year": "1990"}, "birth_year"),
             ({"display_name": ""}, "display_name"), ({"display_name": "x" * 101}, "display_name")]
    for change, field in cases:
        body = _body(**change)
        if change.get("email", "") is None:
            del body["email"]
        response = api.post("/auth/signup", json=body)
        assert response.status_code == 422, (change, response.get_json())
        assert field in response.get_json()["errors"], change


def test_signup_unknown_home_is_422(api):
    response = api.post("/auth/signup", json=_body(home_municipality_code="210005"))
    assert response.status_code == 422 and response.get_json()["code"] == "unknown_organization"


def test_ward_home_is_stored_as_city(api):
    response = api.post("/auth/signup", json=_body(home_municipality_code="011011"))
    assert response.get_json()["user"]["home_municipality_code"] == "011002"


def test_guardian_consent_under_16(api):
    year = utcnow().year - 12
    refused = api.post("/auth/signup", json=_body(birth_year=year))
    assert refused.status_code == 422 and refused.get_json()["code"] == "guardian_consent_required"
    assert api.post("/auth/signup", json=_body(birth_year=year, guardian_consent=True)).status_code == 201


def test_guardian_consent_on_an_account_without_birth_year(api, make_account):
    """Staff accounts have no birth year: no age rule applies (was a 500)."""
    staff = make_account("staff", "212172")
    response = api.patch("/me", token=staff, json={"guardian_consent": False})
    assert response.status_code == 200 and response.get_json()["birth_year"] is None


def test_login_wrong_pair_does_not_tell_which(api, signup):
    user, _ = signup()
    wrong_password = api.post("/auth/login", json={"email": user["email"], "password": "wrong-password-1"})
    unknown_email = api.post("/auth/login", json={"email": "nobody@example.jp", "password": "wrong-password-1"})
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401 and response.get_json()["code"] == "invalid_credentials"
    assert wrong_password.get_json() == unknown_email.get_json()


def test_logout_revokes_only_that_token(api, signup):
    user, first = signup()
    second = api.post("/auth/login", json={"email": user["email"], "password": "correct-horse-9"}).get_json()["token"]
    assert api.post("/auth/logout", token=first).status_code == 204
    assert api.get("/me", token=first).status_code == 401
    assert api.get("/me", token=second).status_code == 200


def test_tokens_are_stored_hashed_and_expire(api, signup):
    _, token = signup()
    stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored
    row = db.session.scalars(select(ApiToken)).all()[-1]
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert api.get("/me", token=token).status_code == 401


def test_password_stored_as_argon2id(api, signup):
    user, _ = signup()
    stored = db.session.get(User, uuid.UUID(user["id"])).password_hash
    assert stored.startswith("$argon2id$") and "correct-horse-9" not in stored


def test_auth_required_and_bad_tokens(api):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        response = api.get("/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.get_json()["code"] == "unauthorized"


def test_patch_me(api, signup):
    _, token = signup()
    response = api.patch("/me", token=token, json={
        "display_name": "新しい名前", "skills": ["農作業", "写真"], "interests": ["祭り"], "availability": "weekends",
        "consents": {"share_profile": True, "scouting": True}})
    assert response.status_code == 200, response.get_json()
    me = response.get_json()
    assert me["display_name"] == "新しい名前" and me["skills"] == ["農作業", "写真"]
    assert me["consents"] == {"share_profile": True, "scouting": True, "announcements": False}
    assert api.patch("/me", token=token, json={"role": "admin"}).status_code == 422
    assert api.patch("/me", token=token, json={"availability": "sometimes"}).status_code == 422


def test_minor_cannot_consent_to_scouting(api, signup):
    _, token = signup(birth_year=utcnow().year - 17)
    response = api.patch("/me", token=token, json={"consents": {"scouting": True}})
    assert response.status_code == 422 and response.get_json()["code"] == "age_restricted"


def test_delete_me_erases_personal_data(api, signup):
    user, token = signup()
    api.patch("/me", token=token, json={"skills": ["農作業"], "consents": {"share_profile": True}})
    assert api.delete("/me", token=token).status_code == 204
    assert api.get("/me", token=token).status_code == 401
    login = api.post("/auth/login", json={"email": user["email"], "password": "correct-horse-9"})
    assert login.status_code == 401
    row = db.session.get(User, uuid.UUID(user["id"]))
    assert row.erased_at is not None
    assert (row.email, row.email_key, row.password_hash, row.display_name, row.birth_year) == (None,) * 5
    assert row.skills == [] and not row.consent_share_profile
    # The address can be used again by a new person.
    assert api.post("/auth/signup", json=_body(email=user["email"])).status_code == 201


def test_staff_cannot_delete_me_but_can_read_me(api, make_account):
    token = make_account("staff", "212172")
    me = api.get("/me", token=token).get_json()
    assert me["role"] == "staff" and me["organization_code"] == "212172"
    response = api.delete("/me", token=token)
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
