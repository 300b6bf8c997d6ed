"""`import-roster FILE.csv --organization CODE [--invites OUT.csv]`: a 団体 brings its existing list
(API.md "Configuration and command line"). Nobody is registered on a list's word: each good row
becomes an invitation to register with CODE, counted in no figure until the person accepts it.

How a run goes, in one transaction (the caller commits):
1. The CSV is read as it streams by and each row is checked in Python — e-mail, display name, home
   municipality (a designated-city ward counts as its city, as at signup; a code whose leading zero
   a spreadsheet dropped is padded), ties, birth year, not living in CODE itself (registering there
   would be refused), an e-mail not already on an earlier line. A bad row is reported as
   `line N: reason` (the header is line 1) and goes no further. These checks look at one row at a
   time (and one dictionary of e-mails seen): SQL would not do them for less.
2. The good rows are staged in a temporary table with seed-demo's `Bulk` writer: COPY from a writer
   thread on PostgreSQL (overlapping the checks), executemany on SQLite.
3. Set-based SQL over the staged rows, the same statements on both databases: refuse rows whose
   account cannot register (not a resident's, deactivated); insert an account without a password
   for every e-mail no account has (compared case-insensitively), then one invitation per person
   and 団体. Both are INSERT … SELECT … ON CONFLICT DO NOTHING on the unique keys (users.email_key;
   invitations' 団体 and person), in key order: running the same file again — or twice at once —
   creates nothing twice, and concurrent runs wait for each other instead of deadlocking.
   On PostgreSQL, when the role may set `session_replication_role`, the per-row foreign-key
   triggers are off for these inserts and every reference of the rows written is checked set-wise
   before the transaction can commit (seed-demo's bulk-load rule, reused: about a third of the
   import's time otherwise); `skip_fk_triggers=False` keeps the triggers.
4. Each account this run created gets a one-time set-password link (`hosts.tokens`: purpose
   `roster_invitation`, valid 14 days, naming its invitation, which using it accepts), handed to
   `links(email, link)`. Existing accounts get no link: the invitation waits in their inbox
   (`GET /me/invitations`). Links are minted only for accounts created now, so a re-run writes none.

New people need somewhere for their links to go: without `links` the run changes nothing and raises
`LinksFileRequired` (an account nobody is told about could only be found by a password reset).
"""
from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import tempfile
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterator

