"""deploy/nginx/registry.conf, served by a real nginx in front of a real gunicorn (PROXY_HOPS=1): the
access log keeps no query string and no Referer query (one-time tokens travel there), the app logs
the client's own address and the proxy's request id, outside callers stay out of /metrics, and plain
HTTP is sent to HTTPS. Only the listening addresses, certificate and log paths are changed from the
file an operator installs."""
import http.client
import os
import re
import shutil
import ssl
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.operations.serving import ROOT, free_port, gunicorn, production, served_environment, wait_until

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
SITE = ROOT / "deploy" / "nginx" / "registry.conf"
CLIENT = "127.0.0.2"  # the test's requests come from here: not the proxy's own 127.0.0.1
HOST = "furusato.example.jp"

pytestmark = [pytest.mark.slow, pytest.mark.committing,
              pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make nginx-deps)")]


def _certificate(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))


def _site(directory, https: int, plain: int, upstream: int) -> str:
    """The installed file with this run's ports, certificate and log directory."""
    text = SITE.read_text()
    replacements = [
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"),
        (r"listen 80;", f"listen 127.0.0.1:{plain};"),
        (r"/etc/letsencrypt/live/furusato.example.jp/fullchain.pem", str(directory / "cert.pem")),
        (r"/etc/letsencrypt/live/furusato.example.jp/privkey.pem", str(directory / "key.pem")),
        (r"/var/log/nginx/", f"{directory}/"),
        (r"127.0.0.1:8000", f"127.0.0.1:{upstream}"),
    ]
    for old, new in replacements:
        assert old in text, f"{old} is no longer in {SITE}: update this test"
        text = text.replace(old, new)
    return "\n".join(line for line in text.splitlines() if "listen [::]" not in line)  # no IPv6 here


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(https port, http port, gunicorn, nginx's access log)."""
    directory = tmp_path_factory.mktemp("nginx")
    directory.chmod(0o755)
    _certificate(directory)
    env = served_environment(directory, PROXY_HOPS=1, WEB_CONCURRENCY=1)
    with gunicorn(env, directory) as app_server:
        https, plain = free_port(), free_port()
        (directory / "site.conf").write_text(_site(directory, https, plain, app_server.port))
        user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
        (directory / "nginx.conf").write_text(
            f"{user}daemon off;\npid {directory}/nginx.pid;\nerror_log {directory}/nginx-main.log;\n"
            "events { worker_connections 64; }\n"
            "http {\n  access_log off;\n"
            + "".join(f"  {kind}_temp_path {directory}/{kind};\n"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"  include {directory}/site.conf;\n}}\n")
        command = [NGINX, "-c", str(directory / "nginx.conf"), "-p", str(directory), "-e", str(directory / "nginx-main.log")]
        checked = subprocess.run(command + ["-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_until(lambda: _request(https, "/healthz")[0] == 200 if nginx.poll() is None else True, 20)
            assert nginx.poll() is None, nginx.stderr.read()
            yield https, plain, app_server, directory / "registry.access.log"
        finally:
            nginx.terminate()
            nginx.wait(timeout=20)


def _request(port, path, headers=None, tls=True):
    """(status, headers, body) from CLIENT; any connection failure is (0, …)."""
    try:
        if tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context,
                                                     source_address=(CLIENT, 0))
        else:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(CLIENT, 0))
        connection.request("GET", path, headers={"Host": HOST, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    except OSError:
        return 0, {}, b""


def _nginx_lines(log, count_at_least=1):
    assert wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= count_at_least, 5)
    return log.read_text().splitlines()


def test_tokens_stay_out_of_the_proxys_access_log(served):
    https, _plain, _app, log = served
    before = len(log.read_text().splitlines()) if log.exists() else 0
    secrets = {"/set-password?token=SET-PASSWORD-SECRET": "https://furusato.example.jp/verify-email?token=REFERER-SECRET",
               "/verify-email?token=VERIFY-EMAIL-SECRET": None,
               "/verify?token=CERTIFICATE-SECRET": None,
               "/api/v1/certificates/verify?token=API-CERTIFICATE-SECRET": None,
               "/my/check-in?need=x&code=123456": "https://furusato.example.jp/host?code=654321",
               "/oauth/authorize?client_id=c&state=STATE-SECRET": None}
    for path, referer in secrets.items():
        status, _, _ = _request(https, path, {"Referer": referer} if referer else {})
        assert status in (200, 302, 404, 422), path
    lines = _nginx_lines(log, before + len(secrets))[before:]
    text = "\n".join(lines)
    for secret in ("SECRET", "123456", "654321", "token=", "code="):
        assert secret not in text
    assert '"GET /set-password? HTTP/1.1"' in text and '"https://furusato.example.jp/verify-email?"' in text
    assert '"GET /api/v1/certificates/verify? HTTP/1.1"' in text
    status, _, _ = _request(https, "/api/v1/organizations/212172")
    assert status == 200 and '"GET /api/v1/organizations/212172 HTTP/1.1" 200' in log.read_text()


def test_the_app_sees_the_client_not_the_proxy(served):
    https, _plain, app_server, log = served
    status, headers, _ = _request(https, "/api/v1/organizations/999999", {"X-Forwarded-For": "198.51.100.7"})
    assert status == 404
    request_id = headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's $request_id, kept by the app
    assert wait_until(lambda: app_server.access(request_id), 5)
    [line] = app_server.access(request_id)
    assert line["client_address"] == CLIENT  # the forged entry before it is not trusted
    assert wait_until(lambda: any(entry.endswith(f" {request_id}") for entry in log.read_text().splitlines()),
                      5)  # one id, both logs (nginx writes its line after the response, maybe after the app's)


def test_outside_addresses_stay_out_of_the_operators_endpoints(served):
    https, *_ = served
    assert _request(https, "/metrics")[0] == 200  # 127.0.0.2 is on the operator's network (loopback)
    assert _request(https, "/metrics", {"X-Forwarded-For": "203.0.113.9"})[0] == 404


def test_plain_http_is_sent_to_https(served):
    _https, plain, *_ = served
    status, headers, _ = _request(plain, "/set-password?token=x", tls=False)
    assert status == 301 and headers["Location"] == "https://furusato.example.jp/set-password?token=x"


def test_the_proxy_passes_the_apps_headers(served):
    https, *_ = served
    status, headers, _ = _request(https, "/")
    assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    if production():  # HSTS is production's
        assert headers["Strict-Transport-Security"].startswith("max-age=")
