"""Real API requests through PgBouncer in transaction mode, with DATABASE_PGBOUNCER's settings.

Two client connections share PgBouncer's single server connection, so a statement one of them
prepared on the server would collide with, or be missing for, the other: psycopg must not prepare.
Skipped without the `pgbouncer` binary (`make test` installs Debian's as root).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from config import TestingConfig, database_url
from registry import create_app
from registry.accounts import service as accounts
from registry.certificates.keys import CertificateKey
from registry.extensions import db
from tests.processes import free_port, stop

PGBOUNCER = shutil.which("pgbouncer") or next(
    (path for path in ("/usr/sbin/pgbouncer",) if os.access(path, os.X_OK)), None)


class PgBouncerConfig(TestingConfig):
    DATABASE_PGBOUNCER = True
    DATABASE_POOL_SIZE = 2


@pytest.fixture
def pgbouncer_url():
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; `make test` does it as root)")
    server = make_url(database_url(os.environ["TEST_DATABASE_URL"], ""))
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="registry-pgbouncer-"))
    directory.chmod(0o755)  # readable by the postgres user when we are root (pgbouncer refuses root)
    config = directory / "pgbouncer.ini"
    config.write_text(f"""[databases]
{server.database} = host={server.host} port={server.port} dbname={server.database} user={server.username}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 1
max_client_conn = 20
""")
    config.chmod(0o644)
    log = open(directory / "pgbouncer.log", "w")
    process = subprocess.Popen([PGBOUNCER, str(config)], stdout=log, stderr=subprocess.STDOUT,
                               user="postgres" if os.getuid() == 0 else None)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("pgbouncer did not start: " + (directory / "pgbouncer.log").read_text()[-2000:])
                time.sleep(0.1)
        yield f"postgresql://{server.username}@127.0.0.1:{port}/{server.database}"
    finally:
        stop(process)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.postgres_only
@pytest.mark.committing
@pytest.mark.slow  # starts pgbouncer
def test_the_api_works_through_pgbouncer_in_transaction_mode(pgbouncer_url, tmp_path):
    app = create_app(PgBouncerConfig, {
        "SQLALCHEMY_DATABASE_URI": database_url(pgbouncer_url, ""), "RATELIMIT_ENABLED": False,
        "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode(),
        "UPLOAD_DIR": str(tmp_path / "uploads")})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["prepare_threshold"] is None
    national_email = f"national-{uuid.uuid4().hex[:8]}@example.jp"
    try:
        with app.app_context():
            first, second = db.engine.connect(), db.engine.connect()  # two clients in the pool, used in turn
            first.close(), second.close()
            accounts.create_user(email=national_email, password="national-pass-1", role="national")
            db.session.commit()
        client = app.test_client()
        login = client.post("/api/v1/auth/login", json={"email": national_email, "password": "national-pass-1"})
        assert login.status_code == 200, login.get_json()
        national = login.get_json()["token"]
        for n in range(4):  # each statement runs more often than psycopg's default prepare threshold (5)
            signup = client.post("/api/v1/auth/signup", json={
                "email": f"bouncer-{n}-{uuid.uuid4().hex[:6]}@example.jp", "password": "correct-horse-9",
                "display_name": "経由", "home_municipality_code": "131016", "birth_year": 1990})
            assert signup.status_code == 201, signup.get_json()
            headers = {"Authorization": f"Bearer {signup.get_json()['token']}"}
            for code in ("212172", "270008"):
                created = client.post("/api/v1/registrations", headers=headers,
                                      json={"organization_code": code, "ties": ["family"]})
                assert created.status_code == 201, created.get_json()
            assert len(client.get("/api/v1/registrations", headers=headers).get_json()) == 2
            withdrawn = client.delete(f"/api/v1/registrations/{created.get_json()['id']}", headers=headers)
            assert withdrawn.status_code == 204
        totals = client.get("/api/v1/stats/totals", headers={"Authorization": f"Bearer {national}"})
        assert totals.status_code == 200, totals.get_json()
        assert totals.get_json()["actual_people"] == 4 and totals.get_json()["cumulative_registrations"] == 4
        assert client.get("/readyz").status_code == 200
    finally:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
