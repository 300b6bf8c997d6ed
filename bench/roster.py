"""Benchmark: `import-roster` (DESIGN.md "Targets": roster import at least 20,000 rows a second on
PostgreSQL).

    scripts/with-postgres.sh sh -c 'DATABASE_URL=$TEST_DATABASE_URL .venv/bin/python bench/roster.py'
    BENCH_ROSTER_ROWS=20000 …                              # a smaller roster
    DATABASE_URL=postgresql://… .venv/bin/python bench/roster.py   # a database of your own

Steps: the schema and the 団体 (created when the database is empty), existing residents for
BENCH_ROSTER_EXISTING (10 %) of the rows (seed-demo's people, seeded when the database has too few),
then a synthetic roster of BENCH_ROSTER_ROWS (100,000) rows for 飛騨市 in a temporary CSV: homes drawn
as seed-demo draws them (some as a designated city's ward, some Hokkaido codes without their leading
zero, as spreadsheets write them), 1–2 ties or none, a birth year for three in four, existing
accounts' e-mails in other letter cases, and about 1 % bad rows of every kind (e-mail, unknown code,
unknown tie, living in 飛騨市, a duplicate e-mail, a future birth year). The import runs as the
command runs it — read, check, stage, invite, links to a temporary file, commit — and is timed from
opening the file to the commit; the ANALYZE of the tables it filled that the command then runs is
timed apart; then `recount.verify()` checks that no figure moved.

It refuses a database that already holds roster invitations (BENCH_ALLOW_EXISTING=1 to go on).
`measure(n)` does one run and returns its figures, for a combined bench. Never part of pytest.
"""
import csv
import os
import random
import sys
import tempfile
import time

from sqlalchemy import func, inspect, select, text

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH_DIR))
sys.path.insert(0, BENCH_DIR)

from config import database_url  # noqa: E402
from registry import create_app  # noqa: E402
from registry.extensions import db  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROSTER_ROWS", "100000"))
EXISTING_SHARE = float(os.environ.get("BENCH_ROSTER_EXISTING", "0.10"))
BAD_SHARE = 0.01
ORGANIZATION = "212172"  # 飛騨市
SITE_URL = "https://furusato.example.jp"
BAD_KINDS = ("email", "code", "tie", "home", "duplicate", "birth_year")


def main() -> int:
    url = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not url:
        print("bench: set DATABASE_URL (scripts/with-postgres.sh starts a throwaway PostgreSQL)", file=sys.stderr)
        return 2
    result = measure(ROWS, app=_app(url))
    _print_table(result)
    return 0 if result["drift"] == [] and result["bad_rows"] == result["expected_bad_rows"] else 1


