import base64
import json
import os
import re
import stat
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.certificates import service
from registry.certificates.keys import KEY_FILE, CertificateKey, app_key, load_or_create
from registry.common.time import TOKYO
from registry.registrations.models import Registration

NOW = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)  # 12:00 in Tokyo


def _registration(**fields) -> Registration:
    values = {"id": uuid.uuid4(), "organization_code": "212172", "tier": "basic", "status": "active"}
    values.update(fields)
    return Registration(**values)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_kid_is_the_rfc7638_thumbprint():
    # RFC 8037 appendix A.1-A.3: the Ed25519 key and its JWK thumbprint.
    d = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = CertificateKey(Ed25519PrivateKey.from_private_bytes(d))
    assert key.x == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert key.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert key.public_jwk() == {"kty": "OKP", "crv": "Ed25519", "x": key.x, "kid": key.kid, "use": "sig",
                                "alg": "EdDSA"}


def test_key_file_is_created_once_with_mode_0600(tmp_path):
    first = load_or_create(None, str(tmp_path))
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create(None, str(tmp_path)).kid == first.kid  # survives a restart
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]  # no temporary files left behind


def test_concurrent_first_start_agrees_on_one_key(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(lambda _: load_or_create(None, str(tmp_path)).kid, range(16)))
    assert len(kids) == 1


def test_configured_pem_wins_over_the_file(tmp_path):
    configured = CertificateKey.generate()
    load_or_create(None, str(tmp_path))
    assert load_or_create(configured.private_pem().decode(), str(tmp_path)).kid == configured.kid
    one_line = configured.private_pem().decode().replace("\n", "\\n")  # as put in a .env line
    assert load_or_create(one_line, str(tmp_path / "elsewhere")).kid == configured.kid
    assert not (tmp_path / "elsewhere").exists()


def test_wrong_configured_keys_are_refused(tmp_path):
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(RuntimeError, match="Ed25519"):
        load_or_create(ec_pem.decode(), str(tmp_path))
    with pytest.raises(RuntimeError, match="PEM"):
        load_or_create("not a key", str(tmp_path))


def test_app_key_is_loaded_once(app, certificate_key):
    assert app_key(app) is app_key(app)
    assert app_key(app).kid == certificate_key.kid


def test_token_lifetime_and_expiry_against_the_clock(certificate_key):
    reg = _registration()
    keys = service.public_keys(certificate_key)
    token, expires_at = service.sign(reg, key=certificate_key, ttl_hours=24, now=NOW)
    assert expires_at == NOW + timedelta(hours=24)
    claims = jwt.decode(token, certificate_key.public_key, algorithms=["EdDSA"], options={"verify_exp": False})
    assert claims == {"sub": str(reg.id), "org": "212172", "tier": "basic", "iat": int(NOW.timestamp()),
                      "exp": int(expires_at.timestamp())}
    assert service._verified_claims(token, keys)["sub"] == reg.id
    assert service.verify(token, keys=keys, now=expires_at)["reason"] == "expired"
    assert service.verify(token, keys=keys, now=expires_at + timedelta(days=30))["reason"] == "expired"
    _, short_expiry = service.sign(reg, key=certificate_key, ttl_hours=1, now=NOW)
    assert short_expiry == NOW + timedelta(hours=1)


def test_premium_token_ends_with_the_premium(certificate_key):
    last_day = NOW.astimezone(TOKYO).date()  # premium valid through today, Tokyo time
    reg = _registration(tier="premium", premium_valid_until=last_day)
    _, expires_at = service.sign(reg, key=certificate_key, ttl_hours=24, now=NOW)
    assert expires_at == datetime(2026, 3, 2, tzinfo=TOKYO)  # midnight after the last day
    reg.premium_valid_until = date(2026, 6, 1)
    _, expires_at = service.sign(reg, key=certificate_key, ttl_hours=24, now=NOW)
    assert expires_at == NOW + timedelta(hours=24)


def test_well_signed_but_malformed_claims_are_refused(certificate_key):
    keys = service.public_keys(certificate_key)
    base = {"sub": str(uuid.uuid4()), "org": "212172", "tier": "basic", "iat": 1, "exp": 2 ** 40}
    bad_claims = [{"sub": "not-a-uuid"}, {"exp": "2099"}, {"exp": 1.5e12}, {"iat": True}, {"org": 212172},
                  {"tier": None}]
    for change in bad_claims:
        token = jwt.encode({**base, **change}, certificate_key.private_key, algorithm="EdDSA",
                           headers={"kid": certificate_key.kid})
        assert service._verified_claims(token, keys) is None, change
    for missing in service.CLAIMS:
        claims = {k: v for k, v in base.items() if k != missing}
        token = jwt.encode(claims, certificate_key.private_key, algorithm="EdDSA", headers={"kid": certificate_key.kid})
        assert service._verified_claims(token, keys) is None, missing
    no_kid = jwt.encode(base, certificate_key.private_key, algorithm="EdDSA")
    head, payload, signature = no_kid.split(".")
    odd_kid = f"{_b64({'alg': 'EdDSA', 'kid': ['x']})}.{payload}.{signature}"  # PyJWT refuses to make one
    for token in (no_kid, odd_kid, None, 42):
        assert service.verify(token, keys=keys)["reason"] == "bad_signature"
    good = jwt.encode(base, certificate_key.private_key, algorithm="EdDSA", headers={"kid": certificate_key.kid})
    assert service._verified_claims(good, keys) is not None


def test_key_rotation_accepts_any_published_key(certificate_key):
    old, new = CertificateKey.generate(), certificate_key
    token, _ = service.sign(_registration(), key=old, ttl_hours=24, now=NOW)
    assert service._verified_claims(token, service.public_keys(new)) is None
    assert service._verified_claims(token, service.public_keys(new, old)) is not None
    assert [k["kid"] for k in service.key_set(new, old)["keys"]] == [new.kid, old.kid]


def test_verify_url_and_qr():
    url = service.verify_url("https://furusato.example.jp/", "aaa.bbb-_.ccc")
    assert url == "https://furusato.example.jp/verify?token=aaa.bbb-_.ccc"
    svg = service.qr_svg(url + "x" * 350)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert 'fill="#fff"' in svg  # light background and quiet zone drawn, not transparent
    # A viewBox and no fixed size: CSS scales the whole code (a fixed size was cut to the box instead).
    opening = svg[:svg.index(">")]
    assert re.search(r'viewBox="0 0 (\d+) \1"', opening) and "width=" not in opening and "height=" not in opening
