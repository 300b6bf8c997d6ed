"""`import-roster FILE.csv --organization CODE [--invites OUT.csv]`: a 団体 brings its existing list
(API.md "Configuration and command line"). Nobody is registered on a list's word: each good row
becomes an invitation to register with CODE, counted in no figure until the person accepts it.

How a run goes, in one transaction (the caller commits), chunk by chunk as the CSV streams by:
1. Each row is checked in Python — e-mail (what the API's `fields.Email` accepts), display name,
   home municipality (a designated-city ward counts as its city, as at signup; a code whose leading
   zero a spreadsheet dropped is padded), ties, birth year, not living in CODE itself (registering
   there would be refused), an e-mail not already on an earlier line. A bad row is reported as
   `line N: reason` (the header is line 1) and goes no further. These checks look at one row at a
   time (and one dictionary of e-mails seen): SQL would not do them for less.
2. The accounts of a chunk's e-mails (compared case-insensitively) are looked up: a row whose
   account cannot register (not a resident's, deactivated) is a bad row; an existing account gets
   an invitation by INSERT … ON CONFLICT DO NOTHING on invitations' unique 団体 and person, so an
   invitation made before (a re-run) is counted, not repeated. Every other row is a new person:
   an account without a password, its invitation and its set-password link go in by COPY (the
   cheapest way in: no staging table, no conflict arbitration; binary on PostgreSQL, so the server
   parses no ids, times or JSON), in a savepoint. Should an account with one of those e-mails
   appear between the look-up and the COPY (a signup meanwhile), its unique key refuses the COPY;
   the chunk is then rolled back to its savepoint, looked up and written again, with that account
   among the existing ones.
3. On PostgreSQL the database works while Python checks: a writer thread (seed-demo's `Bulk`) runs
   the look-ups and writes, and Python prepares the next chunks meanwhile (chunks grow from
   `FIRST_CHUNK` rows, so the server starts early and a large file makes few savepoints). Runs
   take a transaction-level advisory lock first: two imports at once wait for each other (the
   second then finds the first's accounts and invitations) instead of deadlocking over e-mails
   that both create in different orders. On SQLite everything runs in turn.
   When the role may set `session_replication_role`, the per-row foreign-key triggers are off for
   these writes and every reference of the rows written is checked set-wise before the
   transaction can commit (seed-demo's bulk-load rule, reused); `skip_fk_triggers=False` keeps them.
4. Each account this run created gets a one-time set-password link (`accounts.links`: purpose
   `roster_invitation`, valid 14 days, naming its invitation, which using it accepts), handed to
   `links(email, link)` once its chunk is written, in line order. Existing accounts get no link:
   the invitation waits in their inbox (`GET /me/invitations`). Links are minted only for accounts
   created now, so a re-run writes none.

New people need somewhere for their links to go: without `links` the run changes nothing (it works
in a savepoint it rolls back) and raises `LinksFileRequired` (an account nobody is told about could
only be found by a password reset).
"""
from __future__ import annotations

import csv
import fcntl
import functools
import json
import os
import re
import struct
import tempfile
import time
import unicodedata
import uuid
from collections import deque
from contextlib import nullcontext
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from marshmallow import validate
from sqlalchemy import select, text

from registry.accounts import links as tokens
from registry.accounts.models import ROSTER_INVITATION
from registry.common.ids import ascending_ids
from registry.common.time import today_tokyo, utcnow
from registry.errors import Problem
from registry.extensions import db
from registry.figures.seed import Bulk, _check_references, _skip_fk_triggers  # seed-demo's bulk loading
from registry.invitations.models import PENDING
from registry.organizations import service as organizations
from registry.organizations.codes import padded, prefecture_code_of
from registry.organizations.models import MUNICIPALITY, PREFECTURE, Organization, Ward
from registry.registrations.models import TIES

