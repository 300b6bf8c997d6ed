"""Behind reverse proxies (API.md "Past one machine"): with `PROXY_HOPS` = n the client is the address
the nearest n proxies forwarded (logs, refused sign-ins, rate limits), with 0 the peer whatever the
headers say; every absolute link starts with SITE_URL whatever Host or X-Forwarded-Host said; and the
operator's network (/metrics, /readyz) still checks the peer as well as every forwarded address."""
import uuid

import pytest

from config import TestingConfig
from registry import create_app
from tests.conftest import Api
from tests.operations.conftest import access_lines

SITE = "https://furusato.example.jp"
PROXY = {"REMOTE_ADDR": "127.0.0.1"}  # nginx on the same host
HOSTILE = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}


@pytest.fixture(scope="module")
def proxied(app):
    """The app as production runs it behind one proxy (PROXY_HOPS=1), on the test database."""
    same = {name: app.config[name] for name in ("SQLALCHEMY_DATABASE_URI", "CERTIFICATE_SIGNING_KEY", "UPLOAD_DIR")}
    return create_app(TestingConfig, {**same, "PROXY_HOPS": 1, "SITE_URL": SITE + "/"})


def _client_address(client, log_lines, **kwargs) -> str:
    response = client.get("/api/v1/organizations/999999", **kwargs)
    assert response.status_code == 404
    [line] = [line for line in access_lines(log_lines()) if line["request_id"] == response.headers["X-Request-ID"]]
    return line["client_address"]


def test_behind_one_trusted_proxy_the_client_is_the_address_it_forwarded(proxied, log_lines):
    client = proxied.test_client()
    forwarded = {"X-Forwarded-For": "198.51.100.7, 203.0.113.5"}  # a forged entry, then the proxy's
    assert _client_address(client, log_lines, headers=forwarded, environ_base=PROXY) == "203.0.113.5"
    assert _client_address(client, log_lines, environ_base=PROXY) == "127.0.0.1"  # nothing forwarded


def test_without_trusted_proxies_the_client_is_the_peer(client, log_lines):
    forwarded = {"X-Forwarded-For": "198.51.100.7, 203.0.113.5"}
    assert _client_address(client, log_lines, headers=forwarded, environ_base=PROXY) == "127.0.0.1"
    assert _client_address(client, log_lines, environ_base={"REMOTE_ADDR": "192.0.2.44"}) == "192.0.2.44"


def test_two_proxies_two_hops(app, log_lines):
    same = {name: app.config[name] for name in ("SQLALCHEMY_DATABASE_URI", "CERTIFICATE_SIGNING_KEY", "UPLOAD_DIR")}
    two = create_app(TestingConfig, {**same, "PROXY_HOPS": 2})
    forwarded = {"X-Forwarded-For": "10.9.9.9, 198.51.100.7, 203.0.113.5"}
    assert _client_address(two.test_client(), log_lines, headers=forwarded, environ_base=PROXY) == "198.51.100.7"


def test_a_refused_sign_in_names_the_forwarded_client(proxied, log_lines):
    response = Api(proxied.test_client()).post(
        "/auth/login", json={"email": "nobody-proxy@example.jp", "password": "wrong-wrong-1"},
        headers={"X-Forwarded-For": "203.0.113.77"}, environ_base=PROXY)
    assert response.status_code == 401
    [line] = [line for line in log_lines() if line.get("event") == "sign_in_failed"]
    assert line["client_address"] == "203.0.113.77" and line["reason"] == "unknown_account"
    assert "nobody-proxy" not in str(log_lines())


def test_rate_limits_count_the_forwarded_client(proxied):
    """Behind the proxy every request comes from 127.0.0.1: the per-address limits must count the
    client the proxy named, or one client's refusals would be everyone's."""
    client = proxied.test_client()

    def check(address):
        return client.get("/api/v1/certificates/verify?token=x", headers={"X-Forwarded-For": address},
                          environ_base=PROXY).status_code

    statuses = [check("203.0.113.10") for _ in range(121)]  # PER_IP_VERIFY: 120 a minute
    assert statuses[:120] == [200] * 120 and statuses[120] == 429
    assert check("203.0.113.11") == 200


@pytest.mark.parametrize("hops", [0, 1])
@pytest.mark.parametrize("peer, forwarded, status", [
    ("203.0.113.9", "127.0.0.1", 404),         # outside, forging an inside address: the peer is outside
    ("127.0.0.1", "203.0.113.9", 404),         # through the proxy from outside
    ("127.0.0.1", "203.0.113.9, 10.0.0.5", 404),  # a forged inside entry cannot hide the outside one
    ("127.0.0.1", "10.1.2.3", 200),            # through the proxy from the operator's network
    ("10.1.2.3", None, 200),                   # straight from the operator's network
])
def test_the_operators_network_checks_the_peer_and_every_forwarded_address(
        client, proxied, hops, peer, forwarded, status):
    test_client = proxied.test_client() if hops else client
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert test_client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": peer}).status_code == status


def test_links_start_with_site_url_whatever_the_request_named(proxied):
    api = Api(proxied.test_client())
    response = api.get("/organizations?per_page=1&page=2", headers=HOSTILE, environ_base=PROXY)
    links = response.headers["Link"]
    assert links.startswith(f"<{SITE}/api/v1/organizations?") and "evil" not in links and "http:" not in links

    email = f"proxy-{uuid.uuid4().hex[:8]}@example.jp"
    signed_up = api.post("/auth/signup", json={"email": email, "password": "correct-horse-9", "display_name": "代理",
                                               "home_municipality_code": "131016", "birth_year": 1990})
    token = signed_up.get_json()["token"]
    registration = api.post("/registrations", token=token, json={"organization_code": "212172", "ties": ["family"]})
    assert registration.status_code == 201, registration.get_json()
    certificate = api.get(f"/registrations/{registration.get_json()['id']}/certificate", token=token,
                          headers=HOSTILE, environ_base=PROXY).get_json()
    assert certificate["verify_url"] == f"{SITE}/verify?token={certificate['token']}"


def test_behind_tls_form_posts_must_come_from_the_site(proxied):
    """With X-Forwarded-Proto https trusted, the request is HTTPS, so Flask-WTF's HTTPS rule applies
    too: a form post's Referer must be the site (the pages send it: Referrer-Policy same-origin)."""
    import re

    client = proxied.test_client()
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "furusato.example.jp", "X-Forwarded-For": "203.0.113.5",
           "Accept": "text/html"}

    def send(method, path, **kwargs):
        with proxied.app_context():  # a fresh context per request, as in production
            return client.open(path, method=method, environ_base=PROXY, **kwargs)

    page = send("GET", "/login", headers=tls)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {"email": "referer-check@example.jp", "password": "wrong-guess-1", "csrf_token": token}
    same_site = send("POST", "/login", data=form, headers={**tls, "Referer": f"{SITE}/login"})
    assert same_site.status_code == 401  # the form was taken; the pair is wrong
    for referer in ({}, {"Referer": "https://evil.example/login"}):
        assert send("POST", "/login", data=form, headers={**tls, **referer}).status_code == 400
