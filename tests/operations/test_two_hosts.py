"""Two app hosts: two gunicorn instances (config/gunicorn.py, production settings, two workers each) on
two ports, sharing the test PostgreSQL, the Redis of scripts/with-redis.sh and an S3 bucket in moto's
server, and keeping nothing of their own: a limit reached through one worker holds on the other
worker and on the other host; evidence uploaded through one host is served by the other."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import urllib3

from tests.evidence.images import pdf
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config" / "gunicorn.py")
CHECK_IN_LIMIT = 10  # registry.common.limits.PER_ACCOUNT_CHECK_IN: per account, per minute from the first try
HIDA = "212172"

pytestmark = [pytest.mark.postgres_only, pytest.mark.committing, pytest.mark.slow]


class Host:
    """One gunicorn instance on its own port, with its own (unused) upload folder and metrics."""

    def __init__(self, name: str, env: dict, tmp_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.uploads = tmp_path / name / "uploads"
        self.log_path = tmp_path / f"{name}.log"
        (tmp_path / name / "metrics").mkdir(parents=True)
        env = {**env, "BIND": f"127.0.0.1:{self.port}", "UPLOAD_DIR": str(self.uploads),
               "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / name / "metrics")}
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", CONFIG, "wsgi:app"], cwd=ROOT,
                                            env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_until_serving(self, deadline: float) -> None:
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if self.call("GET", "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{self.base} is not serving:\n{self.log_path.read_text()[-3000:]}")

    def call(self, method, path, body=None, token=None, headers=None, timeout=10):
        """(status, body bytes); `body` is JSON unless bytes."""
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None and not isinstance(body, bytes):
            body, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def held(self, path: str, token: str, body: dict) -> "HeldRequest":
        return HeldRequest(self.port, path, token, body)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> None:
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class HeldRequest:
    """A request whose headers have not all arrived: the (sync) worker that took the connection waits
    for the rest, so the host's other worker takes every request meanwhile."""

    def __init__(self, port: int, path: str, token: str, body: dict):
        self.body = json.dumps(body).encode()
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.socket.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                             f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\n").encode())
        time.sleep(0.3)  # a worker has accepted it and is reading

    def finish(self) -> int:
        self.socket.sendall(b"Connection: close\r\n\r\n" + self.body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = self.socket.recv(4096)
            if not chunk:
                break
            answer += chunk
        self.socket.close()
        return int(answer.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def hosts(app, s3_server, tmp_path_factory):
    """Two hosts, A and B, sharing PostgreSQL, Redis and the bucket; stopped after the module."""
    from tests.servers import redis_server
    redis_server = redis_server()
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL")
    tmp_path = tmp_path_factory.mktemp("two-hosts")
    bucket = f"two-hosts-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    env = {**os.environ, "REGISTRY_ENV": "production", "SECRET_KEY": "two-hosts-" + "s" * 32,
           "DATABASE_URL": os.environ["TEST_DATABASE_URL"], "RATELIMIT_STORAGE_URI": redis_server.url,
           "CERTIFICATE_SIGNING_KEY": app.config["CERTIFICATE_SIGNING_KEY"], "WEB_CONCURRENCY": "2",
           "SITE_URL": "https://furusato.example.jp",
           "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8192", "ARGON2_PARALLELISM": "1",
           "LOG_FORMAT": "text", "LOG_LEVEL": "WARNING", **s3_server.settings(bucket)}
    for name in ("REGISTRY_METRICS_MASTER_PID", "REGISTRY_METRICS_TEMPORARY_DIR", "GUNICORN_CMD_ARGS",
                 "RATELIMIT_ENABLED", "DATABASE_REPLICA_URL"):
        env.pop(name, None)
    started = [Host("a", env, tmp_path), Host("b", env, tmp_path)]
    try:
        deadline = time.monotonic() + 90
        for host in started:
            host.wait_until_serving(deadline)
        yield started[0], started[1], bucket
    finally:
        for host in started:
            host.stop()
        for host in started:
            host.wait()


def _resident(host: Host) -> str:
    status, body = host.call("POST", "/api/v1/auth/signup", {
        "email": f"two-hosts-{uuid.uuid4().hex[:10]}@example.jp", "password": "correct-horse-9",
        "display_name": "二拠点太郎", "home_municipality_code": "131016", "birth_year": 1990})
    assert status == 201, body
    return json.loads(body)["token"]


def test_a_limit_reached_through_one_worker_and_host_holds_on_the_others(hosts):
    a, b, _ = hosts
    token = _resident(a)
    path = f"/api/v1/needs/{uuid.uuid4()}/check-in"  # no such need: each try is counted, then 404
    code = {"code": "000000"}

    first = a.held(path, token, code)  # host A's worker X waits for it; worker Y takes the next five
    assert [a.call("POST", path, code, token)[0] for _ in range(5)] == [404] * 5
    second = a.held(path, token, code)  # now Y waits too: X takes what follows
    assert first.finish() == 404  # X: the 6th try
    assert [a.call("POST", path, code, token)[0] for _ in range(CHECK_IN_LIMIT - 6)] == [404] * 4
    # X has seen 5 tries itself, Y 5: with per-process counts, X would let an 11th through.
    status, body = a.call("POST", path, code, token)
    assert status == 429 and json.loads(body)["code"] == "rate_limited"
    assert second.finish() == 429  # Y

    status, body = b.call("POST", path, code, token)  # the other host
    assert status == 429 and json.loads(body)["code"] == "rate_limited"
    assert b.call("POST", path, code, _resident(b))[0] == 404  # another account is not limited


def test_evidence_uploaded_through_one_host_is_served_by_the_other(hosts, s3_server):
    a, b, bucket = hosts
    token = _resident(a)
    status, body = a.call("POST", "/api/v1/registrations", {"organization_code": HIDA, "ties": ["volunteer"]}, token)
    assert status == 201, body
    registration = json.loads(body)["id"]
    document = pdf(200_000)
    form, content_type = urllib3.encode_multipart_formdata({
        "kind": "volunteer", "done_on": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 5 * 86400)),
        "description": "古川町の雪かき", "file": ("proof.pdf", document, "application/pdf")})
    status, body = a.call("POST", f"/api/v1/registrations/{registration}/activity-evidence", form, token,
                          headers={"Content-Type": content_type})
    assert status == 201, body
    evidence = json.loads(body)["id"]

    status, served = b.call("GET", f"/api/v1/activity-evidence/{evidence}/file", token=token)
    assert status == 200 and served == document  # byte for byte, through the other host
    objects = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert len(objects) == 1 and objects[0]["Size"] == len(document)
    assert not a.uploads.exists() and not b.uploads.exists()  # nothing on either host's disk
