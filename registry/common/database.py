"""Engine set-up per database, the one dialect-specific statement we need (upsert), and the two
ways an interface runs services inside the request's one transaction (`attempt`, `reads_together`)."""
import functools
import json
import select
import uuid
from contextlib import contextmanager

from flask import has_request_context
from psycopg import pq
from sqlalchemy import Table, TextClause, bindparam, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite

from registry.errors import Problem
from registry.extensions import db


def init_database(app) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _sqlite_pragmas(engine)
        if engine.dialect.name == "postgresql":
            _read_only_is_a_disconnect(engine)
        for each in db.engines.values():
            if each.dialect.name == "postgresql":
                _drop_closed_connections_on_checkout(each)


# PostgreSQL failover (docs/operations.md "High availability"). Without pre-ping, two things keep a
# pool from handing out a connection to a server that is gone or no longer the primary:


def _drop_closed_connections_on_checkout(engine) -> None:
    """A pooled connection whose server went away (stopped, crashed, demoted by the HA manager) has
    a readable socket: the server's goodbye or the end of the stream; an idle connection is otherwise
    silent. Checking costs one poll() and no round trip. Such a connection is replaced on checkout
    (SQLAlchemy's DisconnectionError in a "checkout" handler), so a request after a failover does not
    fail on a connection left from before it. A connection that dies without a word (a vanished
    machine) is found when it is used: a disconnect, 503, and the pool starts afresh."""

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection, record, _proxy):
        pgconn = getattr(dbapi_connection, "pgconn", None)
        if pgconn is None:
            return
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        for _ in range(3):  # a server's last words (FATAL: terminating connection …), then the end
            if not poller.poll(0):
                return  # silent: alive (stray bytes, a notice or a TLS ticket, were read below)
            try:
                pgconn.consume_input()
            except Exception as error:  # noqa: BLE001 - psycopg's OperationalError: the stream ended
                raise exc.DisconnectionError(f"the server closed this pooled connection: {error}") from error
            if pgconn.status != pq.ConnStatus.OK:
                break
        raise exc.DisconnectionError("the server closed this pooled connection")


def _read_only_is_a_disconnect(engine) -> None:
    """A write refused as read-only (SQLSTATE 25006) on the primary's engine means the server this
    connection reached is no longer the primary (a switch-over in progress, or a `DATABASE_URL`
    naming a standby): treated as a disconnect, the pool is dropped, the request answers 503 and the
    next connection goes to whichever host is writable (target_session_attrs=read-write)."""

    @event.listens_for(engine, "handle_error")
    def on_error(context):
        if getattr(context.original_exception, "sqlstate", None) == "25006":
            context.is_disconnect = True


