"""Storage at national scale, extrapolated from a seeded database: rows, table and index bytes per
table now, and at the goal — 10,000,000 people (実人数) and 100,000,000 registrations (延べ).

    DATABASE_URL=postgresql://… .venv/bin/python bench/sizes.py   # a database seed-demo filled
    (make bench runs it on the 1,000,000-person database bench/figures.py seeds)

Each table grows with what its rows are about: people (accounts, tokens, applications, …),
registrations (registrations and their ledger, person tallies), or nothing (reference data; the
figure counters are a fixed set of keys × 16 slots plus one key per day). Bytes per row are
measured here (heap + TOAST, and indexes separately, after VACUUM ANALYZE) and multiplied out.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

GOAL_PEOPLE, GOAL_REGISTRATIONS = 10_000_000, 100_000_000
BY_REGISTRATION = {"registrations", "registration_events", "person_tallies"}
FIXED = {"organizations", "wards", "figure_counters", "alembic_version", "benefits", "bench_bare_inserts"}


def measure() -> dict:
    """In an app context on PostgreSQL: per-table figures and the totals at the goal."""
    from registry.extensions import db
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    people = db.session.scalar(text("SELECT count(*) FROM users WHERE role = 'resident'"))
    registrations = db.session.scalar(text("SELECT count(*) FROM registrations"))
    tables = []
    for name, heap, indexes in db.session.execute(text(
            "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY c.relname")):
        rows = db.session.scalar(text(f'SELECT count(*) FROM "{name}"'))
        grows = "registrations" if name in BY_REGISTRATION else "fixed" if name in FIXED else "people"
        factor = {"registrations": GOAL_REGISTRATIONS / max(registrations, 1),
                  "people": GOAL_PEOPLE / max(people, 1), "fixed": 1}[grows]
        tables.append({"table": name, "rows": rows, "heap": heap, "indexes": indexes, "grows": grows,
                       "goal_rows": rows * factor, "goal_heap": heap * factor, "goal_indexes": indexes * factor})
    db.session.rollback()
    return {"people": people, "registrations": registrations, "tables": tables,
            "goal_heap": sum(t["goal_heap"] for t in tables), "goal_indexes": sum(t["goal_indexes"] for t in tables),
            "heap": sum(t["heap"] for t in tables), "indexes": sum(t["indexes"] for t in tables)}


def _gb(n: float) -> str:
    return f"{n / 1e9:,.2f}"


def print_table(r: dict) -> None:
    print()
    print(f"Storage measured at {r['people']:,} residents / {r['registrations']:,} registrations, extrapolated "
          f"to {GOAL_PEOPLE:,} people / {GOAL_REGISTRATIONS:,} registrations")
    print()
    print("| table | grows with | rows now | heap GB now | index GB now | rows at goal | heap GB at goal | "
          "index GB at goal |")
    print("|:---|:---|---:|---:|---:|---:|---:|---:|")
    for t in sorted(r["tables"], key=lambda t: -(t["goal_heap"] + t["goal_indexes"])):
        if not t["rows"]:
            continue
        print(f"| {t['table']} | {t['grows']} | {t['rows']:,} | {_gb(t['heap'])} | {_gb(t['indexes'])} | "
              f"{t['goal_rows']:,.0f} | {_gb(t['goal_heap'])} | {_gb(t['goal_indexes'])} |")
    print(f"| **all** | | | {_gb(r['heap'])} | {_gb(r['indexes'])} | | {_gb(r['goal_heap'])} | "
          f"{_gb(r['goal_indexes'])} |")


def main() -> int:
    from bench.serve import app_for, postgres_url
    url = postgres_url("sizes.py", "a seeded PostgreSQL database")
    if url is None:
        return 2
    with app_for(url).app_context():
        print_table(measure())
    return 0


if __name__ == "__main__":
    sys.exit(main())
