"""The OAuth 2.0 server through HTTP (the test client): the consent page, /oauth/token and /oauth/revoke,
and the failures RFC 6749, RFC 7636 and RFC 7009 name. The same flow driven by a real OAuth client
library against a served app is in test_flow.py."""
import hashlib
from datetime import timedelta

from sqlalchemy import select, update

from registry.common.time import utcnow
from registry.extensions import db
from registry.partners.models import PartnerAuthorizationCode, PartnerToken
from tests.conftest import Browser
from tests.factories import HIDA, PASSWORD
from tests.partners.conftest import (
    ALL_SCOPES, authorize_path, code_for, consent, exchange, pkce, redirected, refresh,
)
from tests.scenes import account


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_code_flow_gives_bearer_tokens_for_an_hour(api, oauth, partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner)
    response = exchange(oauth, partner, code, verifier)
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == ALL_SCOPES
    assert body["access_token"] and body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    me = api.get("/partner/me", token=body["access_token"])
    assert me.status_code == 200 and [r["organization_code"] for r in me.get_json()["registrations"]] == ["212172"]


def test_codes_and_tokens_are_stored_as_digests_only(oauth, partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner)
    body = exchange(oauth, partner, code, verifier).get_json()
    row = db.session.scalar(select(PartnerToken))
    assert row.access_token_hash == _sha256(body["access_token"])
    assert row.refresh_token_hash == _sha256(body["refresh_token"])
    assert db.session.scalar(select(PartnerAuthorizationCode)).code_hash == _sha256(code)
    stored = " ".join(str(value) for table in ("partners", "partner_authorization_codes", "partner_tokens")
                      for r in db.session.execute(select(db.metadata.tables[table])) for value in r)
    for secret in (code, body["access_token"], body["refresh_token"], partner.secret):
        assert secret not in stored


