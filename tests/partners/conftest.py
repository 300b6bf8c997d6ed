"""Partners' tests share: a partner made as create-partner makes it, a resident signed in on a browser
(the test client with cookies and CSRF tokens), and the authorization code flow driven through the
consent page and /oauth/token exactly as a partner and a browser drive it (PKCE S256, HTTP Basic)."""
import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from registry.extensions import db
from registry.partners import service
from tests.conftest import Browser
from tests.factories import HIDA, register

REDIRECT = "https://partner.example/oauth/callback"
ALL_SCOPES = "registrations:read activities:write"
SIGNUP_PASSWORD = "correct-horse-9"  # tests/conftest.py signup's
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)" class="choice">')


@dataclass
class PartnerApp:
    client_id: str
    secret: str
    name: str
    redirect_uri: str = REDIRECT

    @property
    def basic(self) -> dict:
        credentials = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {credentials}"}


@dataclass
class Resident:
    id: str
    email: str
    token: str  # the person's own API token (never valid on /api/v1/partner/*)
    browser: Browser


def pkce() -> tuple[str, str]:
    """(code_verifier, its S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture
def make_partner():
    def make(name: str = "ヒダスケ!", redirect_uris=(REDIRECT,)) -> PartnerApp:
        partner, secret = service.create_partner(name, list(redirect_uris))
        db.session.commit()  # the test's savepoint only
        return PartnerApp(partner.client_id, secret, name, redirect_uris[0])

    return make


@pytest.fixture
def partner(make_partner) -> PartnerApp:
    return make_partner()


@pytest.fixture
def make_resident(app, api, signup):
    """make_resident(registered_with=(HIDA,)) → a resident registered there, signed in on a browser."""

    def make(registered_with=(HIDA,)) -> Resident:
        user, token = signup()
        for code in registered_with:
            register(api, token, code, ties=("volunteer",))
        browser = Browser(app.test_client())
        assert browser.login(user["email"], SIGNUP_PASSWORD).status_code == 302
        return Resident(user["id"], user["email"], token, browser)

    return make


@pytest.fixture
def resident_with_browser(make_resident) -> Resident:
    return make_resident()


def authorize_path(partner: PartnerApp, challenge: str | None, *, scope: str = ALL_SCOPES, state: str = "state-1",
                   **changes) -> str:
    query = {"response_type": "code", "client_id": partner.client_id, "redirect_uri": partner.redirect_uri,
             "scope": scope, "state": state, "code_challenge": challenge, "code_challenge_method": "S256", **changes}
    return "/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


def consent(browser: Browser, path: str, decision: str = "allow"):
    """Opens the consent page and answers it as a person would: the form's own action and CSRF token."""
    page = browser.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    action = FORM_ACTION.search(page.get_data(as_text=True)).group(1).replace("&amp;", "&")
    return browser.post(action, {"decision": decision})


def redirected(response) -> dict:
    """The query the consent page sent the browser back to the partner with."""
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    location = urlsplit(response.headers["Location"])
    return {"to": f"{location.scheme}://{location.netloc}{location.path}",
            **{k: v[0] for k, v in parse_qs(location.query).items()}}


class PartnerClient:
    """The test client as a partner's server calls /oauth/*: form bodies, each request in an app
    context of its own (a fresh `g`, as in production), the test's session expired afterwards."""

    def __init__(self, client):
        self.client = client

    def post(self, path: str, data: dict, headers: dict | None = None):
        with self.client.application.app_context():
            response = self.client.post(path, data=data, headers=headers or {})
        db.session.expire_all()
        return response


@pytest.fixture
def oauth(client) -> PartnerClient:
    return PartnerClient(client)


def exchange(client: PartnerClient, partner: PartnerApp, code: str, verifier: str | None, **changes):
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": partner.redirect_uri,
            "code_verifier": verifier, **changes}
    return client.post("/oauth/token", data={k: v for k, v in body.items() if v is not None}, headers=partner.basic)


def refresh(client: PartnerClient, partner: PartnerApp, refresh_token: str):
    return client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                       headers=partner.basic)


def code_for(person: Resident, partner: PartnerApp, *, scope: str = ALL_SCOPES) -> tuple[str, str]:
    """(code, verifier): the person allowed the partner on the consent page."""
    verifier, challenge = pkce()
    answer = redirected(consent(person.browser, authorize_path(partner, challenge, scope=scope)))
    assert answer["state"] == "state-1" and answer["to"] == partner.redirect_uri
    return answer["code"], verifier


@pytest.fixture
def connect(oauth):
    """connect(person, partner, scope=…) → the token response (access_token, refresh_token, …)."""

    def run(person: Resident, partner: PartnerApp, *, scope: str = ALL_SCOPES) -> dict:
        code, verifier = code_for(person, partner, scope=scope)
        response = exchange(oauth, partner, code, verifier)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return run
