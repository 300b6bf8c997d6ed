"""Benchmark: launch day — sign-ups, registrations with 1–3 団体, recommendations and needs read
from phones, the national dashboard polling — with locust against gunicorn + PostgreSQL; then the
figures must equal exactly what the service acknowledged (DESIGN.md "Targets").

    make bench-launch                                              # throwaway PostgreSQL 15
    DATABASE_URL=postgresql://…/any .venv/bin/python bench/launch_day.py   # creates <db>_launch beside it

Steps: a fresh database `<name>_launch` on the same server (dropped first if it exists), schema,
団体 and LAUNCH_SEED_PEOPLE (20,000) demo residents so there are needs to recommend; gunicorn with
config/gunicorn.py; totals before; locust headless (LAUNCH_USERS 60 users, LAUNCH_SPAWN_RATE 5/s,
LAUNCH_SECONDS 90 s, bounded); totals after, compared with the acknowledged sign-ups and
registrations (every new person is new, so 実人数 must grow by the people with at least one
acknowledged registration and 延べ by the acknowledged registrations); `verify()`.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, make_url, select, text  # noqa: E402

from bench.serve import app_for, gunicorn, national_token, postgres_url, seed  # noqa: E402
from config import database_url  # noqa: E402

SEED_PEOPLE = int(os.environ.get("LAUNCH_SEED_PEOPLE", "20000"))
USERS = int(os.environ.get("LAUNCH_USERS", "60"))
SPAWN_RATE = float(os.environ.get("LAUNCH_SPAWN_RATE", "5"))
SECONDS = int(os.environ.get("LAUNCH_SECONDS", "90"))


def main() -> int:
    url = postgres_url("launch_day.py", "a PostgreSQL server")
    if url is None:
        return 2
    result = measure(url)
    print_table(result)
    return 0 if result["failures"] == 0 and result["exact"] and result["drift"] == [] else 1


def measure(url: str) -> dict:
    launch_url = _fresh_database(url)
    app = app_for(launch_url)
    with app.app_context():
        seed(SEED_PEOPLE, 2027)
        token = national_token("launch")
        organizations = _organizations()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "organizations.json").write_text(json.dumps(organizations))
        with gunicorn(launch_url) as (port, workers):
            before = _totals(app, token)
            started = time.perf_counter()
            _locust(port, work, token)
            elapsed = time.perf_counter() - started
            after = _totals(app, token)
        acknowledged = json.loads((work / "acknowledged.json").read_text())
        stats = _read_stats(work / "launch_stats.csv")
    with app.app_context():
        from registry.extensions import db
        from registry.figures.recount import verify
        drift = verify()
        db.session.rollback()
    people = after["actual_people"] - before["actual_people"]
    registrations = after["cumulative_registrations"] - before["cumulative_registrations"]
    total = stats.pop("Aggregated")
    return {"workers": workers, "users": USERS, "seconds": elapsed, "endpoints": stats, "total": total,
            "failures": total["failures"], "acknowledged": acknowledged,
            "figures": {"people": people, "registrations": registrations},
            "exact": people == acknowledged["people"] and registrations == acknowledged["registrations"],
            "drift": drift}


def _fresh_database(url: str, suffix: str = "launch") -> str:
    """`<database>_<suffix>` on the same server, empty."""
    base = make_url(database_url(url, url))
    name = f"{base.database}_{suffix}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _organizations() -> list:
    from registry.extensions import db
    from registry.organizations.models import Organization
    return [list(row) for row in db.session.execute(select(Organization.code, Organization.prefecture_code))]


def _totals(app, token: str) -> dict:
    response = app.test_client().get("/api/v1/stats/totals", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _locust(port: int, work: Path, token: str) -> None:
    env = {**os.environ, "LAUNCH_ORGANIZATIONS": str(work / "organizations.json"),
           "LAUNCH_NATIONAL_TOKEN": token, "LAUNCH_ACKNOWLEDGED": str(work / "acknowledged.json")}
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench/locustfile.py"), "--headless",
               "--users", str(USERS), "--spawn-rate", str(SPAWN_RATE), "--run-time", f"{SECONDS}s",
               "--stop-timeout", "10", "--host", f"http://127.0.0.1:{port}", "--csv", str(work / "launch"),
               "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=SECONDS + 120, stdout=subprocess.DEVNULL)


def _read_stats(path: Path) -> dict:
    out = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            out[row["Name"]] = {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                                "rps": float(row["Requests/s"]), "p50": float(row["50%"] or 0),
                                "p95": float(row["95%"] or 0), "p99": float(row["99%"] or 0)}
    return out


def print_table(r: dict) -> None:
    print()
    print(f"Launch day: locust, {r['users']} simulated phones + 2 dashboard screens, {r['seconds']:.0f} s, against "
          f"gunicorn ({r['workers']} workers) + PostgreSQL, {os.cpu_count()} CPUs, all on this machine")
    print()
    print("| request | count | failures | requests/s | p50 ms | p95 ms | p99 ms |")
    print("|:---|---:|---:|---:|---:|---:|---:|")
    for name, e in sorted(r["endpoints"].items(), key=lambda item: -item[1]["requests"]):
        print(f"| {name} | {e['requests']:,} | {e['failures']} | {e['rps']:.1f} | {e['p50']:.0f} | {e['p95']:.0f} "
              f"| {e['p99']:.0f} |")
    t = r["total"]
    print(f"| **all** | {t['requests']:,} | {t['failures']} | {t['rps']:.1f} | {t['p50']:.0f} | {t['p95']:.0f} "
          f"| {t['p99']:.0f} |")
    a, f = r["acknowledged"], r["figures"]
    print()
    print(f"acknowledged: {a['signups']:,} sign-ups, {a['people']:,} people registered, "
          f"{a['registrations']:,} registrations; figures grew by {f['people']:,} people and "
          f"{f['registrations']:,} registrations — {'exact' if r['exact'] else 'NOT EXACT'}; "
          f"verify: {'no drift' if not r['drift'] else r['drift'][:3]}")


if __name__ == "__main__":
    sys.exit(main())
