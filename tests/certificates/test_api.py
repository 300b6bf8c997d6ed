import base64
import json
import uuid
from datetime import timedelta

import jwt
import pytest

from registry.accounts.models import User
from registry.certificates import service
from registry.certificates.keys import CertificateKey
from registry.common.time import today_tokyo, utcnow
from registry.extensions import db
from registry.registrations import service as registrations

VERIFY_FIELDS = {"valid", "reason", "organization_code", "tier", "valid_until", "benefits", "expires_at"}
PERSONAL = {"user_id", "user", "email", "display_name", "name", "birth_year", "home_municipality_code", "sub"}


@pytest.fixture
def registered(api, signup):
    """(user json, token, registration id) of a resident of 千代田区 registered with 飛騨市."""
    user, token = signup()
    response = api.post("/registrations", token=token, json={"organization_code": "212172", "ties": ["birthplace"]})
    assert response.status_code == 201, response.get_json()
    return user, token, response.get_json()["id"]


def _certificate(api, token, reg_id):
    response = api.get(f"/registrations/{reg_id}/certificate", token=token)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _verify(api, token):
    response = api.get("/certificates/verify", query_string={"token": token})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == VERIFY_FIELDS
    return body


def test_owner_gets_certificate_with_qr_of_the_verify_page(api, registered):
    _, token, reg_id = registered
    response = api.get(f"/registrations/{reg_id}/certificate", token=token)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    cert = response.get_json()
    assert set(cert) == {"token", "qr_svg", "verify_url", "expires_at", "registration_id", "organization_code", "tier"}
    assert cert["registration_id"] == reg_id and cert["organization_code"] == "212172" and cert["tier"] == "basic"
    assert cert["verify_url"] == f"http://localhost:5000/verify?token={cert['token']}"  # SITE_URL
    assert "<svg" in cert["qr_svg"] and 'viewBox="0 0 ' in cert["qr_svg"]  # scales to the width it is given
    assert cert["qr_svg"] == service.qr_svg(cert["verify_url"])  # the QR encodes exactly that URL
    assert cert["expires_at"].endswith("+09:00")


def test_token_carries_registration_organization_tier_and_a_24h_expiry(api, registered, certificate_key):
    _, token, reg_id = registered
    cert = _certificate(api, token, reg_id)
    header = jwt.get_unverified_header(cert["token"])
    assert header["alg"] == "EdDSA" and header["kid"] == certificate_key.kid
    claims = jwt.decode(cert["token"], certificate_key.public_key, algorithms=["EdDSA"])
    assert claims["sub"] == reg_id and claims["org"] == "212172" and claims["tier"] == "basic"
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert not PERSONAL - {"sub"} & set(claims)


def test_verify_a_fresh_certificate(api, registered):
    user, token, reg_id = registered
    body = _verify(api, _certificate(api, token, reg_id)["token"])
    assert body["valid"] is True and body["reason"] is None
    assert body["organization_code"] == "212172" and body["tier"] == "basic"
    assert body["valid_until"] is None and body["benefits"] == [] and body["expires_at"]


def test_verify_reveals_no_personal_data(api, registered):
    user, token, reg_id = registered
    response = api.get("/certificates/verify", query_string={"token": _certificate(api, token, reg_id)["token"]})
    assert not PERSONAL & set(response.get_json())
    text = response.get_data(as_text=True)
    for value in (user["id"], user["email"], user["display_name"], reg_id, "131016"):
        assert value not in text


def test_who_may_get_a_certificate(api, registered, signup, make_account):
    _, _, reg_id = registered
    _, other = signup()
    for token, status, code in ((other, 404, "not_found"), (make_account("staff", "212172"), 403, "forbidden"),
                                (None, 401, "unauthorized")):
        response = api.get(f"/registrations/{reg_id}/certificate", token=token)
        assert response.status_code == status and response.get_json()["code"] == code
    _, token, _ = registered
    unknown = api.get(f"/registrations/{uuid.uuid4()}/certificate", token=token)
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "not_found"


def test_no_certificate_for_an_ended_registration(api, registered):
    _, token, reg_id = registered
    assert api.delete(f"/registrations/{reg_id}", token=token).status_code == 204
    response = api.get(f"/registrations/{reg_id}/certificate", token=token)
    assert response.status_code == 409 and response.get_json()["code"] == "invalid_state"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_forged_tokens_are_bad_signature(api, registered, certificate_key):
    _, token, reg_id = registered
    good = _certificate(api, token, reg_id)["token"]
    head, payload, signature = good.split(".")
    claims = jwt.decode(good, certificate_key.public_key, algorithms=["EdDSA"])
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]
    premium_claims = dict(claims, tier="premium")
    other = CertificateKey.generate()
    forged = [
        f"{head}.{payload}.{flipped}",  # one character of the signature changed
        f"{head}.{_b64(premium_claims)}.{signature}",  # claims changed under the old signature
        jwt.encode(premium_claims, other.private_key, algorithm="EdDSA", headers={"kid": certificate_key.kid}),
        jwt.encode(premium_claims, other.private_key, algorithm="EdDSA", headers={"kid": other.kid}),
        f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': certificate_key.kid})}.{_b64(premium_claims)}.",
        jwt.encode(premium_claims, certificate_key.x, algorithm="HS256", headers={"kid": certificate_key.kid}),
        jwt.encode(premium_claims, certificate_key.public_jwk()["x"].encode() * 2, algorithm="HS512"),
        "", "garbage", "a.b.c", "...", good + "x", f"{head}.{payload}", good * 20, "あ" * 10_000,
    ]
    for bad in forged:
        body = _verify(api, bad)
        assert body == {"valid": False, "reason": "bad_signature", "organization_code": None, "tier": None,
                        "valid_until": None, "benefits": [], "expires_at": None}, bad[:80]


