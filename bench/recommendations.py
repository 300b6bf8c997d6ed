"""Benchmark: two-way recommendations at scale (issue 4; DESIGN.md "Needs and matching"): p95 of a
resident's recommended needs under 100 ms and of a need's candidates under 300 ms with 100,000 open
needs and 1,000,000 residents on PostgreSQL.

    make bench                                        # after bench/figures.py, on the same database
    BENCH_PEOPLE=50000 make bench-recommendations     # alone, on a throwaway PostgreSQL, smaller
    DATABASE_URL=postgresql://… .venv/bin/python bench/recommendations.py

Steps: create the schema and the 団体 if the database has none; if it holds fewer than
BENCH_PEOPLE (1,000,000) residents, seed the rest with `seed-demo`'s code (which also seeds about
one open need per ten people, with applications, hosts and activities: registry/demo/needs.py);
so after bench/figures.py in the same `make bench` it reuses that database as it is. Then
`VACUUM ANALYZE`, and time, at the service level inside an app context (the functions the two
endpoints call, without HTTP, JSON or auth):
- `recommend_needs(user, 20, today=)` for BENCH_USERS (300) random adult residents;
- `candidates(staff, need_id, 20, today=)` for BENCH_NEEDS (150) random open needs, as a staff
  account of the need's 団体 (an unsaved `User` with role `staff`: authorization is one comparison).
BENCH_WARMUP (20) calls of each first. Prints one table. Bounded by BENCH_TIMEOUT (2,700 s).
Never part of pytest.
"""
import os
import random
import statistics
import sys
import time

import click
from sqlalchemy import func, inspect, select, text

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.serve import OutOfTime, app_for, time_limit  # noqa: E402
from registry.extensions import db  # noqa: E402

PEOPLE = int(os.environ.get("BENCH_PEOPLE", "1000000"))
USERS = int(os.environ.get("BENCH_USERS", "300"))
NEEDS = int(os.environ.get("BENCH_NEEDS", "150"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "20"))
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", "2700"))
LIMIT = 20
TARGETS = {"recommend_needs": 100.0, "candidates": 300.0}
TABLES = ("needs", "applications", "users", "registrations", "activities", "organizations")


def main() -> int:
    url = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not url:
        print("bench: set DATABASE_URL (make bench-recommendations starts a throwaway PostgreSQL)", file=sys.stderr)
        return 2
    try:
        with time_limit(TIMEOUT):
            result = measure(url)
    except OutOfTime:
        print(f"bench: out of time after {TIMEOUT} s (BENCH_TIMEOUT)", file=sys.stderr)
        return 1
    print_table(result)
    return 0


def measure(url: str) -> dict:
    """Seeds up to BENCH_PEOPLE residents if needed, then times both calls; what `print_table` prints."""
    app = app_for(url)
    started = time.perf_counter()
    with app.app_context():
        dialect = db.engine.dialect.name
        version = db.session.scalar(text("SHOW server_version")) if dialect == "postgresql" else "SQLite"
        seeded = _prepare()
        _settle(dialect)
        result = _measure()
    result.update(seeded=seeded, version=version, seconds=time.perf_counter() - started)
    return result


def _residents() -> int:
    from registry.accounts.models import User
    return db.session.scalar(select(func.count()).select_from(User).where(User.role == "resident"))


def _prepare() -> int:
    """Schema, 団体 and residents up to PEOPLE; returns how many people this run seeded."""
    from registry.demo.people import SeedRun
    from registry.organizations.reference import load_reference_data

    if not inspect(db.engine).has_table("users"):
        db.create_all()
    load_reference_data()
    db.session.commit()
    missing = PEOPLE - _residents()
    if missing <= 0:
        print(f"bench: reusing the database ({_residents():,} residents)", file=sys.stderr)
        return 0
    run = SeedRun(missing, 4040)
    last = 0
    with click.progressbar(length=missing, label=f"seeding {missing:,} people", file=sys.stderr) as bar:
        for done in run.load():
            bar.update(done - last)
            last = done
    report = run.finish()
    db.session.commit()
    print(f"seeded {missing:,} people: {report.rows:,} rows in {report.seconds:.0f} s", file=sys.stderr)
    return missing


