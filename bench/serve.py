"""What the HTTP benchmarks share: an app on a given database, a seeded database, gunicorn
serving it with the production configuration (config/gunicorn.py), a free port."""
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MASTERS: dict[int, int] = {}  # port → pid of the gunicorn master serving it (for cpu_seconds)


def postgres_url(script: str, what: str) -> str | None:
    """DATABASE_URL (or TEST_DATABASE_URL) when it names PostgreSQL; else says what `script` needs."""
    url = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith(("postgres://", "postgresql")):
        return url
    print(f"bench/{script}: set DATABASE_URL to {what} (the Makefile's bench targets start a throwaway one)",
          file=sys.stderr)
    return None


def app_for(url: str):
    """The registry app on `url` (rate limits off, as for any load test: API.md), signing with a key
    of its own rather than writing one under instance/."""
    from config import database_url
    from registry import create_app
    from registry.certificates.keys import CertificateKey
    return create_app(overrides={"SQLALCHEMY_DATABASE_URI": database_url(url, url), "RATELIMIT_ENABLED": False,
                                 "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode()})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(url: str, app_module: str = "wsgi:app", *, env: dict | None = None):
    """gunicorn with config/gunicorn.py on a free 127.0.0.1 port, in production mode; yields
    (port, number of workers) once /readyz answers; stopped (SIGTERM) on exit."""
    import secrets
    from registry.certificates.keys import CertificateKey
    port = free_port()
    # Production refuses to start without these (docs/operations.md): a throw-away set for the run.
    environment = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "RATELIMIT_ENABLED": "false",
                   "REGISTRY_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
                   "SITE_URL": "https://bench.invalid", "PROXY_HOPS": "0",
                   "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode(),
                   "LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config/gunicorn.py"), app_module]
    server = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL)
    try:
        _wait_ready(port, server)
        MASTERS[port] = server.pid
        yield port, _workers(server)
    finally:
        MASTERS.pop(port, None)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process, every live descendant, and the children it has reaped
    (a gunicorn worker that restarted, a PostgreSQL backend that exited): /proc, Linux only."""
    hz = os.sysconf("SC_CLK_TCK")
    total, pending, first = 0, [str(pid)], True
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if first else 0)
            for task in os.listdir(f"/proc/{current}/task"):
                pending += Path(f"/proc/{current}/task/{task}/children").read_text().split()
        except (OSError, IndexError, ValueError):
            pass  # gone meanwhile
        first = False
    return total / hz


def postgres_pid() -> int | None:
    """The postmaster of the throwaway server scripts/with-postgres.sh started (PG_TEST_DATA)."""
    data = os.environ.get("PG_TEST_DATA")
    try:
        return int(Path(data, "postmaster.pid").read_text().split()[0]) if data else None
    except (OSError, ValueError, IndexError):
        return None


def _wait_ready(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not become ready on port {port} in {timeout:.0f} s")


def _workers(server: subprocess.Popen) -> int:
    """The workers once they have all booted (/readyz answers as soon as the first one has)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    if not children.exists():
        return 0
    count, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:
        now = len(children.read_text().split())
        if now == count:
            return now
        count = now
        time.sleep(1)
    return count


def seed(people: int, seed_number: int) -> None:
    """Schema, 団体 and `people` demo residents (with needs, hosts, applications) — committed."""
    import click
    from sqlalchemy import inspect
    from registry.extensions import db
    from registry.demo.people import SeedRun
    from registry.organizations.reference import load_reference_data

    if not inspect(db.engine).has_table("users"):
        db.create_all()
    load_reference_data()
    db.session.commit()
    if people <= 0:
        return
    run = SeedRun(people, seed_number)
    last = 0
    with click.progressbar(length=people, label=f"seeding {people:,} people", file=sys.stderr) as bar:
        for done in run.load():
            bar.update(done - last)
            last = done
    run.finish()
    db.session.commit()
    run.analyse()  # as seed-demo ends
    db.session.commit()


def national_token(tag: str) -> str:
    from registry.accounts import service as accounts
    from registry.extensions import db
    user = accounts.create_user(email=f"bench-national-{tag}-{os.getpid()}@example.jp",
                                password="bench-national-pw", role="national")
    token = accounts.issue_token(user, ttl_days=1)
    db.session.commit()
    return token


class OutOfTime(Exception):
    """A bench's BENCH_TIMEOUT ran out."""


@contextmanager
def time_limit(seconds: int):
    """Raises OutOfTime in the main thread once `seconds` have passed (SIGALRM): every bench run is
    bounded in time."""
    def out_of_time(*_):
        raise OutOfTime

    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
