"""Writing a roster's checked rows for `import-roster` (registry/invitations/roster.py says how a run
goes), chunk by chunk, through the bulk writer (registry/common/bulk.py).

For each chunk: the accounts of its e-mails (compared case-insensitively) are looked up; a row whose
account cannot register (not a resident's, deactivated) is refused; an existing account gets an
invitation by INSERT … ON CONFLICT DO NOTHING on invitations' unique 団体 and person, so an
invitation made before (a re-run) is counted, not repeated. Every other row is a new person: an
account without a password, its invitation and its set-password link go in by COPY (the cheapest
way in: no staging table, no conflict arbitration; typed, so binary on PostgreSQL), in a savepoint.
Should an account with one of those e-mails appear between the look-up and the COPY (a signup
meanwhile), its unique key refuses the COPY; the chunk is then rolled back to its savepoint, looked
up and written again, with that account among the existing ones.

On PostgreSQL the bulk writer's thread runs the look-ups and writes, each chunk's look-up ahead of
the previous chunk's writes, so Python prepares one chunk while the server writes another.
"""
from __future__ import annotations

import json
import os
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.dialects import postgresql

from registry.accounts import links as tokens
from registry.accounts.models import ROSTER_INVITATION, SetPasswordToken, User
from registry.common.bulk import BulkWriter, Layout
from registry.common.ids import ascending_ids
from registry.invitations.models import PENDING, Invitation

EMAIL_TAKEN = "uq_users_email_key"  # the unique key a concurrent signup's account trips
# The invitation's columns an existing account's invitation takes from its JSON row (`_prepare`).
EXISTING_INVITATION_FIELDS = ("id", "user_id", "ties")


@dataclass
class Chunk:
    """Good rows — (line, email, email_key, display_name, home, ties as JSON, birth_year) — and, once
    their accounts are known, what to write for them."""
    rows: list[tuple]
    accounts: Future  # of {email_key: (id as text, role, deactivated)}
    refused: list[tuple[int, str]] = field(default_factory=list)  # bad rows: (line, reason)
    new: int = 0  # new people, each with an account, an invitation and a link
    writes: tuple = ()  # their users, invitations and set_password_tokens rows (`ChunkWriter._prepare`)
    newcomers: int = 0  # new people left out for want of a links file
    links: list[tuple[str, str]] = field(default_factory=list)  # (email, link), by line
    existing: str = "[]"  # JSON rows {id, user_id, ties} of the existing accounts' invitations
    inviting: int = 0  # how many