def _settle(dialect: str) -> None:
    db.session.remove()
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM ANALYZE {', '.join(TABLES)}")


def _measure() -> dict:
    from registry.accounts.models import User
    from registry.common.time import today_tokyo
    from registry.needs import service
    from registry.needs.models import Need
    from registry.needs.recommendations import candidates, recommend_needs

    today = today_tokyo()
    rng = random.Random(4040)  # the order of the calls (the samples themselves come from the database)
    sizes = {"open needs": db.session.scalar(select(func.count()).select_from(Need).where(service.open_clause(today))),
             "needs": db.session.scalar(select(func.count()).select_from(Need)),
             "residents": _residents()}
    adults = list(db.session.scalars(
        select(User.id).where(User.role == "resident", User.birth_year <= today.year - 18)
        .order_by(func.random()).limit(USERS + WARMUP)))
    needs = list(db.session.execute(
        select(Need.id, Need.organization_code).where(service.open_clause(today))
        .order_by(func.random()).limit(NEEDS + WARMUP)))
    rng.shuffle(adults)
    rng.shuffle(needs)
    db.session.remove()

    def time_one(call) -> float:
        t = time.perf_counter()
        call()
        elapsed = (time.perf_counter() - t) * 1000
        db.session.rollback()
        db.session.expunge_all()
        return elapsed

    def recommend(user_id):
        user = db.session.get(User, user_id)
        return lambda: recommend_needs(user, LIMIT, today=today)

    def scout(need_id, code):
        staff = User(role="staff", organization_code=code)
        return lambda: candidates(staff, need_id, LIMIT, today=today)

    timings = {"recommend_needs": [], "candidates": []}
    results = {"recommend_needs": [], "candidates": []}
    for i, user_id in enumerate(adults):
        t = time_one(recommend(user_id))
        if i >= WARMUP:
            timings["recommend_needs"].append(t)
    for i, (need_id, code) in enumerate(needs):
        t = time_one(scout(need_id, code))
        if i >= WARMUP:
            timings["candidates"].append(t)
    # What the results look like (not timed): how many each returns.
    for user_id in adults[:20]:
        results["recommend_needs"].append(len(recommend(user_id)()))
        db.session.rollback()
    for need_id, code in needs[:20]:
        results["candidates"].append(len(scout(need_id, code)()))
        db.session.rollback()
    out = {"sizes": sizes}
    for name, values in timings.items():
        if len(values) >= 2:
            cuts = statistics.quantiles(values, n=100, method="inclusive")
            out[name] = (len(values), statistics.median(values), cuts[94], statistics.mean(results[name]))
    return out


def print_table(r: dict) -> None:
    sizes, version = r["sizes"], r["version"]
    print()
    print(f"Recommendations at scale — PostgreSQL {version}, {os.cpu_count()} CPUs; service level in an app "
          f"context (recommend_needs / candidates, limit {LIMIT}), after {WARMUP} warm-up calls each")
    print()
    head = ("call", "open needs", "all needs", "residents", "timed calls", "mean results", "p50 ms", "p95 ms",
            "target p95 ms", "met")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(":---" if i == 0 else "---:" for i in range(len(head))) + "|")
    for name, target in TARGETS.items():
        if name not in r:
            continue
        n, p50, p95, mean = r[name]
        print("| " + " | ".join((name, f"{sizes['open needs']:,}", f"{sizes['needs']:,}", f"{sizes['residents']:,}",
                                  f"{n}", f"{mean:.1f}", f"{p50:.1f}", f"{p95:.1f}", f"{target:.0f}",
                                  "yes" if p95 < target else "NO")) + " |")
    print(f"people seeded by this run: {r['seeded']:,}; whole run: {r['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
