"""The whole partner flow as it happens between three parties over HTTP: the app served on 127.0.0.1
(werkzeug's threaded server), a person's browser (requests with the session cookie, answering the
consent form with its CSRF token), and a partner using a real OAuth 2.0 client library (Authlib's
requests client: PKCE S256, HTTP Basic) — authorize, exchange, call, refresh, revoke — plus the
failures RFC 6749 names, and two exchanges of one code at the same moment."""
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from registry.extensions import db
from registry.partners import service
from tests.factories import CHIYODA, HIDA, days
from tests.parallel import together
from tests.partners.conftest import FORM_ACTION, REDIRECT

pytestmark = [pytest.mark.slow, pytest.mark.committing]  # a served app, real commits, threads
PASSWORD = "correct-horse-9"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SCOPE = "registrations:read activities:write"


@pytest.fixture
def served(app, live_server):
    """The served app, a partner made as create-partner makes it, and a person registered with 飛騨市
    who is signed in on their browser."""
    with app.app_context():
        partner, secret = service.create_partner("ヒダスケ!", [REDIRECT])
        db.session.commit()
        client_id = partner.client_id
    email = f"flow-{uuid.uuid4().hex[:8]}@example.jp"
    signed_up = requests.post(f"{live_server}/api/v1/auth/signup", timeout=30, json={
        "email": email, "password": PASSWORD, "display_name": "連携花子", "home_municipality_code": CHIYODA,
        "birth_year": 1990})
    assert signed_up.status_code == 201
    own_token = signed_up.json()["token"]
    assert requests.post(f"{live_server}/api/v1/registrations", timeout=30, headers={"Authorization": f"Bearer {own_token}"},
                         json={"organization_code": HIDA, "ties": ["volunteer"]}).status_code == 201
    browser = requests.Session()
    login = browser.get(f"{live_server}/login", timeout=30)
    signed_in = browser.post(f"{live_server}/login", timeout=30, allow_redirects=False, data={
        "email": email, "password": PASSWORD, "csrf_token": CSRF.search(login.text).group(1)})
    assert signed_in.status_code == 302
    return {"base": live_server, "client_id": client_id, "secret": secret, "browser": browser,
            "own_token": own_token}


