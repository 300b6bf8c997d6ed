"""Reading and checking a roster for `import-roster` (registry/invitations/roster.py says how a run
goes): the CSV streams by line, each row is checked in Python — e-mail (what the API's
`fields.Email` accepts), display name, home municipality (a designated-city ward counts as its
city, as at signup; a code whose leading zero a spreadsheet dropped is padded), ties, birth year,
not living in the inviting 団体 itself (registering there would be refused), an e-mail not already
on an earlier line — and the good rows go on in chunks. A bad row is reported as `line N: reason`
(the header is line 1) and goes no further. These checks look at one row at a time (and one
dictionary of e-mails seen): SQL would not do them for less.
"""
from __future__ import annotations

import csv
import functools
import json
import unicodedata
from contextlib import nullcontext
from typing import Callable, Iterator

from marshmallow import validate
from sqlalchemy import select

from registry.common.schemas import text_problems
from registry.common.time import today_tokyo
from registry.errors import Problem
from registry.extensions import db
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
        else:  # the rule signing up applies (registry.common.schemas): length, control characters, マイナンバー
            reasons.extend(f"display_name: {problem}" for problem in text_problems(display_name, MAX_DISPLAY_NAME))
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



def read_rows(path: str, checker: RowChecker, add: Callable[[list[tuple]], None], bad: list[tuple[int, str]],
              progress: Callable[[int], None] | None, chunk_size: int) -> int:
    """Reads the roster at `path`, checks each row with `checker` and hands the good ones to `add`
    in chunks growing from FIRST_CHUNK to `chunk_size` (then the rest, perhaps none); appends
    (line, reason) to `bad` for each bad row; returns how many data rows it read."""
    undecodable: set[int] = set()
    with open(path, "rb") as f:
        reader = csv.reader(_decoded_lines(f, undecodable), strict=True)
        try:
            header = next(reader, None)
        except csv.Error:
            header = None
        if header is None or tuple(h.strip().lower() for h in header) != HEADER or 1 in undecodable:
            bad.append((1, f"the header must be {','.join(HEADER)}"))
            return 0
        done = end = reader.line_num
        rows, chunk, size = 0, [], min(FIRST_CHUNK, chunk_size)
        try:
            for fields in reader:
                start, end = end + 1, reader.line_num
                if not fields:  # a blank line
                    continue
                rows += 1
                if undecodable and not undecodable.isdisjoint(range(start, end + 1)):
                    bad.append((start, "not UTF-8 text"))
                    continue
                row, reasons = checker.check(start, fields)
                if reasons:
                    bad.append((start, "; ".join(reasons)))
                    continue
                chunk.append(row)
                if len(chunk) >= size:
                    add(chunk)
                    chunk, size = [], min(size * 3 // 2, chunk_size)
                    if progress:
                        progress(end - done)
                        done = end
        except csv.Error as error:  # an unclosed quote, say: the rest of the file is one field
            rows += 1
            bad.append((end + 1, f"not CSV: {error}"))
        add(chunk)
        if progress:
            progress(reader.line_num - done)
    return rows
