"""Benchmark: the national figures and the relationship funnel cost the same to read at 1 k and at
1 M people (DESIGN.md "Targets": p50 ratio ≤ 1.5), how long publishing an open-data release takes
at each size, and how fast `seed-demo` fills the database.

    make bench                                   # throwaway PostgreSQL 15, 1,000 then 1,000,000 people
    BENCH_PEOPLE=50000 make bench                # a quicker, smaller second size
    DATABASE_URL=postgresql://… .venv/bin/python bench/figures.py   # an EMPTY database of your own

Steps: create the schema and the 団体 in an empty database, a national account, seed BENCH_SMALL
(1,000) people, measure, seed up to BENCH_PEOPLE (1,000,000) people in all, measure again, check
the maintained figures against a recount, print one table.

Requests go through the Flask test client — the whole application (routing, bearer-token auth,
the figures service, JSON) against the real database, without an HTTP server in between: what is
measured is the application's and the database's cost, not a web server's. Each size gets the same
preparation (commit, VACUUM ANALYZE of the tables the requests read), then BENCH_WARMUP requests
and BENCH_REQUESTS (300) timed requests per endpoint, interleaved. The funnel is read as the national
office reads it, suppressed through its releases: the whole country (GET /stats/funnel, the national
dashboard's) and one 団体 (?organization=, BENCH_FUNNEL_ORGANIZATION, 飛騨市 by default). Publishing:
`publish-open-data`'s own service for last month (the counters at its end worked back from the ledger,
the tables, their suppression, the files), timed and then rolled back so that each size publishes
the same month.

The whole run is bounded by BENCH_TIMEOUT seconds (2,700 by default). Never part of pytest.
"""
import gc
import os
import statistics
import sys
import time

import click
from sqlalchemy import func, inspect, select, text

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.serve import OutOfTime, app_for, time_limit  # noqa: E402
from registry.extensions import db  # noqa: E402

