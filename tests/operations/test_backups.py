"""Backups proven by restoring: pgBackRest with continuous WAL archiving, and a point-in-time restore
into a fresh server that holds exactly the registrations committed before that point.

The drill of docs/operations.md "Backups and restore", on a PostgreSQL server of its own started
here with `archive_command` pushing every WAL segment into a pgBackRest repository: a full backup,
residents A registered, the time noted, residents B registered, then a restore to that time into
a new data directory on another port. There: A's registrations and none of B's, and the maintained
figures equal a recount. Skipped without Debian's pgbackrest (`make test` installs it as root).
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text

from config import TestingConfig
from registry import create_app
from registry.accounts.models import User
from registry.certificates.keys import CertificateKey
from registry.extensions import db
from registry.figures.recount import verify
from registry.organizations.reference import load_reference_data
from registry.registrations.models import Registration

PGBIN = Path(os.environ.get("PGBIN") or sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
             if Path("/usr/lib/postgresql").exists() else "/usr/bin")
STANZA = "registry"

pytestmark = [pytest.mark.postgres_only, pytest.mark.committing, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_db_user(*command, timeout=120) -> str:
    """Runs a command as the servers' user (PostgreSQL and pgBackRest refuse or should not run as root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    done = subprocess.run(prefix + [str(part) for part in command], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


class Drill:
    """A server archiving into a pgBackRest repository under one temporary directory."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.port = _free_port()
        self.config = directory / "pgbackrest.conf"
        self.started: list[Path] = []

    def pgbackrest(self, *args) -> str:
        return as_db_user("pgbackrest", f"--config={self.config}", f"--stanza={STANZA}", *args, timeout=180)

    def start(self, data: Path, port: int) -> None:
        as_db_user(PGBIN / "pg_ctl", "-D", data, "-l", data.parent / f"{data.name}.log", "-w", "-t", "60",
                   "-o", f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")
        self.started.append(data)

    def stop(self) -> None:
        for data in self.started:
            subprocess.run((["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else [])
                           + [str(PGBIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)

    def url(self, port: int) -> str:
        return f"postgresql+psycopg://registry@127.0.0.1:{port}/registry"


@pytest.fixture
def drill():
    if not shutil.which("pgbackrest"):
        pytest.skip("pgbackrest is not installed (apt-get install pgbackrest; `make test` does it as root)")
    directory = Path(tempfile.mkdtemp(prefix="registry-pitr-"))  # short: the sockets live here
    directory.chmod(0o755)
    if os.getuid() == 0:
        shutil.chown(directory, "postgres")
    here = Drill(directory)
    # What docs/operations.md gives an operator, with the repository in the temporary directory.
    here.config.write_text(f"""[global]
repo1-path={directory}/repo
repo1-retention-full=2
start-fast=y
compress-type=lz4
log-path={directory}/log
lock-path={directory}/lock
log-level-console=warn
log-level-file=info

[{STANZA}]
pg1-path={directory}/db
pg1-port={here.port}
pg1-socket-path={directory}
pg1-user=registry
""")
    here.config.chmod(0o644)
    try:
        for name in ("log", "lock", "repo"):
            as_db_user("mkdir", "-m", "750", directory / name)
        as_db_user(PGBIN / "initdb", "-D", directory / "db", "-U", "registry", "-A", "trust", "-E", "UTF8",
                   "--locale=C.UTF-8")
        with open(directory / "db" / "postgresql.auto.conf", "a") as settings:  # owned by postgres: append only
            settings.write(f"""
archive_mode = on
archive_command = 'pgbackrest --config={here.config} --stanza={STANZA} archive-push %p'
wal_level = replica
""")
        here.start(directory / "db", here.port)
        as_db_user(PGBIN / "createdb", "-h", "127.0.0.1", "-p", here.port, "-U", "registry", "registry")
        here.pgbackrest("stanza-create")
        here.pgbackrest("check")  # archiving works: a WAL segment went through archive_command
        yield here
    finally:
        here.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _app(url, tmp_path):
    return create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False,
                                      "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode(),
                                      "UPLOAD_DIR": str(tmp_path / "uploads")})


def _register(app, count, tag) -> set[str]:
    """`count` new residents, each registered with a 団体 through the API; their e-mail addresses."""
    client = app.test_client()
    emails = set()
    for n in range(count):
        email = f"{tag}-{n}-{uuid.uuid4().hex[:6]}@example.jp"
        signup = client.post("/api/v1/auth/signup", json={
            "email": email, "password": "correct-horse-9", "display_name": "復元",
            "home_municipality_code": "131016", "birth_year": 1980 + n})
        assert signup.status_code == 201, signup.get_json()
        token = signup.get_json()["token"]
        for code in ("212172", "270008")[: 1 + n % 2]:
            created = client.post("/api/v1/registrations", headers={"Authorization": f"Bearer {token}"},
                                  json={"organization_code": code, "ties": ["family", "repeat_visit"]})
            assert created.status_code == 201, created.get_json()
        emails.add(email)
    return emails


def _contents(app) -> tuple[set[str], int]:
    """(e-mail addresses of everyone registered somewhere, number of registrations)."""
    with app.app_context():
        rows = db.session.execute(select(User.email, Registration.id).join(Registration,
                                                                           Registration.user_id == User.id)).all()
        return {email for email, _ in rows}, len(rows)


def test_a_point_in_time_restore_holds_exactly_what_was_committed_before_it(drill, tmp_path):
    app = _app(drill.url(drill.port), tmp_path)
    with app.app_context():
        db.create_all()
        load_reference_data()
        db.session.commit()
    drill.pgbackrest("--type=full", "backup")
    [backup] = json.loads(drill.pgbackrest("--output=json", "info"))[0]["backup"]

    people_a = _register(app, 6, "before")
    with app.app_context():
        # The point to restore to: after A's commits, before any of B's (the server's own clock).
        target = db.session.execute(text("SELECT to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.USOF')")).scalar()
        db.session.commit()
    time.sleep(0.05)
    people_b = _register(app, 4, "after")
    registered_a = sum(1 + n % 2 for n in range(6))
    assert _contents(app) == (people_a | people_b, registered_a + sum(1 + n % 2 for n in range(4)))
    with app.app_context():
        assert verify() == []
        db.engines[None].dispose()
    drill.pgbackrest("check")  # switches the WAL segment and waits until it is archived

    restored, port = drill.dir / "restored", _free_port()
    as_db_user("mkdir", "-m", "700", restored)
    # The backup set named: pgBackRest picks one by its stop time, kept to the second, and the target
    # here is within seconds of the backup (an operator's usually is not: --set may then be left out).
    drill.pgbackrest(f"--pg1-path={restored}", f"--set={backup['label']}", "--type=time", f"--target={target}",
                     "--target-action=promote", "--archive-mode=off", "restore")
    drill.start(restored, port)
    restored_app = _app(drill.url(port), tmp_path)
    with restored_app.app_context():
        deadline = time.monotonic() + 60
        while db.session.execute(text("SELECT pg_is_in_recovery()")).scalar():
            assert time.monotonic() < deadline, "the restored server did not finish recovery"
            db.session.rollback()
            time.sleep(0.2)
        db.session.rollback()
    assert _contents(restored_app) == (people_a, registered_a)  # all of A, nothing of B
    with restored_app.app_context():
        assert verify() == []  # the maintained figures equal a recount of what was restored
        db.engines[None].dispose()
    assert backup["type"] == "full"