class ChunkWriter:
    """Writes the checked rows chunk by chunk (see the module docstring). Counts, in line order:
    `new_accounts`, `existing_accounts` newly invited, `already_invited`, `newcomers` (new people
    left out for want of `links`), `refused` (line, reason)."""

    LOOKUP = {  # the keys as one parameter: one a line on PostgreSQL (an e-mail has no line break), JSON on SQLite
        "postgresql": "SELECT email_key, id::text, role, deactivated_at IS NOT NULL FROM users "
                      "WHERE email_key = ANY(string_to_array(%s, E'\\n'))",
        "sqlite": "SELECT email_key, id, role, deactivated_at IS NOT NULL FROM users "
                  "WHERE email_key IN (SELECT value FROM json_each(?))",
    }

    def __init__(self, code: str, bulk: BulkWriter, links, site_url: str, now: datetime):
        self.code, self.bulk, self.links = code, bulk, links
        self.postgres = bulk.postgres
        self.dialect = "postgresql" if self.postgres else "sqlite"
        expires = now + tokens.LIFETIMES[ROSTER_INVITATION]
        self.users = bulk.layout(User, {
            "password_hash": None, "skills": "[]", "interests": "[]", "availability": None, "role": "resident",
            "organization_code": None, "guardian_consent": False, "consent_share_profile": False,
            "consent_scouting": False, "consent_announcements": False, "email_verified_at": None, "created_at": now,
            "deactivated_at": None, "erased_at": None}, typed=True)
        invitation_constants = {"organization_code": code, "status": PENDING, "created_at": now, "accepted_at": None,
                                "registration_id": None}
        self.invitations = bulk.layout(Invitation, invitation_constants, typed=True)
        self.link_tokens = bulk.layout(SetPasswordToken, {
            "purpose": ROSTER_INVITATION, "created_by": None, "created_at": now, "expires_at": expires,
            "used_at": None}, typed=True)
        if self.invitations.given != EXISTING_INVITATION_FIELDS:
            raise RuntimeError(f"import-roster gives invitations {', '.join(self.invitations.given)}; its existing "
                               f"accounts' invitations give {', '.join(EXISTING_INVITATION_FIELDS)}: "
                               "update registry/invitations/roster_writes.py")
        self.invite_existing, self.invite_parameters = _invite_existing(self.invitations, invitation_constants,
                                                                        self.postgres)
        self.link_prefix = tokens.link("", site_url)  # the link without its token
        self.looking_up: deque[Chunk] = deque()  # chunks whose accounts are being looked up
        self.writing: deque[tuple[Chunk, Future]] = deque()  # chunks written, with the writes' futures
        self.new_accounts = self.existing_accounts = self.already_invited = self.newcomers = 0
        self.refused: list[tuple[int, str]] = []

    def add(self, rows: list[tuple]) -> None:
        if rows:
            self.looking_up.append(Chunk(rows, self.bulk.call(self._look_up, [row[2] for row in rows])))
        while len(self.looking_up) > 1:  # one look-up stays ahead of the writes
            self._write(self.looking_up.popleft())
        self._done(wait=False)

    def finish(self) -> None:
        while self.looking_up:
            self._write(self.looking_up.popleft())
        self._done(wait=True)
        self.bulk.drain()

    def _write(self, chunk: Chunk) -> None:
        self._prepare(chunk)
        self.writing.append((chunk, self.bulk.call(self._store, chunk)))

    def _done(self, *, wait: bool) -> None:
        """Counts the chunks written, in order, and hands out their links."""
        while self.writing and (wait or self.writing[0][1].done()):
            chunk, future = self.writing.popleft()
            invited = future.result()
            while invited is None:  # an account appeared meanwhile: look up and write again
                chunk = Chunk(chunk.rows, self.bulk.call(self._look_up, [row[2] for row in chunk.rows]))
                self._prepare(chunk)
                invited = self.bulk.call(self._store, chunk).result()
            self.refused.extend(chunk.refused)
            self.newcomers += chunk.newcomers
            self.new_accounts += chunk.new
            self.existing_accounts += invited
            self.already_invited += chunk.inviting - invited
            for email, link in chunk.links:
                self.links(email, link)

    def _prepare(self, chunk: Chunk) -> None:
        """What to write for the chunk, once its accounts are known: refused rows, the new people's
        rows (typed: COPY's binary format on PostgreSQL) and links, the existing accounts' invitations."""
        accounts = chunk.accounts.result()
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
        user, invitation, link_token = self.users.row, self.invitations.row, self.link_tokens.row
        users, invitations, link_tokens = [], [], []
        for (line, email, key, name, home, ties, year), user_id, invitation_id, token_id, nonce_at, (_, digest) in zip(
                new, user_ids, invitation_ids, token_ids, range(0, 16 * len(new), 16), minted):
            users.append(user(id=user_id, email=email, email_key=key, display_name=name, home_municipality_code=home,
                              birth_year=year, session_nonce=nonces[nonce_at:nonce_at + 16]))
            invitations.append(invitation(id=invitation_id, user_id=user_id, ties=ties))
            link_tokens.append(link_token(id=token_id, user_id=user_id, token_hash=digest, subject_id=invitation_id))
        chunk.writes = (users, invitations, link_tokens)
        existing.sort()
        chunk.inviting = len(existing)
        chunk.existing = "[" + ",".join(f'{{"id":"{invitation_id.hex()}","user_id":"{user_id}","ties":{ties}}}'
                                        for invitation_id, (user_id, ties) in zip(invitation_ids[len(new):], existing)
                                        ) + "]"

    # On the writer thread (PostgreSQL) -----------------------------------------------------------

    def _look_up(self, keys: list[str]) -> dict:
        keys_param = "\n".join(keys) if self.postgres else json.dumps(keys)
        rows = self.bulk.raw.execute(self.LOOKUP[self.dialect], (keys_param,)).fetchall()
        return {key: (id_, role, bool(deactivated)) for key, id_, role, deactivated in rows}

    def _store(self, chunk: Chunk) -> int | None:
        """Writes the chunk in a savepoint; the number of existing accounts newly invited, or None
        when an account with one of its new e-mails appeared since the look-up (nothing written)."""
        raw, bulk = self.bulk.raw, self.bulk
        raw.execute("SAVEPOINT roster_chunk")
        try:
            if chunk.new:
                for layout, rows in zip((self.users, self.invitations, self.link_tokens), chunk.writes):
                    bulk.write_now(layout, rows)
            invited = raw.execute(self.invite_existing, (*self.invite_parameters, chunk.existing)).rowcount \
                if chunk.inviting else 0
        except Exception as error:
            if not _email_taken(error):
                raise
            raw.execute("ROLLBACK TO SAVEPOINT roster_chunk")
            return None
        raw.execute("RELEASE SAVEPOINT roster_chunk")
        return invited


def _invite_existing(layout: Layout, constants: dict, postgres: bool) -> tuple[str, tuple]:
    """The INSERT of existing accounts' invitations from one JSON parameter of rows holding the
    layout's given columns, and the parameters before that one: the layout's constants, so these
    invitations are the ones the COPY writes. Its rowcount is how many were new."""
    placeholder = "%s" if postgres else "?"
    values, parameters = [], []
    for column in layout.table.columns:
        if column.name in layout.given:
            continue
        value = constants[column.name]
        if value is None:
            values.append("NULL")
            continue
        values.append(f"CAST(%s AS {_pg_type(column)})" if postgres else placeholder)
        parameters.append(_timestamp(value, postgres) if isinstance(value, datetime) else value)
    if postgres:
        record = ", ".join(f"{name} {_pg_type(layout.table.columns[name])}" for name in layout.given)
        given = [f"r.{name}" for name in layout.given]
        source = f"FROM jsonb_to_recordset(%s::jsonb) AS r({record})"
    else:
        given = [f"json_extract(value, '$.{name}')" for name in layout.given]
        source = "FROM json_each(?) WHERE true"
    sql = (f"INSERT INTO {layout.name} ({', '.join(layout.columns)}) SELECT {', '.join(given + values)} {source} "
           "ON CONFLICT (organization_code, user_id) DO NOTHING")
    return sql, tuple(parameters)


def _pg_type(column) -> str:
    return column.type.compile(dialect=postgresql.dialect())


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