def _partner(served) -> OAuth2Session:
    return OAuth2Session(served["client_id"], served["secret"], scope=SCOPE, redirect_uri=REDIRECT,
                         code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")


def _answer(served, url: str, decision: str = "allow") -> str:
    """The person opens the authorization URL and answers the consent form: the Location they are sent to."""
    browser = served["browser"]
    page = browser.get(url, timeout=30)
    assert page.status_code == 200 and "ヒダスケ!" in page.text
    action = FORM_ACTION.search(page.text).group(1).replace("&amp;", "&")
    answer = browser.post(served["base"] + action, timeout=30, allow_redirects=False,
                          data={"csrf_token": CSRF.search(page.text).group(1), "decision": decision})
    assert answer.status_code == 302
    return answer.headers["Location"]


def _authorized(served) -> tuple[OAuth2Session, str, str]:
    """(the partner's session, the Location with the code, the PKCE verifier)."""
    partner = _partner(served)
    verifier = generate_token(48)
    url, _state = partner.create_authorization_url(f"{served['base']}/oauth/authorize", code_verifier=verifier)
    assert "code_challenge_method=S256" in url
    return partner, _answer(served, url), verifier


def test_the_whole_flow_with_an_oauth_client_library(served):
    base = served["base"]
    partner, location, verifier = _authorized(served)
    assert location.startswith(REDIRECT + "?")
    token = partner.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600 and token["scope"] == SCOPE

    me = partner.get(f"{base}/api/v1/partner/me", timeout=30)
    assert me.status_code == 200 and [r["organization_code"] for r in me.json()["registrations"]] == [HIDA]
    body = {"organization_code": HIDA, "done_on": days(-2), "title": "古川町の雪かき", "kind": "volunteer",
            "external_id": "flow-1"}
    reported = partner.post(f"{base}/api/v1/partner/activities", json=body, timeout=30)
    assert reported.status_code == 201 and reported.json()["source"] == "partner"
    again = partner.post(f"{base}/api/v1/partner/activities", json=body, timeout=30)
    assert again.status_code == 200 and again.json()["id"] == reported.json()["id"]
    # The person's own token never works there; the partner's never works elsewhere.
    own = {"Authorization": f"Bearer {served['own_token']}"}
    assert requests.get(f"{base}/api/v1/partner/me", headers=own, timeout=30).status_code == 401
    assert partner.get(f"{base}/api/v1/me", timeout=30).status_code == 401

    renewed = partner.refresh_token(f"{base}/oauth/token")
    assert renewed["access_token"] != token["access_token"] and renewed["refresh_token"] != token["refresh_token"]
    assert partner.get(f"{base}/api/v1/partner/me", timeout=30).status_code == 200
    revoked = partner.revoke_token(f"{base}/oauth/revoke", token=renewed["access_token"],
                                   token_type_hint="access_token")
    assert revoked.status_code == 200
    assert partner.get(f"{base}/api/v1/partner/me", timeout=30).status_code == 401
    with pytest.raises(OAuthError) as refused:
        partner.refresh_token(f"{base}/oauth/token", refresh_token=renewed["refresh_token"])
    assert refused.value.error == "invalid_grant"

    grants = requests.get(f"{base}/api/v1/me/partner-grants", headers=own, timeout=30).json()
    assert [g["partner_name"] for g in grants] == ["ヒダスケ!"] and grants[0]["last_used_at"]


def test_a_reused_code_and_a_wrong_verifier_are_invalid_grant(served):
    base = served["base"]
    partner, location, verifier = _authorized(served)
    with pytest.raises(OAuthError) as wrong:
        _partner(served).fetch_token(f"{base}/oauth/token", authorization_response=location,
                                     code_verifier=generate_token(48))
    assert wrong.value.error == "invalid_grant"
    token = partner.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    with pytest.raises(OAuthError) as reused:
        _partner(served).fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert reused.value.error == "invalid_grant"
    assert partner.get(f"{base}/api/v1/partner/me", timeout=30).status_code == 401  # revoked by the replay
    assert token["access_token"]


def test_denied_and_unknown_redirect_uris(served):
    base = served["base"]
    partner = _partner(served)
    url, state = partner.create_authorization_url(f"{base}/oauth/authorize", code_verifier=generate_token(48))
    location = _answer(served, url, decision="deny")
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(REDIRECT + "?") and query["error"] == ["access_denied"] and query["state"] == [state]
    assert "code" not in query
    # A redirect URI the partner did not register: an error page, never a redirect.
    elsewhere = OAuth2Session(served["client_id"], served["secret"], scope=SCOPE, code_challenge_method="S256",
                              redirect_uri="https://attacker.example/cb")
    url, _ = elsewhere.create_authorization_url(f"{base}/oauth/authorize", code_verifier=generate_token(48))
    page = served["browser"].get(url, timeout=30, allow_redirects=False)
    assert page.status_code == 400 and "Location" not in page.headers and "attacker.example" not in page.text


def test_two_exchanges_of_one_code_at_the_same_moment(served):
    """Exactly one gets tokens (the code is spent by a conditional UPDATE), whichever database."""
    base = served["base"]
    _, location, verifier = _authorized(served)

    def exchange(_i, start):
        session = _partner(served)
        start()
        try:
            return session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
        except OAuthError as error:
            return error.error

    results = together(2, exchange)
    assert sorted(r if isinstance(r, str) else "token" for r in results) == ["invalid_grant", "token"]


def test_the_same_report_twice_at_the_same_moment(served):
    """One report is made; the other answers it (the unique index on the partner's id decides)."""
    base = served["base"]
    partner, location, verifier = _authorized(served)
    token = partner.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    body = {"organization_code": HIDA, "done_on": days(-1), "title": "古川町の雪かき", "kind": "volunteer",
            "external_id": "twice-1"}

    def send(_i, start):
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        start()
        return requests.post(f"{base}/api/v1/partner/activities", json=body, headers=headers, timeout=30)

    answers = together(2, send)
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert answers[0].json()["id"] == answers[1].json()["id"]
