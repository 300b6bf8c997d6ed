"""Benchmark: registration writes against a bare one-INSERT endpoint, under gunicorn on PostgreSQL
(DESIGN.md "Targets": at least half the bare endpoint's throughput).

    make bench-writes                                            # throwaway PostgreSQL 15
    DATABASE_URL=postgresql://… .venv/bin/python bench/writes.py # a database of your own (adds rows)

Steps: schema and 団体 if missing; BENCH_WRITERS residents with bearer tokens (written directly, no
password hashing: the bench measures registering, not signing in); gunicorn serving
`bench/bare_app.py` (the registry app + `POST /bench/insert`) with config/gunicorn.py and
BENCH_WORKERS (2) sync workers, and beside it gunicorn serving `bench/bare_flask.py` (Flask and
Flask-SQLAlchemy alone, one INSERT and a commit: the floor as a reviewer measures it) with as many
sync workers; then BENCH_CLIENTS client processes on keep-alive connections, each endpoint warmed up
and then measured for BENCH_SECONDS (10) in BENCH_ROUNDS (4) interleaved rounds (bare Flask, the
registry's bare endpoint, registrations, …) so drift on a shared machine hits all alike. Two ratios:
registrations against the bare Flask app (the reviewer's), and against the registry's own bare
endpoint (the same app, middleware and headers). Every registration is a new
(person, 団体) pair with 1–3 ties — a 201 that writes the row, its ledger entry and the figures; any
other status is an error and fails the run. Prints requests/s, p50/p99 and the ratio, then checks the figures against
a recount.

`BENCH_PROFILE=1` also profiles 300 registrations in-process with pyinstrument and prints the
slowest frames (bench-artifacts/writes-profile.html).
"""
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, inspect, insert, select  # noqa: E402

from bench.serve import MASTERS, app_for, cpu_seconds, free_port, gunicorn, postgres_pid, postgres_url  # noqa: E402

