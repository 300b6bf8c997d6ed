"""The partners' consent page in a real browser at 360×740: the partner and each scope in plain
Japanese, buttons a thumb can hit, no sideways scrolling, and both answers taking the person back to
the partner (whose callback Playwright answers in place of the partner's server)."""
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from registry.extensions import db
from registry.partners import service
from tests.partners.conftest import REDIRECT, authorize_path, pkce, PartnerApp

pytestmark = [pytest.mark.committing, pytest.mark.slow]  # chromium and a live server
SMALL_PHONE = {"width": 360, "height": 740}


@pytest.fixture
def consenting(app, phone):
    """A phone at 360×740 signed up as a new resident, a partner, and the partner's callback answered."""
    with app.app_context():
        made, secret = service.create_partner("ヒダスケ!", [REDIRECT])
        db.session.commit()
        partner = PartnerApp(made.client_id, secret, made.name)
    p = phone(viewport=SMALL_PHONE)
    p.sign_up(f"consent-{uuid.uuid4().hex[:8]}@example.jp", "同意花子", 1990)
    p.page.route(REDIRECT + "*", lambda route: route.fulfill(status=200, content_type="text/plain",
                                                              body="partner callback"))
    return p, partner


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_the_consent_page_at_phone_size_and_allowing(consenting):
    p, partner = consenting
    _, challenge = pkce()
    p.goto(authorize_path(partner, challenge, state="phone-1"))
    assert p.page.locator("html").get_attribute("lang") == "ja"
    assert "ヒダスケ!" in p.page.locator("h1").inner_text()
    scopes = p.page.locator("[data-scope]")
    assert scopes.count() == 2
    assert "登録先を見る" in scopes.nth(0).inner_text() and "活動を報告する" in scopes.nth(1).inner_text()
    assert "マイページ" in p.page.locator("main").inner_text()  # where it can be stopped
    for button in p.page.locator("main button").all():
        box = button.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44
    p.no_sideways_scroll()
    p.shot("partners-01-consent")
    p.page.click("button:has-text('許可する')")
    p.page.wait_for_url(REDIRECT + "*")
    answer = _query(p.page.url)
    assert answer["state"] == "phone-1" and answer["code"]
    assert p.errors == []  # nothing refused on the way (the page's form-action lets the redirect go)


def test_denying_at_phone_size(consenting):
    p, partner = consenting
    _, challenge = pkce()
    p.goto(authorize_path(partner, challenge, state="phone-2"))
    p.page.click("button:has-text('許可しない')")
    p.page.wait_for_url(REDIRECT + "*")
    assert _query(p.page.url) == {"error": "access_denied", "state": "phone-2",
                                  "error_description": "The resource owner or authorization server denied the request"}
    assert p.errors == []


def test_an_unknown_redirect_uri_shows_an_error_and_stays(consenting):
    p, partner = consenting
    _, challenge = pkce()
    response = p.goto(authorize_path(partner, challenge, redirect_uri="https://attacker.example/cb"))
    assert response.status == 400 and urlsplit(p.page.url).netloc.startswith("127.0.0.1")
    assert "連携サービスからのリンクが正しくありません" in p.page.locator("h1").inner_text()
    p.no_sideways_scroll()
    p.shot("partners-02-bad-link")


def test_the_consent_page_in_english(consenting):
    p, partner = consenting
    _, challenge = pkce()
    p.goto(authorize_path(partner, challenge) + "&lang=en")
    assert p.page.locator("html").get_attribute("lang") == "en"
    assert "ヒダスケ! asks to work with your registration" in p.page.locator("h1").inner_text()
    assert "Report your activities" in p.page.locator("main").inner_text()
    p.no_sideways_scroll()
    p.shot("partners-03-consent-en")
