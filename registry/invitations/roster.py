"""`import-roster FILE.csv --organization CODE [--invites OUT.csv]`: a 団体 brings its existing list
(API.md "Configuration and command line"). Nobody is registered on a list's word: each good row
becomes an invitation to register with CODE, counted in no figure until the person accepts it.

How a run goes, in one transaction (the caller commits), chunk by chunk as the CSV streams by:
1. Each row is checked in Python (registry/invitations/roster_rows.py); a bad row is reported as
   `line N: reason` (the header is line 1) and goes no further.
2. The good rows are written chunk by chunk (registry/invitations/roster_writes.py): an existing
   account gets an invitation (one made before, by a re-run, is counted, not repeated; an account
   that cannot register is a bad row), every other row is a new person — an account without a
   password, its invitation and its set-password link, by COPY through the bulk writer
   (registry/common/bulk.py), in a savepoint that is written again should a signup meanwhile take
   one of its e-mails.
3. On PostgreSQL the database works while Python checks: the bulk writer's thread runs the look-ups
   and writes, and Python prepares the next chunks meanwhile (chunks grow from `FIRST_CHUNK` rows,
   so the server starts early and a large file makes few savepoints). Runs take a
   transaction-level advisory lock first: two imports at once wait for each other (the second then
   finds the first's accounts and invitations) instead of deadlocking over e-mails that both
   create in different orders. On SQLite everything runs in turn.
   When the role may set `session_replication_role`, the per-row foreign-key triggers are off for
   these writes and every reference of the rows written is checked set-wise before the
   transaction can commit (the bulk loader's rule); `skip_fk_triggers=False` keeps them.
4. Each account this run created gets a one-time set-password link (`accounts.links`: purpose
   `roster_invitation`, valid 14 days, naming its invitation, which using it accepts), handed to
   `links(email, link)` once its chunk is written, in line order. Existing accounts get no link:
   the invitation waits in their inbox (`GET /me/invitations`). Links are minted only for accounts
   created now, so a re-run writes none.
5. After the commit, the caller runs `analyse()`: ANALYZE of the tables the import fills
   (PostgreSQL), so the first requests after it are planned for them as they now are.

New people need somewhere for their links to go: without `links` the run changes nothing (it works
in a savepoint it rolls back) and raises `LinksFileRequired` (an account nobody is told about could
only be found by a password reset).
"""
from __future__ import annotations

import csv
import fcntl
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import text

from registry.common import bulk as bulk_loading
from registry.common.bulk import BulkWriter
from registry.common.time import today_tokyo, utcnow
from registry.extensions import db
from registry.invitations.roster_rows import CHUNK, MAX_CHUNKS, RowChecker, count_lines, read_rows
from registry.invitations.roster_writes import ChunkWriter
from registry.organizations.models import Organization

# pg_advisory_xact_lock's key for import-roster ("roster" in ASCII).
ROSTER_LOCK = 0x726F73746572
# The tables an import fills.
FILLED_TABLES = ("users", "invitations", "set_password_tokens")


class LinksFileRequired(Exception):
    """New people are on the list, and there is nowhere to hand their links out."""

    def __init__(self, people: int):
        super().__init__(f"{people} row(s) are people without an account, whose set-password links need a file")
        self.people = people
        self.report: RosterReport | None = None  # what was found so far (the bad rows)


@dataclass
class RosterReport:
    rows: int = 0  # data rows read
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), by line
    new_accounts: int = 0  # accounts created, each with a link
    existing_accounts: int = 0  # invitations put in existing accounts' inboxes
    already_invited: int = 0  # good rows that created nothing (invited before)
    seconds: float = 0.0

    @property
    def invitations(self) -> int:
        return self.new_accounts + self.existing_accounts