def test_missing_token_is_422(api):
    response = api.get("/certificates/verify")
    assert response.status_code == 422 and response.get_json()["code"] == "validation_error"
    assert "token" in response.get_json()["errors"]


def test_expired_certificate(api, registered, app, certificate_key):
    user, _, reg_id = registered
    owner = db.session.get(User, uuid.UUID(user["id"]))
    old = service.issue(owner, uuid.UUID(reg_id), key=certificate_key, ttl_hours=24, site_root="http://localhost/",
                        now=utcnow() - timedelta(hours=25))
    body = _verify(api, old["token"])
    assert body["valid"] is False and body["reason"] == "expired" and body["organization_code"] is None


def test_withdrawn_registration(api, registered):
    _, token, reg_id = registered
    cert = _certificate(api, token, reg_id)
    assert api.delete(f"/registrations/{reg_id}", token=token).status_code == 204
    body = _verify(api, cert["token"])
    assert body["valid"] is False and body["reason"] == "withdrawn"


def test_moved_in_registration(api, registered):
    _, token, reg_id = registered
    cert = _certificate(api, token, reg_id)
    assert api.patch("/me", token=token, json={"home_municipality_code": "212172"}).status_code == 200
    body = _verify(api, cert["token"])
    assert body["valid"] is False and body["reason"] == "moved_in"


def test_unknown_registration(api, certificate_key):
    from registry.registrations.models import Registration
    ghost = Registration(id=uuid.uuid4(), organization_code="212172", tier="basic", status="active")
    token, _ = service.sign(ghost, key=certificate_key, ttl_hours=24, now=utcnow())
    body = _verify(api, token)
    assert body["valid"] is False and body["reason"] == "not_found"


def _make_premium(api, app, make_account, user_json, token, reg_id):
    staff = make_account("staff", "212172")
    verification = api.post("/me/identity-verifications", token=token, json={"method": "in_person"}).get_json()
    assert api.post(f"/identity-verifications/{verification['id']}/confirm", token=staff).status_code == 200
    user = db.session.get(User, uuid.UUID(user_json["id"]))
    for days in (10, 40, 70):
        registrations.record_activity(user, "212172", today_tokyo() - timedelta(days=days))
    db.session.commit()
    request = api.post(f"/registrations/{reg_id}/premium-request", token=token)
    assert request.status_code == 202, request.get_json()
    approved = api.post(f"/premium-requests/{request.get_json()['id']}/approve", token=staff)
    assert approved.status_code == 200, approved.get_json()


def test_premium_certificate(api, app, registered, make_account):
    user, token, reg_id = registered
    basic = _certificate(api, token, reg_id)
    _make_premium(api, app, make_account, user, token, reg_id)
    cert = _certificate(api, token, reg_id)
    assert cert["tier"] == "premium"
    body = _verify(api, cert["token"])
    valid_until = api.get(f"/registrations/{reg_id}", token=token).get_json()["premium_valid_until"]
    assert body["valid"] is True and body["tier"] == "premium"
    assert valid_until and body["valid_until"] == valid_until
    # the tier is the registration's as of now, not the token's
    assert _verify(api, basic["token"])["tier"] == "premium"


def test_lapsed_premium_reports_basic(api, app, registered, make_account):
    from registry.registrations.models import Registration
    user, token, reg_id = registered
    _make_premium(api, app, make_account, user, token, reg_id)
    cert = _certificate(api, token, reg_id)
    reg = db.session.get(Registration, uuid.UUID(reg_id))
    reg.premium_valid_until = today_tokyo() - timedelta(days=1)  # lapsed; lapse-premiums has not run
    db.session.commit()
    body = _verify(api, cert["token"])
    assert body["valid"] is True and body["tier"] == "basic" and body["valid_until"] is None


def test_keys_verify_a_certificate_offline(api, registered):
    _, token, reg_id = registered
    response = api.get("/certificates/keys")
    assert response.status_code == 200
    keys = response.get_json()["keys"]
    assert len(keys) == 1
    jwk = keys[0]
    assert {k: jwk[k] for k in ("kty", "crv", "use", "alg")} == {"kty": "OKP", "crv": "Ed25519", "use": "sig",
                                                                 "alg": "EdDSA"}
    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}  # public part only, no "d"
    cert = _certificate(api, token, reg_id)
    assert jwt.get_unverified_header(cert["token"])["kid"] == jwk["kid"]
    claims = jwt.decode(cert["token"], jwt.PyJWK(jwk).key, algorithms=["EdDSA"])
    assert claims["sub"] == reg_id and claims["org"] == "212172" and claims["tier"] == "basic"
    key_set = jwt.PyJWKSet.from_dict(response.get_json())
    assert jwt.decode(cert["token"], key_set[jwk["kid"]].key, algorithms=["EdDSA"])["sub"] == reg_id


def test_endpoints_in_openapi(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/registrations/{registration_id}/certificate", "/api/v1/certificates/verify",
                 "/api/v1/certificates/keys"):
        assert path in paths
