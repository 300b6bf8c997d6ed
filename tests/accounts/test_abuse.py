"""Abuse resistance: sign-in back-off, rate limits, token listing and revocation."""
from datetime import timedelta

from registry.accounts.models import LoginThrottle
from registry.common.time import utcnow
from registry.extensions import db


def _login(api, email, password):
    return api.post("/auth/login", json={"email": email, "password": password})


def test_backoff_after_repeated_failures_known_or_unknown(api, signup):
    user, _ = signup()
    for email in (user["email"], "nobody-here@example.jp"):
        for _ in range(4):
            assert _login(api, email, "wrong-password").status_code == 401
        fifth = _login(api, email, "wrong-password")
        assert fifth.status_code == 401
        locked = _login(api, email, "correct-horse-9")
        assert locked.status_code == 429 and locked.get_json()["code"] == "rate_limited"
        assert 0 < int(locked.headers["Retry-After"]) <= 60
    # Once the wait is over, the right password works and clears the count.
    row = db.session.get(LoginThrottle, user["email"].lower())
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert _login(api, user["email"], "correct-horse-9").status_code == 200
    assert db.session.get(LoginThrottle, user["email"].lower()) is None


def test_backoff_grows(api, signup):
    user, _ = signup()
    for _ in range(5):
        _login(api, user["email"], "wrong-password")
    row = db.session.get(LoginThrottle, user["email"].lower())
    first = row.locked_until
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    _login(api, user["email"], "wrong-password")
    row = db.session.get(LoginThrottle, user["email"].lower())
    assert row.failures == 6 and row.locked_until - utcnow() > timedelta(minutes=1, seconds=50)
    assert first is not None


def test_certificate_checks_are_rate_limited(api):
    for _ in range(120):
        assert api.get("/certificates/verify?token=x").status_code == 200
    limited = api.get("/certificates/verify?token=x")
    assert limited.status_code == 429 and limited.get_json()["code"] == "rate_limited"
    assert limited.mimetype == "application/problem+json" and int(limited.headers["Retry-After"]) > 0


def test_sign_in_is_limited_per_address(api):
    for _ in range(20):
        assert api.post("/auth/login", json={"email": "target@example.jp", "password": "x"}).status_code in (401, 429)
    assert api.post("/auth/login", json={"email": "target@example.jp", "password": "x"}).status_code == 429
    # Another address from the same IP is still served (carrier-grade NAT).
    assert api.post("/auth/login", json={"email": "other@example.jp", "password": "x"}).status_code == 401


def test_tokens_listed_and_revoked(api, signup):
    user, first = signup()
    second = _login(api, user["email"], "correct-horse-9").get_json()["token"]
    tokens = api.get("/me/tokens", token=second).get_json()
    assert len(tokens) == 2 and set(tokens[0]) == {"id", "created_at", "expires_at"}
    assert first not in str(tokens) and second not in str(tokens)
    oldest = tokens[-1]["id"]
    assert api.delete(f"/me/tokens/{oldest}", token=second).status_code == 204
    assert api.get("/me", token=first).status_code == 401
    assert api.get("/me", token=second).status_code == 200
    _, stranger = signup()
    assert api.delete(f"/me/tokens/{tokens[0]['id']}", token=stranger).status_code == 404