WRITERS = int(os.environ.get("BENCH_WRITERS", "20000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "3"))
# Throughput on this shared 2-CPU machine drifts by ±15 % between 10-second windows of the same
# load: short rounds, interleaved, so that the drift falls on both endpoints alike.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
WORKERS = os.environ.get("BENCH_WORKERS", "2")
TIES = ("birthplace", "family", "furusato_nozei", "repeat_visit", "product_purchase", "two_region_living",
        "volunteer", "side_job", "work_or_study", "other")
ARTIFACTS = ROOT / "bench-artifacts"


def main() -> int:
    url = postgres_url("writes.py", "a PostgreSQL database")
    if url is None:
        return 2
    result = measure(url)
    print_table(result)
    return 0 if result["errors"] == 0 and result["drift"] == [] else 1  # the ratios are reported, not asserted


def measure(url: str) -> dict:
    """Prepares, serves, loads both endpoints; returns the figures (see print_table)."""
    app = app_for(url)
    with app.app_context():
        pairs = _prepare(WRITERS)
    profile = _profile(app, pairs) if os.environ.get("BENCH_PROFILE") else None
    with gunicorn(url, "bench.bare_app:app", env={"WEB_CONCURRENCY": WORKERS}) as (port, workers), \
            bare_flask(url) as flask_port:
        chunks = [pairs[i::CLIENTS] for i in range(CLIENTS)]
        offsets = [0] * CLIENTS
        ports = {"flask": flask_port, "bare": port, "registrations": port}
        servers = {"flask": FLASK_MASTER[flask_port], "bare": MASTERS[port], "registrations": MASTERS[port]}
        database = postgres_pid()
        runs = {"flask": [], "bare": [], "registrations": []}
        for name in runs:  # warm-up: every worker has connected and imported everything
            _load(ports[name], name, chunks, offsets, WARMUP_SECONDS)
        for _ in range(ROUNDS):
            for name in runs:
                app_before, db_before = cpu_seconds(servers[name]), cpu_seconds(database) if database else 0.0
                run = _load(ports[name], name, chunks, offsets, SECONDS)
                run["app_cpu"] = cpu_seconds(servers[name]) - app_before
                run["db_cpu"] = (cpu_seconds(database) - db_before) if database else 0.0
                runs[name].append(run)
    with app.app_context():
        from registry.extensions import db
        from registry.figures.recount import verify
        drift = verify()
        db.session.rollback()
    out = {"workers": workers, "clients": CLIENTS, "seconds": SECONDS * ROUNDS, "profile": profile, "drift": drift}
    out["errors"] = 0
    for name, rounds in runs.items():
        latencies = [ms for r in rounds for ms in r["latencies"]]
        done = len(latencies)
        errors = sum(r["errors"] for r in rounds)
        out["errors"] += errors
        cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0] * 99
        out[name] = {"requests": done, "errors": errors, "rps": done / sum(r["elapsed"] for r in rounds),
                     "p50": statistics.median(latencies) if latencies else 0.0, "p99": cuts[98],
                     # CPU per request, a steadier figure than requests/s on a shared machine
                     "app_ms": sum(r["app_cpu"] for r in rounds) * 1000 / max(done, 1),
                     "db_ms": sum(r["db_cpu"] for r in rounds) * 1000 / max(done, 1),
                     "examples": [e for r in rounds for e in r["examples"]][:3]}
    out["ratio"] = out["registrations"]["rps"] / out["bare"]["rps"] if out["bare"]["rps"] else 0.0
    out["flask_ratio"] = out["registrations"]["rps"] / out["flask"]["rps"] if out["flask"]["rps"] else 0.0
    return out


FLASK_MASTER: dict[int, int] = {}  # port → the bare Flask gunicorn's master pid


@contextmanager
def bare_flask(url: str):
    """gunicorn serving bench/bare_flask.py with WORKERS sync workers on a free port; yields the port."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gunicorn", "-w", WORKERS, "-k", "sync", "-b", f"127.0.0.1:{port}",
               "--log-level", "warning", "bench.bare_flask:app"]
    server = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"bare Flask gunicorn exited with status {server.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("bare Flask gunicorn did not listen in 60 s") from None
                time.sleep(0.2)
        FLASK_MASTER[port] = server.pid
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _prepare(writers: int) -> list[tuple[str, str, list]]:
    """Schema, 団体, the bare endpoint's table and `writers` residents with tokens; returns the
    (token, organization code, ties) of every registration the load will make, shuffled."""
    from bench.bare_app import bare_inserts
    from registry.accounts.models import ApiToken, User
    from registry.accounts.service import hash_token
    from registry.common.ids import new_id
    from registry.common.time import utcnow
    from registry.extensions import db
    from registry.organizations.codes import prefecture_code_of
    from registry.organizations.models import Organization
    from registry.organizations.reference import load_reference_data

    if not inspect(db.engine).has_table("users"):
        db.create_all()
    if not db.session.scalar(select(func.count()).select_from(Organization)):
        load_reference_data()
    bare_inserts.create(db.engine, checkfirst=True)
    organizations = db.session.execute(select(Organization.code, Organization.kind, Organization.prefecture_code)).all()
    municipalities = [o.code for o in organizations if o.kind == "municipality"]
    rng = random.Random(2027)
    now = utcnow()
    tag = f"{os.getpid()}-{int(time.time())}"
    users, tokens, pairs = [], [], []
    for i in range(writers):
        user_id, home = new_id(), rng.choice(municipalities)
        token = f"bench-{tag}-{i}-{rng.getrandbits(64):016x}"
        users.append({"id": user_id, "email": f"writer{i}-{tag}@bench.example.jp",
                      "email_key": f"writer{i}-{tag}@bench.example.jp", "display_name": f"writer {i}",
                      "birth_year": rng.randint(1950, 2005), "role": "resident", "home_municipality_code": home,
                      "skills": [], "interests": [], "session_nonce": "bench", "created_at": now})
        tokens.append({"id": new_id(), "user_id": user_id, "token_hash": hash_token(token), "created_at": now,
                       "expires_at": now.replace(year=now.year + 1)})
        choices = [o.code for o in rng.sample(organizations, 6) if o.code not in (home, prefecture_code_of(home))]
        for code in choices[:rng.randint(1, 3)]:
            pairs.append((token, code, rng.sample(TIES, rng.randint(1, 3))))
    for start in range(0, writers, 5000):
        db.session.execute(insert(User), users[start:start + 5000])
        db.session.execute(insert(ApiToken), tokens[start:start + 5000])
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE users, api_tokens, registrations, organizations")
    rng.shuffle(pairs)
    return pairs


def _load(port: int, name: str, chunks: list, offsets: list, seconds: float) -> dict:
    """CLIENTS processes hit one endpoint for `seconds`; each registration uses the next unused pair
    of its process's chunk (offsets advance across calls, so no pair is ever sent twice)."""
    jobs = [(port, name, chunk[offset:], seconds) for chunk, offset in zip(chunks, offsets)]
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        results = pool.map(_client, jobs)
    if name == "registrations":
        for i, r in enumerate(results):
            offsets[i] += r["sent"]
    return {"latencies": [ms for r in results for ms in r["latencies"]],
            "errors": sum(r["errors"] for r in results), "elapsed": max(r["elapsed"] for r in results),
            "examples": [e for r in results for e in r["examples"]]}


def _client(job) -> dict:
    port, name, pairs, seconds = job
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors, examples, sent = [], 0, [], 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline and sent < len(pairs):
        token, code, ties = pairs[sent]
        sent += 1
        body = json.dumps({"organization_code": code, "ties": ties})
        headers = {"Content-Type": "application/json"}
        if name == "registrations":
            path, headers["Authorization"] = "/api/v1/registrations", f"Bearer {token}"
        else:
            path = "/bench/insert"
        t = time.perf_counter()
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        latencies.append((time.perf_counter() - t) * 1000)
        if response.status != 201:
            errors += 1
            if len(examples) < 3:
                examples.append(f"{response.status} {payload[:200]!r}")
    if sent >= len(pairs):
        examples.append(f"{name}: ran out of prepared pairs (raise BENCH_WRITERS)")
        errors += 1
    return {"latencies": latencies, "errors": errors, "examples": examples, "sent": sent,
            "elapsed": time.perf_counter() - started}


def _profile(app, pairs: list) -> str:
    """300 registrations in-process under pyinstrument; the pairs used are removed from `pairs`."""
    from pyinstrument import Profiler
    client = app.test_client()
    used, pairs[:] = pairs[:330], pairs[330:]
    for token, code, ties in used[:30]:  # warm-up
        client.post("/api/v1/registrations", json={"organization_code": code, "ties": ties},
                    headers={"Authorization": f"Bearer {token}"})
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for token, code, ties in used[30:]:
        client.post("/api/v1/registrations", json={"organization_code": code, "ties": ties},
                    headers={"Authorization": f"Bearer {token}"})
    profiler.stop()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "writes-profile.html").write_text(profiler.output_html())
    return profiler.output_text(unicode=True, color=False, show_all=False)