def test_a_code_works_once_and_its_replay_revokes_what_it_gave(api, oauth, partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner)
    first = exchange(oauth, partner, code, verifier)
    assert first.status_code == 200
    again = exchange(oauth, partner, code, verifier)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the tokens issued for a replayed code are revoked (someone else holds a copy).
    assert api.get("/partner/me", token=first.get_json()["access_token"]).status_code == 401
    assert refresh(oauth, partner, first.get_json()["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_a_wrong_or_missing_verifier(oauth, partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner)
    wrong = exchange(oauth, partner, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    missing = exchange(oauth, partner, code, None)
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"
    assert exchange(oauth, partner, code, verifier).status_code == 200  # a refused try does not spend it


def test_a_code_lives_ten_minutes(oauth, partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner)
    row = db.session.scalar(select(PartnerAuthorizationCode))
    assert timedelta(minutes=9, seconds=59) < row.expires_at - row.created_at <= timedelta(minutes=10)
    db.session.execute(update(PartnerAuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    expired = exchange(oauth, partner, code, verifier)
    assert expired.status_code == 400 and expired.get_json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_partner_and_redirect_uri(oauth, partner, make_partner, resident_with_browser):
    other = make_partner("おてつたび", ("https://other.example/cb",))
    code, verifier = code_for(resident_with_browser, partner)
    assert exchange(oauth, other, code, verifier, redirect_uri=partner.redirect_uri).get_json()["error"] == "invalid_grant"
    assert exchange(oauth, partner, code, verifier, redirect_uri=partner.redirect_uri + "/").get_json()["error"] \
        == "invalid_grant"
    assert exchange(oauth, partner, code, verifier).status_code == 200


def test_the_partner_authenticates_with_its_secret(oauth, partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner)
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": partner.redirect_uri,
            "code_verifier": verifier}
    wrong = oauth.post("/oauth/token", body, headers={**partner.basic, "Authorization": "Basic " + "eDp5"})  # x:y
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"
    in_body = oauth.post("/oauth/token", {**body, "client_id": partner.client_id, "client_secret": partner.secret})
    assert in_body.status_code == 401 and in_body.get_json()["error"] == "invalid_client"  # HTTP Basic only
    assert oauth.post("/oauth/token", body, headers=partner.basic).status_code == 200


def test_refresh_tokens_rotate_and_a_replayed_one_revokes_the_family(api, oauth, partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner)
    first = exchange(oauth, partner, code, verifier).get_json()
    second = refresh(oauth, partner, first["refresh_token"])
    assert second.status_code == 200
    renewed = second.get_json()
    assert renewed["refresh_token"] != first["refresh_token"] and renewed["expires_in"] == 3600
    assert api.get("/partner/me", token=renewed["access_token"]).status_code == 200
    replay = refresh(oauth, partner, first["refresh_token"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert api.get("/partner/me", token=renewed["access_token"]).status_code == 401
    assert refresh(oauth, partner, renewed["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_the_scope(oauth, partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner, scope="registrations:read")
    token = exchange(oauth, partner, code, verifier).get_json()
    wider = oauth.post("/oauth/token", {"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                                        "scope": ALL_SCOPES}, headers=partner.basic)
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"


def test_revocation_rfc7009(api, oauth, partner, make_partner, resident_with_browser):
    code, verifier = code_for(resident_with_browser, partner)
    token = exchange(oauth, partner, code, verifier).get_json()
    other = make_partner("SMOUT", ("https://smout.example/cb",))
    refused = oauth.post("/oauth/revoke", {"token": token["access_token"]}, headers=other.basic)
    assert refused.status_code == 400  # not its token
    assert api.get("/partner/me", token=token["access_token"]).status_code == 200
    unknown = oauth.post("/oauth/revoke", {"token": "no-such-token"}, headers=partner.basic)
    assert unknown.status_code == 200  # RFC 7009 §2.2: an invalid token is no error
    assert oauth.post("/oauth/revoke", {"token": token["refresh_token"], "token_type_hint": "refresh_token"},
                      headers=partner.basic).status_code == 200
    assert api.get("/partner/me", token=token["access_token"]).status_code == 401  # the whole grant's tokens
    assert refresh(oauth, partner, token["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert oauth.post("/oauth/revoke", {"token": token["access_token"]}).status_code == 401  # the partner must sign


def test_denying_sends_access_denied_with_the_state(partner, resident_with_browser):
    _, challenge = pkce()
    answer = redirected(consent(resident_with_browser.browser, authorize_path(partner, challenge, state="s-42"),
                                decision="deny"))
    assert (answer["to"], answer["error"], answer["state"]) == (partner.redirect_uri, "access_denied", "s-42")
    assert "code" not in answer
    assert db.session.scalar(select(PartnerAuthorizationCode)) is None


def test_an_unknown_redirect_uri_or_partner_is_never_redirected_to(partner, resident_with_browser):
    browser = resident_with_browser.browser
    _, challenge = pkce()
    for changes in ({"redirect_uri": "https://evil.example/cb"}, {"redirect_uri": partner.redirect_uri + "/"},
                    {"redirect_uri": partner.redirect_uri.upper()}, {"redirect_uri": None},
                    {"client_id": "00000000-0000-0000-0000-000000000000"}, {"client_id": "not-a-client"}):
        page = browser.get(authorize_path(partner, challenge, **changes))
        assert page.status_code == 400 and "Location" not in page.headers, changes
        assert "連携サービスからのリンクが正しくありません" in page.get_data(as_text=True)
        # Nor when the form is posted anyway.
        posted = browser.post(authorize_path(partner, challenge, **changes), {"decision": "allow"})
        assert posted.status_code == 400 and "Location" not in posted.headers


def test_pkce_s256_is_required(partner, resident_with_browser):
    browser = resident_with_browser.browser
    verifier, challenge = pkce()
    for changes in ({"code_challenge": None, "code_challenge_method": None},
                    {"code_challenge_method": "plain", "code_challenge": verifier},
                    {"code_challenge_method": None}):
        answer = redirected(browser.get(authorize_path(partner, challenge, **changes)))
        assert answer["error"] == "invalid_request" and answer["state"] == "state-1", changes


def test_unknown_scopes_and_response_types(partner, resident_with_browser):
    browser = resident_with_browser.browser
    _, challenge = pkce()
    assert redirected(browser.get(authorize_path(partner, challenge, scope="email")))["error"] == "invalid_scope"
    assert redirected(browser.get(authorize_path(partner, challenge, scope="")))["error"] == "invalid_scope"
    assert redirected(browser.get(authorize_path(partner, challenge, response_type="token")))["error"] \
        == "unsupported_response_type"


def test_sign_in_comes_first_then_the_consent_page(app, partner, signup):
    user, _ = signup()
    browser = Browser(app.test_client())
    _, challenge = pkce()
    path = authorize_path(partner, challenge)
    first = browser.get(path)
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    browser.get(first.headers["Location"])
    signed_in = browser.post(first.headers["Location"], {"email": user["email"], "password": "correct-horse-9"})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == path
    page = browser.get(path)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="ja">' in text
    assert "ヒダスケ!が、あなたのふるさと住民登録との連携を求めています" in text
    assert "登録先を見る" in text and "活動を報告する" in text and "許可する" in text and "許可しない" in text
    # The answer is a redirect to the partner: the page lets its form go there (CSP form-action).
    assert "form-action 'self' https://partner.example" in page.headers["Content-Security-Policy"]
    english = browser.get(path + "&lang=en").get_data(as_text=True)
    assert "ヒダスケ! asks to work with your registration" in english and "Report your activities" in english


def test_the_consent_form_needs_its_csrf_token(partner, resident_with_browser):
    _, challenge = pkce()
    path = authorize_path(partner, challenge)
    resident_with_browser.browser.get(path)
    refused = resident_with_browser.browser.post(path, {"decision": "allow"}, csrf=False)
    assert refused.status_code == 400 and "Location" not in refused.headers
    assert db.session.scalar(select(PartnerAuthorizationCode)) is None


def test_only_residents_grant(app, api, partner):
    staff = account(api, "staff", HIDA)
    browser = Browser(app.test_client())
    assert browser.login(staff.email, PASSWORD).status_code == 302
    _, challenge = pkce()
    assert browser.get(authorize_path(partner, challenge)).status_code == 403


def test_the_token_endpoint_is_rate_limited_per_partner(app, oauth, partner, make_partner, monkeypatch):
    monkeypatch.setitem(app.config, "PARTNER_TOKEN_RATE_LIMIT", "2/minute")
    other = make_partner("SMOUT", ("https://smout.example/cb",))
    body = {"grant_type": "refresh_token", "refresh_token": "unknown"}
    assert [oauth.post("/oauth/token", body, headers=partner.basic).status_code for _ in range(2)] == [400, 400]
    limited = oauth.post("/oauth/token", body, headers=partner.basic)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert oauth.post("/oauth/revoke", {"token": "unknown"}, headers=partner.basic).status_code == 429  # shared
    assert oauth.post("/oauth/token", body, headers=other.basic).status_code == 400  # counted alone