def import_roster(path: str, organization: Organization, *, site_url: str,
                  links: Callable[[str, str], None] | None, now: datetime | None = None,
                  progress: Callable[[int], None] | None = None, chunk_size: int | None = None,
                  skip_fk_triggers: bool = True) -> RosterReport:
    """Imports the roster at `path` for `organization` (see the module docstring); `links(email,
    link)` receives each new account's set-password link. Flushes only: the caller commits, and
    hands the links out only after that. Raises `LinksFileRequired` when `links` is None and the
    list has people without an account (nothing is then changed)."""
    started = time.perf_counter()
    # No id this run makes is below this one (ids start with their millisecond).
    lowest_id = str(uuid.UUID(int=((time.time_ns() // 1_000_000) & ((1 << 48) - 1)) << 80))
    now = now or utcnow()
    report = RosterReport()
    bulk = BulkWriter()
    if bulk.postgres:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROSTER_LOCK})
    unlinked = db.session.begin_nested() if links is None else None  # rolled back if new people turn up
    try:
        triggers_off = bulk.postgres and skip_fk_triggers and bulk_loading.skip_fk_triggers()
        writer = ChunkWriter(organization.code, bulk, links, site_url, now)
        checker = RowChecker(organization, today=today_tokyo(now), session_lock=bulk.lock)
        report.rows = read_rows(path, checker, writer.add, report.bad, progress,
                                chunk_size or max(CHUNK, count_lines(path) // MAX_CHUNKS))
        writer.finish()
        _count(report, writer)
        if unlinked is not None:
            if writer.newcomers:
                unlinked.rollback()
                raise LinksFileRequired(writer.newcomers)
            unlinked.commit()
        if triggers_off:
            bulk_loading.check_references(lowest_id, FILLED_TABLES, "import-roster")
            bulk_loading.restore_fk_triggers()
    except LinksFileRequired as error:
        report.bad.sort()
        error.report = report
        raise
    finally:
        bulk.close()
    report.bad.sort()
    report.seconds = time.perf_counter() - started
    return report


def _count(report: RosterReport, writer: ChunkWriter) -> None:
    report.bad.extend(writer.refused)
    report.new_accounts = writer.new_accounts
    report.existing_accounts = writer.existing_accounts
    report.already_invited = writer.already_invited


def analyse() -> None:
    """After the import's commit: ANALYZE (PostgreSQL) of the tables an import fills. The caller
    commits again."""
    bulk_loading.analyse(FILLED_TABLES)


# --- the links file --------------------------------------------------------------------------------

_NEEDS_QUOTES = re.compile(r'[,"\r\n]')  # the csv writer's default dialect quotes a field with these


class LinksFile:
    """The `--invites` CSV (`email,link`). Links go to a temporary file beside it while the import
    runs; `publish()`, called after the commit, appends them to the file (creating it with its
    header) under an exclusive lock. So a failed import hands out no link, a re-run never overwrites
    links handed out before, and concurrent runs do not interleave lines. `discard()` drops them."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        handle, self.partial = tempfile.mkstemp(prefix=os.path.basename(self.path) + ".",
                                                suffix=".partial", dir=os.path.dirname(self.path))
        self._file = os.fdopen(handle, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self.count = 0

    def write(self, email: str, link: str) -> None:
        if _NEEDS_QUOTES.search(email) or _NEEDS_QUOTES.search(link):
            self._writer.writerow((email, link))
        else:  # what the csv writer would write, at a third of its cost
            self._file.write(f"{email},{link}\r\n")
        self.count += 1

    def publish(self) -> None:
        self._file.close()
        with open(self.path, "a", newline="", encoding="utf-8") as out, \
                open(self.partial, newline="", encoding="utf-8") as new:  # CRLF as the csv writer wrote it
            fcntl.flock(out, fcntl.LOCK_EX)
            if os.fstat(out.fileno()).st_size == 0:
                csv.writer(out).writerow(("email", "link"))
            while block := new.read(1 << 20):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.unlink(self.partial)

    def discard(self) -> None:
        self._file.close()
        if os.path.exists(self.partial):
            os.unlink(self.partial)