HEADER = ("email", "display_name", "home_municipality_code", "ties", "birth_year")
# Rows per chunk: each half as many again as the one before, from FIRST_CHUNK (the server starts
# early, and Python's checking of the growing chunks keeps ahead of the server's writing of the
# ones before) up to CHUNK, or up to a MAX_CHUNKS-th of the file when that is more (so a long file
# makes few savepoints).
FIRST_CHUNK, CHUNK, MAX_CHUNKS = 1_000, 10_000, 50
OLDEST_BIRTH_YEAR = 1900
MAX_EMAIL, MAX_DISPLAY_NAME = 254, 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# pg_advisory_xact_lock's key for import-roster ("roster" in ASCII).
ROSTER_LOCK = 0x726F73746572
USER_COLUMNS = ("id", "email", "email_key", "display_name", "home_municipality_code", "birth_year", "role", "skills",
                "interests", "guardian_consent", "consent_share_profile", "consent_scouting", "consent_announcements",
                "session_nonce", "created_at")
INVITATION_COLUMNS = ("id", "organization_code", "user_id", "ties", "status", "created_at")
TOKEN_COLUMNS = ("id", "user_id", "purpose", "token_hash", "subject_id", "created_at", "expires_at")
NEW_PERSON_ROWS = (("users", USER_COLUMNS), ("invitations", INVITATION_COLUMNS), ("set_password_tokens", TOKEN_COLUMNS))
WRITTEN_TABLES = tuple(table for table, _ in NEW_PERSON_ROWS)
EMAIL_TAKEN = "uq_users_email_key"  # the unique key a concurrent signup's account trips


def is_email(value: str) -> bool:
    """Whether marshmallow's `validate.Email` — the API's `fields.Email`, so signup's rule — accepts
    `value`: its own checks and regexes, without its per-call cost (formatting the message of the
    error it might raise, raising it), and each domain's verdict remembered (a roster's repeat)."""
    user, at, domain = value.rpartition("@")
    return bool(at) and _USER_PART(user) is not None and _is_domain(domain)


_USER_PART, _DOMAIN_PART = validate.Email.USER_REGEX.match, validate.Email.DOMAIN_REGEX.match


@functools.lru_cache(maxsize=4096)
def _is_domain(domain: str) -> bool:
    return domain in validate.Email.DOMAIN_WHITELIST or _DOMAIN_PART(domain) is not None