def _sqlite_pragmas(engine) -> None:
    """Foreign keys on, WAL for concurrent readers, and pysqlite's transaction handling replaced by
    SQLAlchemy's (so SAVEPOINT works: SQLAlchemy docs, "Serializable isolation / Savepoints").

    A request's transaction takes SQLite's write lock when it begins (BEGIN IMMEDIATE), so
    concurrent requests wait their turn (busy_timeout) instead of failing: a deferred transaction
    that reads first and writes later fails at once with "database is locked" when another writer
    committed in between (its snapshot is stale; waiting cannot help), and even a GET may write (the
    audit of a staff read). The embedded default serves one writer at a time; PostgreSQL is for scale.
    Jobs outside a request keep deferred transactions and take the lock themselves where they must."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if has_request_context() else "BEGIN")


def attempt(action):
    """`action()` in a SAVEPOINT, for a page whose form may be refused and then shown again. The
    savepoint is released when the action returns and when it raises a Problem with `keep_changes`
    (what it recorded, a failed sign-in say, stays for the request's commit); any other exception
    rolls it back, so a refused form leaves nothing of the failed call. Exceptions are raised again
    either way. The request still commits once (RegistryApp.dispatch_request)."""
    kept = None
    with db.session.begin_nested():  # released on leaving the block, rolled back by an exception
        try:
            return action()
        except Problem as problem:
            if not problem.keep_changes:
                raise
            kept = problem
    raise kept


@contextmanager
def reads_together():
    """Queries inside do not flush what the session holds: a page that shows several kinds of
    personal data records each read as its service hands it out (audit.record_read adds an entry
    to the session), and the commit writes the entries as one INSERT instead of one per query."""
    with db.session.no_autoflush:
        yield


def insert_for_upsert(model, dialect: str | None = None):
    """An INSERT that takes `.on_conflict_do_update(...)` on both databases (the app's, unless
    `dialect` names one)."""
    if dialect is None:
        dialect = db.engine.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


class Upsert:
    """`INSERT … ON CONFLICT (…) DO …` for the write path, as text statements SQLAlchemy caches.

    Why not the dialects' `insert().on_conflict_do_update()`: SQLAlchemy 2.0 cannot cache those
    (`inherit_cache = False`) and compiles one anew on every execution, and a multi-row VALUES with a
    parameter per value costs per parameter in SQLAlchemy and psycopg (which re-parses statements
    with more than 50 parameters every time). Together they were most of a registration's cost in
    the bench/writes.py profile. The ON CONFLICT syntax is the same on PostgreSQL and SQLite 3.35+.

    - `one(row)`: one row as typed bind parameters (any column type).
    - `many(rows, dialect)`: any number of rows as ONE JSON parameter, unpacked by
      `jsonb_to_recordset` (PostgreSQL) or `json_each` (SQLite) — for columns whose JSON form is
      their stored form: numbers, text, and UUIDs as 32 hex digits (SQLite's storage, and
      PostgreSQL accepts them).
    - `sql(source)`, `records(parameter)`, `values()`, `binds()`: the pieces, for a statement that
      puts several together (figures.ledger: a whole registration change in one statement).

        db.session.execute(*COUNTERS.many(rows, db.engine.dialect.name))
    """

    def __init__(self, table: Table, *, conflict: tuple[str, ...], action: str, where: str | None = None,
                 returning: tuple[str, ...] = ()):
        self.table, self.conflict, self.action, self.where = table, conflict, action, where
        self.returning = returning
        self.columns = tuple(c.name for c in table.columns)

    def one(self, row: dict) -> tuple[TextClause, dict]:
        return self._one(), row

    def many(self, rows: list[dict], dialect: str) -> tuple[TextClause, dict]:
        return self._many(dialect), {"rows": as_json(rows)}

    @functools.cache
    def _one(self) -> TextClause:
        return self._text(self.sql(self.values()), self.binds())

    def values(self) -> str:
        return "VALUES (" + ", ".join(f":{name}" for name in self.columns) + ")"

    def binds(self) -> list:
        return [bindparam(name, type_=self.table.c[name].type) for name in self.columns]

    @functools.cache
    def _many(self, dialect: str) -> TextClause:
        return self._text(self.sql(self._many_source(dialect)), [])

    def _many_source(self, dialect: str) -> str:
        names = ", ".join(self.columns)
        if dialect == "postgresql":
            return f"SELECT {names} FROM {self.records('rows')}"
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of a join
        return ("SELECT " + ", ".join(f"json_extract(value, '$.{name}')" for name in self.columns)
                + " FROM json_each(:rows) WHERE true")

    def records(self, parameter: str, alias: str = "r") -> str:
        """PostgreSQL: the rows of the JSON parameter `parameter` (see `many`) as a table."""
        record = ", ".join(f"{name} {self.table.c[name].type.compile(dialect=postgresql.dialect())}"
                           for name in self.columns)
        return f"jsonb_to_recordset(CAST(:{parameter} AS jsonb)) AS {alias}({record})"

    def sql(self, source: str) -> str:
        target = f"({', '.join(self.conflict)})" + (f" WHERE {self.where}" if self.where else "")
        sql = f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) {source} ON CONFLICT {target} {self.action}"
        return sql + (f" RETURNING {', '.join(self.returning)}" if self.returning else "")

    def _text(self, sql: str, binds: list) -> TextClause:
        stmt = text(sql).bindparams(*binds)
        return stmt.columns(*(self.table.c[name] for name in self.returning)) if self.returning else stmt


def as_json(rows: list[dict]) -> str:
    """Rows as the one JSON parameter of `Upsert.many` (UUIDs as 32 hex digits)."""
    return json.dumps([{name: value.hex if isinstance(value, uuid.UUID) else value for name, value in row.items()}
                       for row in rows])