SMALL = int(os.environ.get("BENCH_SMALL", "1000"))
PEOPLE = int(os.environ.get("BENCH_PEOPLE", "1000000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "30"))
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", "2700"))
ONE_ORGANIZATION = os.environ.get("BENCH_FUNNEL_ORGANIZATION", "212172")  # 飛騨市
ENDPOINTS = ("/api/v1/stats/totals", "/api/v1/stats/by-prefecture", "/api/v1/stats/funnel",
             f"/api/v1/stats/funnel?organization={ONE_ORGANIZATION}")
FUNNEL, ONE_FUNNEL = ENDPOINTS[2], ENDPOINTS[3]
READ_TABLES = ("figure_counters", "registrations", "users", "api_tokens", "organizations")


def main() -> int:
    url = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not url:
        print("bench: set DATABASE_URL to an empty database (make bench starts a throwaway PostgreSQL)",
              file=sys.stderr)
        return 2
    with time_limit(TIMEOUT):
        result = measure(url)
    print_table(result)
    return 0 if result["rows"] and result["drift"] == [] else 1


def measure(url: str) -> dict:
    """Seeds BENCH_SMALL then BENCH_PEOPLE people into an empty database and times the figures at
    each size; what `print_table` prints. Stops early (with what it has) on OutOfTime."""
    app = app_for(url)
    gc.freeze()  # as each gunicorn worker has the app (config/gunicorn.py, pre_fork): the reads below are a worker's
    started = time.perf_counter()
    with app.app_context():
        dialect = db.engine.dialect.name
        version = db.session.scalar(text("SHOW server_version")) if dialect == "postgresql" else "SQLite"
        token = _prepare()
    client = app.test_client()  # outside any app context: each request gets its own, as in production
    rows, verify_seconds, drift = [], None, None
    try:
        sizes = [SMALL] if PEOPLE <= SMALL else [SMALL, PEOPLE]
        seeded = 0
        for i, size in enumerate(sizes):
            with app.app_context():
                step = _seed(size - seeded, seed=2026 + i)
                _settle(dialect)
            seeded = size
            step.update(_measure(client, token))
            with app.app_context():
                step.update(publish=_publish())
            with app.app_context():
                step.update(size=size, registrations=_active_registrations())
            rows.append(step)
        with app.app_context():
            verify_seconds, drift = _verify()
    except OutOfTime:
        print(f"bench: out of time after {TIMEOUT} s (BENCH_TIMEOUT); results so far:", file=sys.stderr)
    ratios = None
    if len(rows) == 2:
        ratios = [rows[1][p][0] / rows[0][p][0] for p in ENDPOINTS]
    return {"rows": rows, "version": version, "verify_seconds": verify_seconds, "drift": drift,
            "ratios": ratios, "seconds": time.perf_counter() - started}


def _prepare() -> str:
    """Schema and 団体 in an empty database; a national account's bearer token."""
    from registry.accounts import service as accounts
    from registry.accounts.models import User
    from registry.organizations.reference import load_reference_data

    if not inspect(db.engine).has_table("users"):
        db.create_all()
    elif db.session.scalar(select(func.count()).select_from(User)) and not os.environ.get("BENCH_ALLOW_EXISTING"):
        raise SystemExit("bench: the database already has accounts; use an empty one (or BENCH_ALLOW_EXISTING=1)")
    load_reference_data()
    user = accounts.create_user(email=f"bench-national-{os.getpid()}@example.jp", password="bench-national-pw",
                                role="national")
    token = accounts.issue_token(user, ttl_days=1)
    db.session.commit()
    return token


def _seed(people: int, *, seed: int) -> dict:
    from registry.demo.people import SeedRun

    run = SeedRun(people, seed)
    last = 0
    with click.progressbar(length=people, label=f"seeding {people:,} people", file=sys.stderr) as bar:
        for done in run.load():
            bar.update(done - last)
            last = done
    print(f"recounting the figures ({run.report.load_seconds:.0f} s loading) …", file=sys.stderr)
    report = run.finish()
    committed = time.perf_counter()
    db.session.commit()
    seconds = report.seconds + (time.perf_counter() - committed)
    analysing = time.perf_counter()
    run.analyse()  # as seed-demo ends: ANALYZE of the tables it filled, after the commit
    db.session.commit()
    analyse = time.perf_counter() - analysing
    print(f"seeded {people:,} people: {report.rows:,} rows in {seconds:.1f} s "
          f"(load {report.load_seconds:.1f} s, recount {report.recount_seconds:.1f} s); "
          f"then ANALYZE of the tables filled {analyse:.1f} s", file=sys.stderr)
    return {"added": people, "rows": report.rows, "seconds": seconds, "load": report.load_seconds,
            "recount": report.recount_seconds, "analyse": analyse}


def _settle(dialect: str) -> None:
    """The same preparation at every size: fresh statistics and visibility for the tables read."""
    db.session.remove()
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM ANALYZE {', '.join(READ_TABLES)}")


def _measure(client, token: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(WARMUP):
        for path in ENDPOINTS:
            _get(client, path, headers)
    timings = {path: [] for path in ENDPOINTS}
    for _ in range(REQUESTS):
        for path in ENDPOINTS:
            t = time.perf_counter()
            _get(client, path, headers)
            timings[path].append((time.perf_counter() - t) * 1000)
    out = {}
    for path, values in timings.items():
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        out[path] = (statistics.median(values), cuts[94])
    return out


def _publish() -> float:
    """Seconds to publish last month's release (rolled back afterwards)."""
    from registry.common.time import utcnow
    from registry.opendata import service as open_data

    month = open_data.month_ended_last(utcnow())
    db.session.remove()
    started = time.perf_counter()
    published = open_data.publish(month, min_cell=10, now=utcnow())
    seconds = time.perf_counter() - started
    print(f"published {month}: {len(published.files)} files, {sum(f.bytes for f in published.files):,} bytes, "
          f"{published.people_worked_back:,} people worked back, {seconds:.2f} s", file=sys.stderr)
    db.session.rollback()
    return seconds


def _get(client, path: str, headers: dict) -> None:
    response = client.get(path, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code} {response.get_data(as_text=True)[:200]}")


def _active_registrations() -> int:
    from registry.figures.service import counter_sums
    return counter_sums("total", "").get("", {}).get("registrations", 0)


def _verify() -> tuple[float, list]:
    from registry.figures.recount import verify
    t = time.perf_counter()
    drift = verify()
    db.session.rollback()
    return time.perf_counter() - t, drift


def print_table(result: dict) -> None:
    rows, version, verify_seconds, drift = (result["rows"], result["version"], result["verify_seconds"],
                                            result["drift"])
    print()
    print(f"National figures and demo seeding — {version}, {os.cpu_count()} CPUs; "
          f"Flask test client, {REQUESTS} timed requests per endpoint and size (after {WARMUP} warm-up)")
    print()
    head = ("people", "active registrations", "people added", "rows added", "seeding s", "rows/s", "people/s",
            "totals p50 ms", "totals p95 ms", "by-prefecture p50 ms", "by-prefecture p95 ms", "funnel p50 ms",
            "funnel p95 ms", "one 団体's funnel p50 ms", "one 団体's funnel p95 ms", "publish s")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    for r in rows:
        totals, prefs, funnel, one = r[ENDPOINTS[0]], r[ENDPOINTS[1]], r[FUNNEL], r[ONE_FUNNEL]
        print("| " + " | ".join((
            f"{r['size']:,}", f"{r['registrations']:,}", f"{r['added']:,}", f"{r['rows']:,}",
            f"{r['seconds']:.1f} (load {r['load']:.1f} + recount {r['recount']:.1f})",
            f"{r['rows'] / r['seconds']:,.0f}", f"{r['added'] / r['seconds']:,.0f}",
            f"{totals[0]:.2f}", f"{totals[1]:.2f}", f"{prefs[0]:.2f}", f"{prefs[1]:.2f}", f"{funnel[0]:.2f}",
            f"{funnel[1]:.2f}", f"{one[0]:.2f}", f"{one[1]:.2f}", f"{r['publish']:.2f}")) + " |")
    if result["ratios"]:
        small, large = rows
        ratios = result["ratios"]
        verdict = "met" if max(ratios) <= 1.5 else "NOT met"
        print()
        print(f"p50 ratio {large['size']:,} / {small['size']:,} people: /stats/totals {ratios[0]:.2f}, "
              f"/stats/by-prefecture {ratios[1]:.2f}, /stats/funnel {ratios[2]:.2f}, "
              f"/stats/funnel?organization={ONE_ORGANIZATION} {ratios[3]:.2f} (target ≤ 1.5: {verdict})")
    if verify_seconds is not None:
        state = "no drift" if not drift else f"{len(drift)} DRIFT lines, e.g. {drift[:3]}"
        print(f"verify (every maintained figure against a recount): {state}, {verify_seconds:.1f} s")
    print(f"whole run: {result['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