_NO_LOCK = nullcontext()


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
    birth years and codes repeat across a roster, so their verdicts are remembered. `session_lock`
    is held around the rare look-up of a code it does not know (the import's writer thread may be
    using the session's connection meanwhile)."""

    def __init__(self, organization: Organization, *, today=None, session_lock=None):
        self.organization = organization
        self.session_lock = session_lock
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
        """The row to write — (line, email, email_key, display_name, home, ties as JSON, birth_year) —
        and no reasons, or None and the reasons it is bad."""
        if len(fields) != len(HEADER):
            return None, [f"expected {len(HEADER)} fields, found {len(fields)}"]
        email, display_name, home_code, ties_text, birth_text = fields
        email, display_name, home_code = email.strip(), display_name.strip(), home_code.strip()
        ties_text, birth_text = ties_text.strip(), birth_text.strip()
        reasons = []
        if not email:
            reasons.append("email is empty")
            email_key = None
        elif len(email) > MAX_EMAIL or not is_email(email):
            reasons.append("email is not a valid e-mail address")
            email_key = None
        else:
            email_key = email.lower()  # accounts.normalize_email, after the strip above
            first = self.seen.setdefault(email_key, line)
            if first != line:
                reasons.append(f"email is already on line {first}")
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
        return (line, email, email_key, display_name, home, ties, birth_year), reasons

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
                verdict = self.homes.get(six)
                if verdict is None:
                    with self.session_lock or _NO_LOCK:
                        verdict = self._home_verdict(organizations.resolve_home_municipality(six).code)
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
    bulk = _RosterBulk()
    if bulk.postgres:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROSTER_LOCK})
    unlinked = db.session.begin_nested() if links is None else None  # rolled back if new people turn up
    try:
        triggers_off = bulk.postgres and skip_fk_triggers and _skip_fk_triggers(required=False)
        writer = _Writer(organization.code, bulk, report, links, site_url, now)
        checker = RowChecker(organization, today=today_tokyo(now), session_lock=bulk.lock)
        _read(path, checker, writer, report, progress, chunk_size or max(CHUNK, count_lines(path) // MAX_CHUNKS))
        writer.finish()
        if unlinked is not None:
            if writer.newcomers:
                unlinked.rollback()
                raise LinksFileRequired(writer.newcomers)
            unlinked.commit()
        if triggers_off:
            _check_references(lowest_id, WRITTEN_TABLES, "import-roster")
            db.session.execute(text("SET LOCAL session_replication_role = origin"))
    except LinksFileRequired as error:
        report.bad.sort()
        error.report = report
        raise
    finally:
        bulk.close()
    report.bad.sort()
    report.seconds = time.perf_counter() - started
    return report


def _read(path: str, checker: RowChecker, writer: "_Writer", report: RosterReport, progress, chunk_size) -> None:
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
        done = end = reader.line_num
        rows, chunk, size = 0, [], min(FIRST_CHUNK, chunk_size)
        try:
            for fields in reader:
                start, end = end + 1, reader.line_num
                if not fields:  # a blank line
                    continue
                rows += 1
                if undecodable and not undecodable.isdisjoint(range(start, end + 1)):
                    report.bad.append((start, "not UTF-8 text"))
                    continue
                row, reasons = checker.check(start, fields)
                if reasons:
                    report.bad.append((start, "; ".join(reasons)))
                    continue
                chunk.append(row)
                if len(chunk) >= size:
                    writer.add(chunk)
                    chunk, size = [], min(size * 3 // 2, chunk_size)
                    if progress:
                        progress(end - done)
                        done = end
        except csv.Error as error:  # an unclosed quote, say: the rest of the file is one field
            rows += 1
            report.bad.append((end + 1, f"not CSV: {error}"))
        report.rows = rows
        writer.add(chunk)
        if progress:
            progress(reader.line_num - done)


class _RosterBulk(Bulk):
    def _check_columns(self) -> None:
        """seed-demo's check of the columns *it* fills; the roster names its own."""


@dataclass
class _Chunk:
    """Good rows — (line, email, email_key, display_name, home, ties as JSON, birth_year) — and, once
    their accounts are known, what to write for them."""
    rows: list[tuple]
    accounts: Future  # of {email_key: (id as text, role, deactivated)}
    refused: list[tuple[int, str]] = field(default_factory=list)  # bad rows: (line, reason)
    new: int = 0  # new people, each with an account, an invitation and a link
    writes: tuple = ()  # their users, invitations and set_password_tokens rows (`_Writer._encode`)
    newcomers: int = 0  # new people left out for want of a links file
    links: list[tuple[str, str]] = field(default_factory=list)  # (email, link), by line
    existing: str = "[]"  # JSON rows {id, user_id, ties} of the existing accounts' invitations
    inviting: int = 0  # how many


class _Writer:
    """Writes the checked rows chunk by chunk; on PostgreSQL through the `Bulk` writer thread, which
    runs each chunk's account look-up ahead of the previous chunk's writes, so Python prepares one
    chunk while the server writes another."""

    LOOKUP = {  # the keys as one parameter: one a line on PostgreSQL (an e-mail has no line break), JSON on SQLite
        "postgresql": "SELECT email_key, id::text, role, deactivated_at IS NOT NULL FROM users "
                      "WHERE email_key = ANY(string_to_array(%s, E'\\n'))",
        "sqlite": "SELECT email_key, id, role, deactivated_at IS NOT NULL FROM users "
                  "WHERE email_key IN (SELECT value FROM json_each(?))",
    }
    INVITE_EXISTING = {  # one JSON parameter of {id, user_id, ties}; the rowcount is how many were new
        "postgresql": "INSERT INTO invitations (id, organization_code, user_id, ties, status, created_at) "
                      "SELECT r.id, %s, r.user_id, r.ties, %s, %s::timestamptz "
                      "FROM jsonb_to_recordset(%s::jsonb) AS r(id uuid, user_id uuid, ties jsonb) "
                      "ON CONFLICT (organization_code, user_id) DO NOTHING",
        "sqlite": "INSERT INTO invitations (id, organization_code, user_id, ties, status, created_at) "
                  "SELECT json_extract(value, '$.id'), ?, json_extract(value, '$.user_id'), "
                  "json_extract(value, '$.ties'), ?, ? FROM json_each(?) WHERE true "
                  "ON CONFLICT (organization_code, user_id) DO NOTHING",
    }

    def __init__(self, code: str, bulk: Bulk, report: RosterReport, links, site_url: str, now: datetime):
        self.code, self.bulk, self.report, self.links = code, bulk, report, links
        self.postgres = bulk.postgres
        self.dialect = "postgresql" if self.postgres else "sqlite"
        expires = now + tokens.LIFETIMES[ROSTER_INVITATION]
        self.created, self.expires = _timestamp(now, self.postgres), _timestamp(expires, self.postgres)
        if self.postgres:
            self.binary_rows = _BinaryRows(code, now, expires)
        self.link_prefix = tokens.link("", site_url)  # the link without its token
        self.looking_up: deque[_Chunk] = deque()  # chunks whose accounts are being looked up
        self.writing: deque[tuple[_Chunk, Future]] = deque()  # chunks written, with the writes' futures
        self.newcomers = 0  # new people seen while there is no links file (nothing is written for them)

    def add(self, rows: list[tuple]) -> None:
        if rows:
            self.looking_up.append(_Chunk(rows, self.bulk.call(self._look_up, [row[2] for row in rows])))
        while len(self.looking_up) > 1:  # one look-up stays ahead of the writes
            self._write(self.looking_up.popleft())
        self._done(wait=False)

    def finish(self) -> None:
        while self.looking_up:
            self._write(self.looking_up.popleft())
        self._done(wait=True)
        self.bulk.drain()

    def _write(self, chunk: _Chunk) -> None:
        self._prepare(chunk)
        self.writing.append((chunk, self.bulk.call(self._store, chunk)))

    def _done(self, *, wait: bool) -> None:
        """Counts the chunks written, in order, and hands out their links."""
        while self.writing and (wait or self.writing[0][1].done()):
            chunk, future = self.writing.popleft()
            invited = future.result()
            while invited is None:  # an account appeared meanwhile: look up and write again
                chunk = _Chunk(chunk.rows, self.bulk.call(self._look_up, [row[2] for row in chunk.rows]))
                self._prepare(chunk)
                invited = self.bulk.call(self._store, chunk).result()
            report = self.report
            report.bad.extend(chunk.refused)
            self.newcomers += chunk.newcomers
            report.new_accounts += chunk.new
            report.existing_accounts += invited
            report.already_invited += chunk.inviting - invited
            for email, link in chunk.links:
                self.links(email, link)

    def _prepare(self, chunk: _Chunk) -> None:
        """What to write for the chunk, once its accounts are known: refused rows, the new people's
        rows (COPY's binary format on PostgreSQL, tuples for SQLite) and links, the existing
        accounts' invitations."""
        accounts, postgres = chunk.accounts.result(), self.postgres
        new, existing = [], []
        for row in chunk.rows:
            account = accounts.get(row[2])
            if account is None:
                new.append(row)
            elif account[2]:
                chunk.refused.append((row[0], "the account with this email is deactivated"))
            elif account[1] != "resident":
                chunk.refused.append((row[0], f"the account with this email is a {account[1]} account, "
                                              "which cannot register"))
            else:
                existing.append((account[0], row[5]))
        if self.links is None:
            chunk.newcomers, new = len(new), []
        # Ids ascending along the rows: each index takes them at its right edge.
        user_ids, invitation_ids, token_ids = map(ascending_ids, (len(new), len(new) + len(existing), len(new)))
        nonces = os.urandom(8 * len(new)).hex()
        minted = tokens.mint_many(len(new))
        link_prefix = self.link_prefix
        chunk.links = [(row[1], link_prefix + raw) for row, (raw, _) in zip(new, minted)]
        chunk.new = len(new)
        people = (new, user_ids, invitation_ids, token_ids, [nonces[i:i + 16] for i in range(0, 16 * len(new), 16)],
                  [digest for _, digest in minted])
        chunk.writes = self.binary_rows.encode(*people) if postgres else self._tuples(*people)
        existing.sort()
        chunk.inviting = len(existing)
        chunk.existing = "[" + ",".join(f'{{"id":"{invitation_id.hex()}","user_id":"{user_id}","ties":{ties}}}'
                                        for invitation_id, (user_id, ties) in zip(invitation_ids[len(new):], existing)
                                        ) + "]"

    def _tuples(self, people, user_ids, invitation_ids, token_ids, nonces, digests) -> tuple[list, list, list]:
        """SQLite's rows for executemany (ids as it stores them: 32 hex digits)."""
        created, code = self.created, self.code
        users, invitations, link_tokens = [], [], []
        for (line, email, key, name, home, ties, year), user_id, invitation_id, token_id, nonce, digest in zip(
                people, user_ids, invitation_ids, token_ids, nonces, digests):
            user_id, invitation_id = user_id.hex(), invitation_id.hex()
            users.append((user_id, email, key, name, home, year, "resident", "[]", "[]", 0, 0, 0, 0, nonce, created))
            invitations.append((invitation_id, code, user_id, ties, PENDING, created))
            link_tokens.append((token_id.hex(), user_id, ROSTER_INVITATION, digest, invitation_id, created,
                                self.expires))
        return users, invitations, link_tokens

    # On the writer thread (PostgreSQL) -----------------------------------------------------------

    def _look_up(self, keys: list[str]) -> dict:
        keys_param = "\n".join(keys) if self.postgres else json.dumps(keys)
        rows = self.bulk.raw.execute(self.LOOKUP[self.dialect], (keys_param,)).fetchall()
        return {key: (id_, role, bool(deactivated)) for key, id_, role, deactivated in rows}

    def _store(self, chunk: _Chunk) -> int | None:
        """Writes the chunk in a savepoint; the number of existing accounts newly invited, or None
        when an account with one of its new e-mails appeared since the look-up (nothing written)."""
        raw, b = self.bulk.raw, self.bulk
        raw.execute("SAVEPOINT roster_chunk")
        try:
            if chunk.new:
                for (table, columns), rows in zip(NEW_PERSON_ROWS, chunk.writes):
                    if self.postgres:
                        _copy_binary(raw, table, columns, rows)
                    else:
                        b.insert(table, columns, rows)
            invited = raw.execute(self.INVITE_EXISTING[self.dialect],
                                  (self.code, PENDING, self.created, chunk.existing)).rowcount if chunk.inviting else 0
        except Exception as error:
            if not _email_taken(error):
                raise
            raw.execute("ROLLBACK TO SAVEPOINT roster_chunk")
            return None
        raw.execute("RELEASE SAVEPOINT roster_chunk")
        return invited


class _BinaryRows:
    """New people's rows in COPY's binary format: the server then parses no text (ids, times, JSON:
    a sixth of its work on these rows, measured). A row is its field count, then each field as a 4-byte
    length (-1 for NULL) and the value as the column type's `recv` reads it: a uuid's 16 bytes,
    UTF-8 text, a big-endian integer, a bool's byte, jsonb's version 1 and its text, a timestamptz's
    microseconds since 2000-01-01 UTC."""

    def __init__(self, code: str, created: datetime, expires: datetime):
        created_at, expires_at = (_field(((t - _PG_EPOCH) // timedelta(microseconds=1)).to_bytes(8, "big", signed=True))
                                  for t in (created, expires))
        self.user_role_to_consents = b"".join(_field(v) for v in (
            b"resident", b"\x01[]", b"\x01[]", b"\x00", b"\x00", b"\x00", b"\x00"))  # role … consent_announcements
        self.user_created = created_at
        self.invitation_code = _field(code.encode())
        self.invitation_status_created = _field(PENDING.encode()) + created_at
        self.token_purpose = _field(ROSTER_INVITATION.encode())
        self.token_times = created_at + expires_at

    def encode(self, people, user_ids, invitation_ids, token_ids, nonces, digests) -> tuple[list, list, list]:
        """The COPY data for users, invitations and set_password_tokens (`NEW_PERSON_ROWS`'s
        columns): each a list of the header, a block a row, and the trailer."""
        users, invitations, link_tokens = [_COPY_HEADER], [_COPY_HEADER], [_COPY_HEADER]
        length, null, uuid_field = _LENGTH, _NULL, _UUID_LENGTH
        role_to_consents, user_created = self.user_role_to_consents, self.user_created
        code, status_created = self.invitation_code, self.invitation_status_created
        purpose, times = self.token_purpose, self.token_times
        for (line, email, key, name, home, ties, year), user_id, invitation_id, token_id, nonce, digest in zip(
                people, user_ids, invitation_ids, token_ids, nonces, digests):
            email, key, name, ties = email.encode(), key.encode(), name.encode(), ties.encode()
            users.append(b"".join((
                _USER_FIELDS, uuid_field, user_id, length(len(email)), email, length(len(key)), key,
                length(len(name)), name, length(len(home)), home.encode(),
                null if year is None else _INT4_LENGTH + year.to_bytes(4, "big"),
                role_to_consents, _NONCE_LENGTH, nonce.encode(), user_created)))
            invitations.append(b"".join((
                _INVITATION_FIELDS, uuid_field, invitation_id, code, uuid_field, user_id,
                length(len(ties) + 1), b"\x01", ties, status_created)))
            link_tokens.append(b"".join((
                _TOKEN_FIELDS, uuid_field, token_id, uuid_field, user_id, purpose, _DIGEST_LENGTH, digest.encode(),
                uuid_field, invitation_id, times)))
        for rows in (users, invitations, link_tokens):
            rows.append(_COPY_TRAILER)
        return users, invitations, link_tokens


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_COPY_HEADER, _COPY_TRAILER = b"PGCOPY\n\xff\r\n\x00" + bytes(8), b"\xff\xff"  # signature, no flags, no extension
_LENGTH = struct.Struct(">i").pack
_NULL, _UUID_LENGTH, _INT4_LENGTH, _NONCE_LENGTH, _DIGEST_LENGTH = (_LENGTH(n) for n in (-1, 16, 4, 16, 64))
_USER_FIELDS, _INVITATION_FIELDS, _TOKEN_FIELDS = (len(columns).to_bytes(2, "big")
                                                   for _, columns in NEW_PERSON_ROWS)


def _field(value: bytes) -> bytes:
    return _LENGTH(len(value)) + value


def _copy_binary(raw, table: str, columns: tuple, blocks: list[bytes]) -> None:
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            for start in range(0, len(blocks), 2000):
                copy.write(b"".join(blocks[start:start + 2000]))


def _email_taken(error: Exception) -> bool:
    """Whether a write failed on users' unique e-mail key (psycopg names the constraint, SQLite the column)."""
    diag = getattr(error, "diag", None)
    if diag is not None:
        return getattr(error, "sqlstate", None) == "23505" and diag.constraint_name == EMAIL_TAKEN
    return "UNIQUE constraint failed: users.email_key" in str(error)


def _timestamp(t: datetime, postgres: bool) -> str:
    """A UTC time as `UTCDateTime` stores it."""
    t = t.astimezone(timezone.utc)
    return t.isoformat() if postgres else t.replace(tzinfo=None).isoformat(" ", "microseconds")


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