def _app(url: str):
    from registry.certificates.keys import CertificateKey
    return create_app(overrides={"SQLALCHEMY_DATABASE_URI": database_url(url, url), "RATELIMIT_ENABLED": False,
                                 "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode()})


def measure(n: int, *, app=None, seed: int = 2026) -> dict:
    """One import of an `n`-row synthetic roster into the database of DATABASE_URL (or `app`'s):
    {rows, bad_rows, expected_bad_rows, new_accounts, existing_accounts, already_invited, seconds,
    rows_per_s, drift, verify_seconds, seed_rows_per_s (None unless it seeded), database}."""
    from registry.invitations import roster
    from registry.organizations.models import Organization

    if app is None:
        url = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        if not url:
            raise RuntimeError("set DATABASE_URL")
        app = _app(url)
    with app.app_context():
        dialect = db.engine.dialect.name
        version = ("PostgreSQL " + db.session.scalar(text("SHOW server_version"))) if dialect == "postgresql" \
            else "SQLite"
        _prepare()
        existing, seeded = _existing_emails(int(n * EXISTING_SHARE))
        workdir = tempfile.mkdtemp(prefix="roster-bench-")
        path = os.path.join(workdir, "roster.csv")
        expected_bad = _write_roster(path, n, existing, random.Random(seed))
        db.session.commit()
        if dialect == "postgresql":
            _analyze()
        organization = db.session.get(Organization, ORGANIZATION)

        links = roster.LinksFile(os.path.join(workdir, "links.csv"))
        started = time.perf_counter()
        try:
            report = roster.import_roster(path, organization, site_url=SITE_URL, links=links.write)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            links.discard()
            raise
        seconds = time.perf_counter() - started
        links.publish()
        analysing = time.perf_counter()
        roster.analyse()  # as import-roster ends: ANALYZE of the tables it filled, after the commit
        db.session.commit()
        analyse_seconds = time.perf_counter() - analysing

        from figures import _verify  # bench/figures.py: verify() timed, in a transaction rolled back
        verify_seconds, drift = _verify()
        for name in ("roster.csv", "links.csv"):
            os.unlink(os.path.join(workdir, name))
        os.rmdir(workdir)
    return {"database": version, "rows": report.rows, "bad_rows": len(report.bad), "expected_bad_rows": expected_bad,
            "new_accounts": report.new_accounts, "existing_accounts": report.existing_accounts,
            "already_invited": report.already_invited, "seconds": seconds, "rows_per_s": report.rows / seconds,
            "analyse_seconds": analyse_seconds,
            "drift": drift, "verify_seconds": verify_seconds,
            "seed_rows_per_s": seeded["rows"] / seeded["seconds"] if seeded else None}


def _prepare() -> None:
    """Schema and 団体; refuses a database that already holds roster invitations."""
    from registry.invitations.models import Invitation
    from registry.organizations.reference import load_reference_data

    if not inspect(db.engine).has_table("users"):
        db.create_all()
    load_reference_data()
    db.session.commit()
    invited = db.session.scalar(select(func.count()).select_from(Invitation))
    if invited and not os.environ.get("BENCH_ALLOW_EXISTING"):
        raise SystemExit(f"bench: the database already holds {invited:,} roster invitations; "
                         "use an empty one (or BENCH_ALLOW_EXISTING=1)")


def _existing_emails(wanted: int) -> tuple[list[str], dict | None]:
    """E-mails of `wanted` existing residents, seeding seed-demo's people when there are too few
    (then also what that seeding took: the same server's rate at the other bulk target)."""
    from registry.accounts.models import User
    from figures import _seed  # bench/figures.py: seed-demo with a progress bar, committed

    def residents():
        return list(db.session.scalars(select(User.email).where(User.role == "resident", User.email.is_not(None))
                                       .order_by(User.id).limit(wanted)))

    found, seeded = residents(), None
    if len(found) < wanted:
        seeded = _seed(wanted - len(found), seed=7070)
        found = residents()
    return found, seeded


def _analyze() -> None:
    db.session.remove()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE users, invitations, set_password_tokens")


def _write_roster(path: str, n: int, existing: list[str], rng: random.Random) -> int:
    """The CSV; returns how many of its rows are bad."""
    from registry.common.time import today_tokyo
    from registry.demo.model import GIVEN_NAMES, PRIMARY_TIES, SECOND_TIES, SURNAMES, Model
    from registry.organizations.models import Ward

    homes = Model.load().homes
    wards: dict[str, list[str]] = {}
    for code, city in db.session.execute(select(Ward.code, Ward.city_code)):
        wards.setdefault(city, []).append(code)
    ties, weights = zip(*PRIMARY_TIES.items())
    this_year = today_tokyo().year
    tag = f"{os.getpid()}-{int(time.time())}"
    existing_rows = set(rng.sample(range(n), min(len(existing), n)))
    existing_iter = iter(existing)
    bad_rows = {i: rng.choice(BAD_KINDS) for i in rng.sample(range(1, n), int(n * BAD_SHARE))}
    emails: list[str] = []
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(("email", "display_name", "home_municipality_code", "ties", "birth_year"))
        for i in range(n):
            if i in existing_rows:
                email = next(existing_iter)
                email = email.upper() if rng.random() < 0.2 else email
            else:
                email = f"roster-{tag}-{i:07d}@example.jp"
            home = homes.draw(rng)
            while home == ORGANIZATION:
                home = homes.draw(rng)
            if home in wards and rng.random() < 0.5:
                home = rng.choice(wards[home])  # an address in a ward
            elif home.startswith("0") and rng.random() < 0.3:
                home = home[1:]  # the leading zero a spreadsheet dropped
            first = rng.choices(ties, weights)[0]
            row_ties = "" if rng.random() < 0.1 else first
            if row_ties and first in SECOND_TIES and rng.random() < 0.3:
                row_ties += ";" + rng.choice(list(SECOND_TIES[first]))
            birth_year = str(this_year - rng.randint(16, 85)) if rng.random() < 0.75 else ""
            name = rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)
            kind = bad_rows.get(i)
            if kind == "email":
                email = email.replace("@", " at ")
            elif kind == "code":
                home = "123456"
            elif kind == "tie":
                row_ties = "hometown_love"
            elif kind == "home":
                home = ORGANIZATION
            elif kind == "duplicate":
                email = rng.choice(emails)
            elif kind == "birth_year":
                birth_year = str(this_year + 1)
            emails.append(email)
            out.writerow((email, name, home, row_ties, birth_year))
    return len(bad_rows)


def _print_table(r: dict) -> None:
    print()
    print(f"Roster import — {r['database']}, {os.cpu_count()} CPUs; timed from opening the CSV to the commit")
    print()
    head = ("rows", "bad rows", "new accounts (links)", "existing accounts (inbox)", "invited before", "seconds",
            "rows/s")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    print("| " + " | ".join((f"{r['rows']:,}", f"{r['bad_rows']:,}", f"{r['new_accounts']:,}",
                             f"{r['existing_accounts']:,}", f"{r['already_invited']:,}", f"{r['seconds']:.2f}",
                             f"{r['rows_per_s']:,.0f}")) + " |")
    print()
    verdict = "met" if r["rows_per_s"] >= 20_000 else "NOT met"
    print(f"target ≥ 20,000 rows/s: {verdict}; "
          f"bad rows found {r['bad_rows']:,} of {r['expected_bad_rows']:,} planted")
    print(f"then, after the commit, ANALYZE of the tables it filled (as the command ends): "
          f"{r['analyse_seconds']:.2f} s")
    if r.get("seed_rows_per_s"):
        print(f"for comparison, seed-demo on the same server in this run: {r['seed_rows_per_s']:,.0f} rows/s "
              "(load and recount)")
    state = "none" if not r["drift"] else f"{len(r['drift'])} DRIFT lines, e.g. {r['drift'][:3]}"
    print(f"verify() drift: {state} ({r['verify_seconds']:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