def print_table(r: dict) -> None:
    if r.get("profile"):
        print(r["profile"])
    print()
    print(f"Registration writes under gunicorn ({r['workers']} workers) on PostgreSQL, {os.cpu_count()} CPUs; "
          f"{r['clients']} keep-alive clients on the same machine, {r['seconds']:.0f} s per endpoint")
    print()
    print("| endpoint | requests | errors | requests/s | p50 ms | p99 ms | app CPU ms/req | PostgreSQL CPU ms/req |")
    print("|:---|---:|---:|---:|---:|---:|---:|---:|")
    for name, label in (("flask", "bare Flask app: one INSERT"), ("bare", "the registry's bare one-INSERT endpoint"),
                        ("registrations", "POST /api/v1/registrations")):
        e = r[name]
        print(f"| {label} | {e['requests']:,} | {e['errors']} | {e['rps']:,.0f} | {e['p50']:.1f} | {e['p99']:.1f} "
              f"| {e['app_ms']:.2f} | {e['db_ms']:.2f} |")
        for example in e["examples"]:
            print(f"|   e.g. {example} | | | | | |")
    print()
    for key, label in (("flask_ratio", "registrations / bare Flask app"), ("ratio", "registrations / registry bare")):
        print(f"throughput ratio {label}: {r[key]:.2f} (target ≥ 0.5: {'met' if r[key] >= 0.5 else 'NOT met'})")
    print(f"figures against a recount: {'no drift' if not r['drift'] else r['drift'][:3]}")


if __name__ == "__main__":
    sys.exit(main())
