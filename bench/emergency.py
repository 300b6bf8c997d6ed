"""Benchmark: an emergency's notice fanned out by `send-notifications` to 100,000 people (the issue:
"exactly once per person however runs overlap, fast enough for 100,000 recipients").

    make bench-emergency                                              # throwaway PostgreSQL 15
    BENCH_EMERGENCY_RECIPIENTS=20000 make bench-emergency             # smaller
    DATABASE_URL=postgresql://…/any .venv/bin/python bench/emergency.py   # creates <db>_emergency beside it

Steps: a fresh database `<name>_emergency` on the same server (dropped first if it exists), schema and
団体; then, with the public bulk writer (registry/common/bulk.py: COPY), BENCH_EMERGENCY_RECIPIENTS
(100,000) residents registered with municipalities of 岐阜県 (one in five with two of them, so the
notice must reach each person once) and as many BENCH_EMERGENCY_OTHERS (100,000) registered elsewhere,
living in 東京都, 85 % with a verified e-mail address; ANALYZE. A national account declares an
emergency for 岐阜県 (a prefecture: it reaches its municipalities' registrants) through the service, as
POST /emergencies does; then `send-notifications` runs once, as cron runs it (SMTP_URL unset: the
fan-out writes every in-app notification and queues every e-mail, then the command reports that no
e-mail is sent — sending is the outbox sender's, measured by nothing here), timed from the command's
start to its end. Then: every tied person holds exactly one notification, nobody else any; one e-mail
is queued per verified tied person; the delivery GET /api/v1/emergencies/{id} answers (national, test
client) is timed BENCH_EMERGENCY_READS (20) times. Prints one table. Bounded by BENCH_TIMEOUT
(1,800 s). The figures are not kept in this throwaway database (the rows bypass the ledger); never part
of pytest.
"""
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench.launch_day import _fresh_database  # noqa: E402
from bench.serve import OutOfTime, app_for, postgres_url, time_limit  # noqa: E402

RECIPIENTS = int(os.environ.get("BENCH_EMERGENCY_RECIPIENTS", "100000"))
OTHERS = int(os.environ.get("BENCH_EMERGENCY_OTHERS", str(RECIPIENTS)))
READS = int(os.environ.get("BENCH_EMERGENCY_READS", "20"))
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", "1800"))
GIFU = "210005"
VERIFIED_SHARE, TWICE_SHARE = 0.85, 0.20
CHUNK = 20_000
TARGET_SECONDS = 300  # deploy/cron/registry runs send-notifications every 5 minutes


def main() -> int:
    url = postgres_url("emergency.py", "a PostgreSQL server")
    if url is None:
        return 2
    try:
        with time_limit(TIMEOUT):
            result = measure(url)
    except OutOfTime:
        print(f"bench: out of time after {TIMEOUT} s (BENCH_TIMEOUT)", file=sys.stderr)
        return 1
    print_table(result)
    return 0 if result["exactly_once"] else 1


def measure(url: str) -> dict:
    """Seeds, declares, runs send-notifications once; what `print_table` prints."""
    app = app_for(_fresh_database(url, "emergency"))
    app.config["SMTP_URL"] = None  # the fan-out is measured, not SMTP
    with app.app_context():
        from registry.extensions import db
        version = db.session.scalar(text("SHOW server_version"))
        seeded = _seed(RECIPIENTS, OTHERS)
        emergency_id, token = _declare()
        started = time.perf_counter()
        result = app.test_cli_runner().invoke(args=["send-notifications"])
        seconds = time.perf_counter() - started
        if result.exit_code != 0:
            raise RuntimeError(f"send-notifications failed: {result.output}")
        print(result.output, file=sys.stderr)
        checked = _check(emergency_id)
        db.session.commit()
    reads = _reads(app, emergency_id, token)
    return {"version": version, **seeded, **checked, "seconds": seconds, "read_p50": statistics.median(reads),
            "read_max": max(reads), "exactly_once": checked["notified_people"] == seeded["tied"]
            and checked["notifications"] == seeded["tied"] and checked["outside"] == 0
            and checked["queued"] == seeded["tied_verified"] and checked["recipients"] == seeded["tied"]}


