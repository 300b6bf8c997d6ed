"""Credentials that are not a valid bearer token (HTTP Basic, a bare `Bearer`, a bad or expired token):
a 401 problem on the API, an anonymous page elsewhere, never a 500 (the error page reads the current
user too). Testing propagates exceptions, so a raise while rendering fails these tests outright."""
import pytest

from tests.conftest import Browser

BASIC = "Basic dXNlcjpwYXNzd29yZA=="  # user:password
FOREIGN = [BASIC, "Bearer", "Bearer ", "Bearer not-a-token", "Digest username=x", "garbage"]


@pytest.mark.parametrize("authorization", FOREIGN)
def test_the_api_answers_401_unauthorized(api, authorization):
    response = api.get("/me", headers={"Authorization": authorization, "Accept": "text/html"})
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    unknown = api.get("/nothing-here", headers={"Authorization": authorization})
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "not_found"


@pytest.mark.parametrize("authorization", FOREIGN)
def test_pages_are_anonymous_never_a_500(app, authorization):
    browser = Browser(app.test_client())  # HTML, a fresh context per request
    headers = {"Authorization": authorization}
    home = browser.get("/", headers=headers)
    assert home.status_code == 200 and home.mimetype == "text/html"
    mine = browser.get("/my", headers=headers)
    assert mine.status_code == 302 and mine.headers["Location"].startswith("/login")
    missing = browser.get("/no-such-page", headers=headers)
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "<html" in missing.get_data(as_text=True)
    assert browser.get("/healthz", headers=headers).status_code == 200


def test_a_foreign_header_beside_a_signed_in_session_is_still_anonymous(app):
    """A header other than the session is never mixed with it: the page is anonymous, not an error."""
    browser = Browser(app.test_client())
    assert browser.signup(email="basic-beside-session@example.jp").status_code == 302
    assert browser.get("/my").status_code == 200
    assert browser.get("/my", headers={"Authorization": BASIC}).status_code == 302
    assert browser.get("/my").status_code == 200  # the session itself is untouched


def test_a_valid_bearer_token_still_opens_the_api(api, signup):
    _, token = signup()
    assert api.get("/me", token=token).status_code == 200
    assert api.get("/me", headers={"Authorization": f"bearer {token}"}).status_code == 200