from marshmallow import ValidationError, validate
from sqlalchemy import (
    Column, Integer, MetaData, String, Table, Text, Uuid, cast, exists, false, func, literal, or_, select, text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError

from registry.accounts.models import User
from registry.common.database import insert_for_upsert
from registry.common.ids import new_id_texts
from registry.common.time import today_tokyo, utcnow
from registry.common.types import JSONList, UTCDateTime
from registry.errors import Problem
from registry.extensions import db
from registry.figures.seed import Bulk, _check_references, _skip_fk_triggers  # seed-demo's bulk loading
from registry.hosts import tokens
from registry.hosts.models import ROSTER_INVITATION, SetPasswordToken
from registry.invitations.models import PENDING, Invitation
from registry.organizations import service as organizations
from registry.organizations.codes import padded, prefecture_code_of
from registry.organizations.models import MUNICIPALITY, PREFECTURE, Organization, Ward
from registry.registrations.models import TIES

HEADER = ("email", "display_name", "home_municipality_code", "ties", "birth_year")
CHUNK = 10_000  # rows per write
OLDEST_BIRTH_YEAR = 1900
MAX_EMAIL, MAX_DISPLAY_NAME = 254, 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Session-private; dropped at the end of the run (and with the transaction on PostgreSQL).
STAGING = Table(
    "roster_staging", MetaData(),
    Column("line", Integer, primary_key=True),
    Column("email", String(MAX_EMAIL), nullable=False),
    Column("email_key", String(MAX_EMAIL), nullable=False),
    Column("display_name", String(MAX_DISPLAY_NAME), nullable=False),
    Column("home", String(6), nullable=False),
    Column("ties", Text, nullable=False),  # a JSON list
    Column("birth_year", Integer),
    Column("new_user_id", Uuid, nullable=False),  # the account's id, if this run creates it
    Column("nonce", String(16), nullable=False),  # and its session nonce
    Column("invitation_id", Uuid, nullable=False),
    prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
)
WRITTEN_TABLES = ("users", "invitations", "set_password_tokens")
STAGED = tuple(c.name for c in STAGING.columns)
TOKEN_COLUMNS = ("id", "user_id", "purpose", "token_hash", "subject_id", "created_at", "expires_at")


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


# --- reading and checking rows ---------------------------------------------------------------------

class RowChecker:
    """Checks one row's fields; knows the municipalities (and wards) and the inviting 団体. Ties,
    birth years and codes repeat across a roster, so their verdicts are remembered."""

    _email = validate.Email()

    def __init__(self, organization: Organization, *, today=None):
        self.organization = organization
        self.this_year = (today or today_tokyo()).year
        municipalities = db.session.scalars(select(Organization.code).where(Organization.kind == MUNICIPALITY))
        # code → (home municipality, None) or (None, the reason the row is bad)
        self.homes: dict[str, tuple] = {code: self._home_verdict(code) for code in municipalities}
        for ward, city in db.session.execute(select(Ward.code, Ward.city_code)):
            self.homes[ward] = self.homes[city]
        self.ties: dict[str, tuple[str | None, str | None]] = {}
        self.birth_years: dict[str, tuple[int | None, str | None]] = {}
        self.seen: dict[str, int] = {}  # e-mail key → first line

    def check(self, line: int, fields: list[str]) -> tuple[tuple | None, list[str]]:
        """(email, email_key, display_name, home, ties as JSON, birth_year) or None, and the reasons."""
        if len(fields) != len(HEADER):
            return None, [f"expected {len(HEADER)} fields, found {len(fields)}"]
        email, display_name, home_code, ties_text, birth_text = [f.strip() for f in fields]
        reasons = []
        email_key = self._check_email(email, line, reasons)
        if not display_name:
            reasons.append("display_name is empty")
        elif len(display_name) > MAX_DISPLAY_NAME:
            reasons.append(f"display_name is longer than {MAX_DISPLAY_NAME} characters")
        elif _CONTROL.search(display_name):
            reasons.append("display_name contains control characters")
        home, reason = self.homes.get(home_code) or self._resolve_home(home_code)
        if reason:
            reasons.append(reason)
        ties, reason = self.ties.get(ties_text) or self._remember(self.ties, ties_text, self._check_ties)
        if reason:
            reasons.append(reason)
        birth_year, reason = self.birth_years.get(birth_text) or \
            self._remember(self.birth_years, birth_text, self._check_birth_year)
        if reason:
            reasons.append(reason)
        if reasons:
            return None, reasons
        return (email, email_key, display_name, home, ties, birth_year), []

    def _check_email(self, email: str, line: int, reasons: list) -> str | None:
        if not email:
            reasons.append("email is empty")
            return None
        try:
            if len(email) > MAX_EMAIL:
                raise ValidationError("too long")
            self._email(email)
        except ValidationError:
            reasons.append("email is not a valid e-mail address")
            return None
        key = email.lower()  # accounts.normalize_email, after the strip above
        first = self.seen.setdefault(key, line)
        if first != line:
            reasons.append(f"email is already on line {first}")
        return key

    @staticmethod
    def _remember(cache: dict, key: str, verdict):
        cache[key] = found = verdict(key)
        return found

    def _home_verdict(self, home: str) -> tuple[str | None, str | None]:
        org = self.organization
        if home == org.code:
            return None, f"lives in {org.name} ({org.code}) itself: nobody registers where they live"
        if org.kind == PREFECTURE and prefecture_code_of(home) == org.code:
            return None, f"lives in {org.name} ({org.code}): nobody registers directly with their own prefecture"
        return home, None

    def _resolve_home(self, code: str) -> tuple[str | None, str | None]:
        """A code the maps do not hold: full-width digits, a leading zero a spreadsheet dropped
        (`11002` → `011002`), or signup's rule for a ward the reference data does not list."""
        if not code:
            return None, "home_municipality_code is empty"
        normal, verdict = unicodedata.normalize("NFKC", code), None
        if normal.isascii() and normal.isdigit() and len(normal) in (5, 6):
            try:
                six = padded(normal)
                verdict = self.homes.get(six) or self._home_verdict(organizations.resolve_home_municipality(six).code)
            except (ValueError, Problem):
                pass
        self.homes[code] = verdict = verdict or (None, f"home_municipality_code {code!r} names no municipality")
        return verdict

    @staticmethod
    def _check_ties(text_: str) -> tuple[str | None, str | None]:
        names = sorted({name.strip().lower() for name in text_.split(";") if name.strip()}) or ["other"]
        unknown = [name for name in names if name not in TIES]
        if unknown:
            return None, f"ties: unknown tie {', '.join(map(repr, unknown))} (known: {', '.join(TIES)})"
        return json.dumps(names), None

    def _check_birth_year(self, text_: str) -> tuple[int | None, str | None]:
        if not text_:
            return None, None
        text_ = unicodedata.normalize("NFKC", text_)
        if not (text_.isascii() and text_.isdigit()):
            return None, f"birth_year {text_!r} is not a year"
        year = int(text_)
        if not OLDEST_BIRTH_YEAR <= year <= self.this_year:
            return None, f"birth_year {year} is not between {OLDEST_BIRTH_YEAR} and {self.this_year}"
        return year, None


def _decoded_lines(raw_lines, undecodable: set[int]) -> Iterator[str]:
    """Physical lines as text; a line that is not UTF-8 is noted (its row is bad) and passed on with
    replacement characters, so the rows after it keep their line numbers. A leading BOM is dropped."""
    for number, raw in enumerate(raw_lines, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.add(number)
            yield raw.decode("utf-8", errors="replace")


def count_lines(path: str) -> int:
    """Physical lines of the file (for a progress bar's length)."""
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


# --- the import ------------------------------------------------------------------------------------

def import_roster(path: str, organization: Organization, *, site_url: str,
                  links: Callable[[str, str], None] | None, now: datetime | None = None,
                  progress: Callable[[int], None] | None = None, chunk_size: int = CHUNK,
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
    stager = _Stager()
    try:
        _read(path, RowChecker(organization, today=today_tokyo(now)), stager, report, progress, chunk_size)
        stager.finish()
        _refuse_accounts(report, needs_links=links is None)
        triggers_off = stager.postgres and skip_fk_triggers and _skip_fk_triggers(required=False)
        _invite(organization.code, report, links, site_url, now, stager)
        if triggers_off:
            _check_references(lowest_id, WRITTEN_TABLES, "import-roster")
            db.session.execute(text("SET LOCAL session_replication_role = origin"))
    except LinksFileRequired as error:
        report.bad.sort()
        error.report = report
        raise
    finally:
        stager.drop()
    report.bad.sort()
    report.seconds = time.perf_counter() - started
    return report


def _read(path: str, checker: RowChecker, stager: "_Stager", report: RosterReport, progress, chunk_size) -> None:
    undecodable: set[int] = set()
    with open(path, "rb") as f:
        reader = csv.reader(_decoded_lines(f, undecodable), strict=True)
        try:
            header = next(reader, None)
        except csv.Error:
            header = None
        if header is None or tuple(h.strip().lower() for h in header) != HEADER or 1 in undecodable:
            report.bad.append((1, f"the header must be {','.join(HEADER)}"))
            return
        done, chunk = reader.line_num, []
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader, None)
            except csv.Error as error:  # an unclosed quote, say: the rest of the file is one field
                report.rows += 1
                report.bad.append((start, f"not CSV: {error}"))
                break
            if fields is None:
                break
            if not fields:  # a blank line
                continue
            report.rows += 1
            if undecodable and not undecodable.isdisjoint(range(start, reader.line_num + 1)):
                report.bad.append((start, "not UTF-8 text"))
                continue
            values, reasons = checker.check(start, fields)
            if reasons:
                report.bad.append((start, "; ".join(reasons)))
                continue
            chunk.append((start, *values))
            if len(chunk) >= chunk_size:
                stager.write(chunk)
                chunk = []
                if progress:
                    progress(reader.line_num - done)
                    done = reader.line_num
        stager.write(chunk)
        if progress:
            progress(reader.line_num - done)


class _RosterBulk(Bulk):
    def _check_columns(self) -> None:
        """seed-demo's check of the columns *it* fills; the roster's statements name their own."""


class _Stager:
    """The good rows, each with the ids it would get, into the session's temporary table through
    seed-demo's `Bulk` writer: COPY from a writer thread on PostgreSQL (the server copies one chunk
    while Python checks the next), executemany on SQLite."""

    def __init__(self):
        connection = db.session.connection()
        STAGING.drop(connection, checkfirst=True)  # left by an earlier run in this transaction
        STAGING.create(connection)
        self.bulk = _RosterBulk()
        self.postgres = self.bulk.postgres

    def uuid_text(self, value: str) -> str:
        """An id (canonical, or SQLite's 32 hex digits) as the database's text form takes it."""
        return value if self.postgres else value.replace("-", "")

    def write(self, rows: list[tuple]) -> None:
        if not rows:
            return
        b, ids = self.bulk, new_id_texts(2 * len(rows))
        if not self.postgres:
            ids = [i.replace("-", "") for i in ids]
        nonces = os.urandom(8 * len(rows)).hex()
        b.write(STAGING.name, STAGED, [
            (b.int(line), b.text(email), b.text(key), b.text(name), home, ties, b.null if year is None else b.int(year),
             ids[2 * i], nonces[16 * i:16 * i + 16], ids[2 * i + 1])
            for i, (line, email, key, name, home, ties, year) in enumerate(rows)])

    def finish(self) -> None:
        """Everything written (call before reading through the session)."""
        self.bulk.drain()
        if self.postgres:  # a temporary table gets no statistics otherwise
            db.session.execute(text(f"ANALYZE {STAGING.name}"))

    def drop(self) -> None:
        self.bulk.close()
        try:
            STAGING.drop(db.session.connection(), checkfirst=True)
        except DBAPIError:  # the transaction failed: its rollback drops the table, and the error stands
            pass


def _refuse_accounts(report: RosterReport, *, needs_links: bool) -> None:
    """Rows whose account cannot register (not a resident's, deactivated) are bad rows; without a
    links file, rows of people without an account stop the run."""
    s, users, execute = STAGING, User.__table__, db.session.execute
    refused = execute(select(s.c.line, users.c.role, users.c.deactivated_at).select_from(s)
                      .join(users, users.c.email_key == s.c.email_key)
                      .where(or_(users.c.role != "resident", users.c.deactivated_at.is_not(None)))).all()
    for line, role, deactivated_at in refused:
        report.bad.append((line, "the account with this email is deactivated" if deactivated_at is not None
                           else f"the account with this email is a {role} account, which cannot register"))
    if refused:
        execute(s.delete().where(s.c.line.in_([line for line, _, _ in refused])))
    if needs_links:
        newcomers = execute(select(func.count()).select_from(s).where(~_has_account())).scalar_one()
        if newcomers:
            raise LinksFileRequired(newcomers)


def _has_account():
    users = User.__table__
    return exists().where(users.c.email_key == STAGING.c.email_key)


def _invite(code: str, report: RosterReport, links, site_url: str, now: datetime, stager: _Stager) -> None:
    s, users, invitations = STAGING, User.__table__, Invitation.__table__
    execute = db.session.execute
    # Accounts for the e-mails no account has: no password until their link is used.
    nothing = literal([], JSONList)
    execute(insert_for_upsert(users).from_select(
        ["id", "email", "email_key", "display_name", "home_municipality_code", "birth_year", "role", "skills",
         "interests", "guardian_consent", "consent_share_profile", "consent_scouting", "consent_announcements",
         "session_nonce", "created_at"],
        select(s.c.new_user_id, s.c.email, s.c.email_key, s.c.display_name, s.c.home, s.c.birth_year,
               literal("resident"), nothing, nothing, false(), false(), false(), false(), s.c.nonce,
               literal(now, UTCDateTime))
        .where(~_has_account()).order_by(s.c.email_key),
    ).on_conflict_do_nothing(index_elements=["email_key"]))
    # Every staged e-mail has an account now: this run's, an earlier one, or a concurrent import's
    # (whose INSERT this run's waited for).
    ties = cast(s.c.ties, JSONB) if stager.postgres else s.c.ties
    execute(insert_for_upsert(invitations).from_select(
        ["id", "organization_code", "user_id", "ties", "status", "created_at"],
        select(s.c.invitation_id, literal(code), users.c.id, ties, literal(PENDING), literal(now, UTCDateTime))
        .select_from(s).join(users, users.c.email_key == s.c.email_key).order_by(users.c.id),
    ).on_conflict_do_nothing(index_elements=["organization_code", "user_id"]))
    # (Counted, not read from the cursor: SQLAlchemy reports no rowcount for INSERT … SELECT on psycopg.)
    invited = execute(select(func.count()).select_from(s).join(invitations, invitations.c.id == s.c.invitation_id)
                      ).scalar_one()

    # The accounts this run created carry the staged ids; each has its new invitation. (Ids as text:
    # they go straight into COPY lines.)
    ids = (cast(s.c.new_user_id, String), cast(s.c.invitation_id, String))
    new_people = execute(select(s.c.email, *ids).select_from(s)
                         .join(users, users.c.id == s.c.new_user_id)
                         .join(invitations, invitations.c.id == s.c.invitation_id).order_by(s.c.line)).all()
    staged = execute(select(func.count()).select_from(s)).scalar_one()
    report.new_accounts = len(new_people)
    report.existing_accounts = invited - len(new_people)
    report.already_invited = staged - invited
    if new_people:
        _issue_links(new_people, links, site_url, now, stager)


def _issue_links(new_people: list, links, site_url: str, now: datetime, stager: _Stager) -> None:
    """A `roster_invitation` link for each account this run created, naming its invitation: the rows
    `tokens.issue` would write, in bulk (the accounts are new: there is no older link to void)."""
    b, as_text = stager.bulk, stager.uuid_text
    created, expires = (_timestamp(t, stager.postgres) for t in (now, now + tokens.LIFETIMES[ROSTER_INVITATION]))
    for start in range(0, len(new_people), CHUNK):
        batch = new_people[start:start + CHUNK]
        ids, rows = new_id_texts(len(batch)), []
        for id_, (email, user_id, invitation_id) in zip(ids, batch):
            raw, digest = tokens.mint()
            rows.append((as_text(id_), as_text(user_id), ROSTER_INVITATION, digest, as_text(invitation_id),
                         created, expires))
            links(email, tokens.link(raw, site_url))
        b.write(SetPasswordToken.__tablename__, TOKEN_COLUMNS, rows)
    b.drain()


def _timestamp(t: datetime, postgres: bool) -> str:
    """A UTC time as `UTCDateTime` stores it."""
    t = t.astimezone(timezone.utc)
    return t.isoformat() if postgres else t.replace(tzinfo=None).isoformat(" ", "microseconds")


# --- the links file --------------------------------------------------------------------------------

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
        self._writer.writerow((email, link))
        self.count += 1

    def publish(self) -> None:
        self._file.close()
        with open(self.path, "a", newline="", encoding="utf-8") as out, open(self.partial, encoding="utf-8") as new:
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