def _seed(tied: int, others: int) -> dict:
    """Residents, their registrations (users and registrations only, COPY), committed and analysed."""
    from registry.accounts.models import User
    from registry.common.bulk import BulkWriter, analyse
    from registry.common.time import utcnow
    from registry.extensions import db
    from registry.organizations.models import MUNICIPALITY, Organization
    from registry.organizations.reference import load_reference_data
    from registry.registrations.models import Registration

    db.create_all()
    load_reference_data()
    db.session.commit()
    municipalities = list(db.session.execute(select(Organization.code, Organization.prefecture_code)
                                             .where(Organization.kind == MUNICIPALITY)))
    in_gifu = [m for m in municipalities if m.prefecture_code == GIFU]
    homes = [m.code for m in municipalities if m.code.startswith("13")]  # 東京都: no tie at home
    elsewhere = [m for m in municipalities if m.prefecture_code != GIFU and not m.code.startswith("13")]
    rng = random.Random(2024)
    b = BulkWriter()
    users = b.layout(User, {"password_hash": None, "availability": None, "role": "resident", "organization_code": None,
                            "guardian_consent": b.false, "consent_share_profile": b.false,
                            "consent_scouting": b.false, "consent_announcements": b.false, "skills": "[]",
                            "interests": "[]", "deactivated_at": None, "erased_at": None})
    registrations = b.layout(Registration, {"tier": "basic", "ties": '["family"]', "status": "active",
                                            "ended_at": None, "premium_valid_until": None})
    now = int(utcnow().timestamp())
    counts = {"tied": 0, "tied_verified": 0, "registrations": 0}
    started = time.perf_counter()
    try:
        for first in range(0, tied + others, CHUNK):
            b.new_chunk()
            user_rows, registration_rows = [], []
            for i in range(first, min(first + CHUNK, tied + others)):
                uid, is_tied, verified = b.id(), i < tied, rng.random() < VERIFIED_SHARE
                email = f"emergency-{i:07d}@example.jp"
                user_rows.append(users.row(
                    id=uid, email=email, email_key=email, display_name=f"住民{i}", birth_year=b.int(rng.randint(1950, 2004)),
                    home_municipality_code=rng.choice(homes), email_verified_at=b.ts(now - 86400) if verified else b.null,
                    session_nonce=b.nonce(), created_at=b.ts(now - 86400 * 30)))
                pool = in_gifu if is_tied else elsewhere
                chosen = rng.sample(pool, 2 if rng.random() < TWICE_SHARE else 1)
                for org in chosen:
                    registration_rows.append(registrations.row(
                        id=b.id(), user_id=uid, organization_code=org.code, prefecture_code=org.prefecture_code,
                        registered_at=b.ts(now - 86400 * 20)))
                counts["tied"] += is_tied
                counts["tied_verified"] += is_tied and verified
                counts["registrations"] += len(chosen)
            b.write(users, user_rows)
            b.write(registrations, registration_rows)
        b.drain()
    finally:
        b.close()
    db.session.commit()
    analyse(["users", "registrations"])
    db.session.commit()
    people = tied + others
    print(f"seeded {people:,} people, {counts['registrations']:,} registrations in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return {**counts, "people": people}


def _declare() -> tuple:
    """An emergency for 岐阜県 declared by a national account (committed); its id and the account's token."""
    from registry.accounts import service as accounts
    from registry.emergencies import service as emergencies
    from registry.extensions import db

    national = accounts.create_user(email=f"bench-national-{os.getpid()}@example.jp", password="bench-national-pw",
                                    role="national")
    emergency = emergencies.declare(national, "岐阜県全域で大雨災害", "各地で浸水の被害が出ています。", [GIFU])
    token = accounts.issue_token(national, ttl_days=1)
    db.session.commit()
    return emergency.id, token


def _check(emergency_id) -> dict:
    """Who holds the notice: each tied person once, nobody else; e-mails queued; the broadcast's counts."""
    from registry.accounts.models import User
    from registry.emergencies.ties import audience
    from registry.extensions import db
    from registry.notifications.models import EMERGENCY, Broadcast, Notification, OutboxMessage

    broadcast = db.session.scalar(select(Broadcast).where(Broadcast.kind == EMERGENCY,
                                                          Broadcast.subject_id == emergency_id))
    ours = Notification.kind == EMERGENCY, Notification.subject_id == emergency_id
    tied = audience(broadcast).with_only_columns(User.id).subquery()
    return {
        "recipients": broadcast.recipients, "finished": broadcast.finished_at is not None,
        "notifications": db.session.scalar(select(func.count()).select_from(Notification).where(*ours)),
        "notified_people": db.session.scalar(select(func.count(Notification.user_id.distinct())).where(*ours)),
        "outside": db.session.scalar(select(func.count()).select_from(Notification).where(
            *ours, Notification.user_id.not_in(select(tied.c.id)))),
        "queued": db.session.scalar(select(func.count()).select_from(OutboxMessage).join(
            Notification, Notification.id == OutboxMessage.notification_id).where(*ours)),
    }


def _reads(app, emergency_id, token) -> list[float]:
    """GET /api/v1/emergencies/{id} as the national office (its delivery counts over every notice and
    e-mail), in ms."""
    client, times = app.test_client(), []
    for _ in range(READS + 3):
        started = time.perf_counter()
        response = client.get(f"/api/v1/emergencies/{emergency_id}", headers={"Authorization": f"Bearer {token}"})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.get_json()["notified"] > 0, response.get_data(as_text=True)
    return times[3:]


def print_table(r: dict) -> None:
    print()
    print(f"Emergency fan-out — PostgreSQL {r['version']}, {os.cpu_count()} CPUs; one send-notifications run "
          f"(SMTP unset: notifications written, e-mails queued)")
    print()
    head = ("recipients (tied people)", "people in the database", "registrations", "send-notifications s",
            "notifications/s", "e-mails queued", "e-mails queued/s", "each tied person once, nobody else",
            "delivery read p50 / max ms")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    print("| " + " | ".join((
        f"{r['recipients']:,}", f"{r['people']:,}", f"{r['registrations']:,}", f"{r['seconds']:.1f}",
        f"{r['notifications'] / r['seconds']:,.0f}", f"{r['queued']:,}", f"{r['queued'] / r['seconds']:,.0f}",
        "yes" if r["exactly_once"] else f"NO ({r['notified_people']:,} people, {r['notifications']:,} notices, "
                                         f"{r['outside']:,} outside)",
        f"{r['read_p50']:.1f} / {r['read_max']:.1f}")) + " |")
    print()
    print(f"Target: the notice reaches every recipient within one cron interval of send-notifications "
          f"({TARGET_SECONDS} s).")


if __name__ == "__main__":
    sys.exit(main())
