"""Bulk loading: many rows into tables inside the session's transaction — COPY on PostgreSQL,
batched `executemany` on SQLite. `seed-demo` (registry/demo/) and `import-roster`
(registry/invitations/) load through it; it knows no domain: callers pass their models in.

    bulk = BulkWriter()
    users = bulk.layout(User, constants={"role": "resident", "deactivated_at": None})
    bulk.new_chunk()
    bulk.write(users, [users.row(id=bulk.id(), email=bulk.text(email), …) for …])
    bulk.drain()                 # before reading with the session
    bulk.close()                 # in a finally
    …                            # the caller commits, then:
    analyse(bulk.tables_written)

Columns come from the models' metadata. A layout writes every column of its table, each either a
constant of the load or given by keyword to every `row(...)`: `row` takes exactly the table's other
columns, so a column added to a model that a loader does not give makes `row` raise TypeError naming
it (as does a name the table lacks). A bulk load never leaves a new column to chance — COPY would
write NULL where the ORM writes the column's default.

Two kinds of layout:
- text (`typed=False`, the default): values already in the writer's form, made with its helpers —
  `id()`, `nonce()`, `ts(unix seconds)`, `day(date)`, `tokyo_day(unix seconds)`, `text(s)`,
  `int(n)`, `true`, `false`, `null`. PostgreSQL gets them as COPY's text format, SQLite as stored.
  The cheapest for a loader that makes many values from few (a day's string, a second's clock).
- typed (`typed=True`): Python values — a uuid as its 16 bytes, str, int, bool, an aware datetime, a
  date, a float, JSON as its text — and the layout encodes them by column type: COPY's binary format
  on PostgreSQL (the server then parses no ids, times or JSON: a sixth of its work on a roster's
  rows, measured), the stored form on SQLite.

On PostgreSQL a writer thread runs the COPYs while the caller prepares the next rows (the server's
work and Python's overlap): `write()` only queues; `call(fn)` queues other work for that thread
(statements, `write_now()`s that depend on their results) and returns its future. While the thread
runs an item it holds `lock`: the caller takes it around any use of the session before `drain()`.
On SQLite everything runs at once, in turn.

Foreign keys: `skip_fk_triggers()` turns PostgreSQL's per-row checks off for the transaction when the
role may; `check_references()` then checks every foreign key of the rows written, set-wise, before
the commit, and `restore_fk_triggers()` turns them back on.

Statistics: `analyse(tables)` after the commit, so the first requests after a load are planned for
the tables as they now are (after 200,000 seeded people, recommendations took 79 ms at p50 until
ANALYZE, 23 ms after).
"""
from __future__ import annotations

import functools
import keyword
import os
import queue
import random
import struct
import sys
import threading
import time
import uuid
from concurrent.futures import Future
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import Table, func, literal, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from registry.extensions import db

DAY_S = 86_400
JST = 9 * 3600
BATCH = 2_000  # rows per write to the COPY stream
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


# --- layouts: which columns, from the table's metadata -------------------------------------------------

class Layout:
    """How a load fills one table (see the module docstring): `row(**values)` makes one row of it,
    `columns` names what is written, in that order (the given columns in the table's order, then the
    constants). Made by `BulkWriter.layout()`."""

    def __init__(self, table: Table, constants: Mapping[str, Any], *, typed: bool, dialect, null):
        postgres = dialect.name == "postgresql"
        self.table, self.name, self.typed = table, table.name, typed
        names = [column.name for column in table.columns]
        unknown = sorted(set(constants) - set(names))
        if unknown:
            raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
        for name in names:
            if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
                raise ValueError(f"{table.name}.{name}: a bulk layout needs column names usable as keywords")
        given = [column for column in table.columns if column.name not in constants]
        fixed = [column for column in table.columns if column.name in constants]
        self.given = tuple(column.name for column in given)
        self.columns = self.given + tuple(column.name for column in fixed)
        self.row: Callable[..., Any] = _row_function(table.name, given, fixed, constants, typed=typed,
                                                     postgres=postgres, null=null)
        quote = dialect.identifier_preparer.quote
        column_list = ", ".join(quote(name) for name in self.columns)
        if postgres:
            binary = " (FORMAT BINARY)" if typed else ""
            self.sql = f"COPY {quote(table.name)} ({column_list}) FROM STDIN{binary}"
        else:
            self.sql = f"INSERT INTO {quote(table.name)} ({column_list}) VALUES ({', '.join('?' for _ in self.columns)})"

    def __repr__(self) -> str:
        return f"<Layout {self.name} ({', '.join(self.columns)})>"


# Typed values by the column's type as PostgreSQL's DDL names it: the field of a COPY BINARY row (its
# 4-byte length, then the value as the type's `recv` reads it), and the value as SQLite stores it.
_KINDS = {"UUID": "uuid", "VARCHAR": "text", "CHAR": "text", "TEXT": "text", "INTEGER": "int4",
          "BIGINT": "int8", "SMALLINT": "int2", "BOOLEAN": "bool", "JSONB": "jsonb", "JSON": "text",
          "TIMESTAMP WITH TIME ZONE": "timestamptz", "DATE": "date", "FLOAT": "float8",
          "DOUBLE PRECISION": "float8"}
_BINARY = {
    "uuid": "_U16 + {v}",
    "text": "_L(len(_t := {v}.encode())) + _t",
    "int4": "_I4 + {v}.to_bytes(4, 'big', signed=True)",
    "int8": "_I8 + {v}.to_bytes(8, 'big', signed=True)",
    "int2": "_I2 + {v}.to_bytes(2, 'big', signed=True)",
    "bool": "(_TRUE if {v} else _FALSE)",
    "jsonb": "_L(len(_t := {v}.encode()) + 1) + b'\\x01' + _t",
    "timestamptz": "_I8 + (({v} - _PG_EPOCH) // _MICROSECOND).to_bytes(8, 'big', signed=True)",
    "date": "_I4 + ({v}.toordinal() - _PG_EPOCH_DAY).to_bytes(4, 'big', signed=True)",
    "float8": "_I8 + _DOUBLE({v})",
}
_STORED = {"uuid": "{v}.hex()", "bool": "(1 if {v} else 0)", "timestamptz": "_sqlite_time({v})",
           "date": "{v}.isoformat()"}
_LENGTH = struct.Struct(">i").pack
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_COPY_HEADER, _COPY_TRAILER = b"PGCOPY\n\xff\r\n\x00" + bytes(8), b"\xff\xff"  # signature, no flags, no extension


def _sqlite_time(value: datetime) -> str:
    """A datetime as SQLAlchemy stores a UTCDateTime on SQLite."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a bulk load")
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


_NAMESPACE = {
    "_L": _LENGTH, "_NULL": _LENGTH(-1), "_U16": _LENGTH(16), "_I2": _LENGTH(2), "_I4": _LENGTH(4),
    "_I8": _LENGTH(8), "_TRUE": _LENGTH(1) + b"\x01", "_FALSE": _LENGTH(1) + b"\x00",
    "_PG_EPOCH": _PG_EPOCH, "_PG_EPOCH_DAY": _PG_EPOCH.date().toordinal(),
    "_MICROSECOND": timedelta(microseconds=1), "_DOUBLE": struct.Struct(">d").pack, "_sqlite_time": _sqlite_time,
}


def _kind(column) -> str:
    ddl = column.type.compile(dialect=postgresql.dialect())
    kind = _KINDS.get(ddl.split("(", 1)[0].strip())
    if kind is None:
        raise TypeError(f"{column.table.name}.{column.name}: no typed bulk encoding for {ddl}")
    return kind


def _value_expression(column, name: str, *, postgres: bool) -> str:
    """The Python expression that turns the typed value `name` into what is written."""
    if postgres:
        expression, null = _BINARY[_kind(column)].format(v=name), "_NULL"
    else:
        expression, null = _STORED.get(_kind(column), "{v}").format(v=name), "None"
    if column.nullable and expression != name:
        expression = f"({null} if {name} is None else {expression})"
    return expression


def _row_function(table: str, given: list, fixed: list, constants: Mapping[str, Any], *, typed: bool,
                  postgres: bool, null) -> Callable[..., Any]:
    """`<table>_row(*, <given columns>)`, written out once per layout as collections.namedtuple
    writes its classes: keyword-only parameters named by the metadata (so a missing or unknown column
    is a TypeError naming it), and each value's encoding inline (a function call per value took
    twice as long to encode a roster's users row, measured)."""
    namespace = dict(_NAMESPACE)
    params = ", ".join(column.name for column in given)
    if typed:
        values = [_value_expression(column, column.name, postgres=postgres) for column in given]
        encoded = []
        for column in fixed:  # encoded once, by the same expressions
            value = constants[column.name]
            encoded.append(eval(_value_expression(column, "_value", postgres=postgres), namespace, {"_value": value}))
    else:
        values = [column.name for column in given]
        encoded = [null if constants[column.name] is None else constants[column.name] for column in fixed]
    if typed and postgres:
        namespace["_COUNT"] = (len(given) + len(fixed)).to_bytes(2, "big")
        namespace["_TAIL"] = b"".join(encoded)
        body = f"return b''.join((_COUNT, {', '.join(values)}{', ' if values else ''}_TAIL))"
    else:
        for i, value in enumerate(encoded):
            namespace[f"_K{i}"] = value
        body = f"return ({', '.join(values + [f'_K{i}' for i in range(len(encoded))])},)"
    source = f"def {table}_row({'*, ' + params if params else ''}):\n    {body}\n"
    exec(source, namespace)  # the names are the table's columns, checked by Layout
    return namespace[f"{table}_row"]


# --- the writer ------------------------------------------------------------------------------------------

class _QuickGilHandoffs:
    """A short interpreter switch interval while any writer thread runs. Each time the server
    answers the writer (a statement done, room in the socket for more COPY data), the writer needs
    the GIL back from the planning thread, which keeps it for up to the switch interval (5 ms by
    default) — the server idles meanwhile, for hundreds of answers per run. 0.5 ms cuts that wait."""

    INTERVAL = 0.0005

    def __init__(self):
        self._lock, self._writers, self._saved = threading.Lock(), 0, None

    def enter(self) -> None:
        with self._lock:
            if self._writers == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self.INTERVAL, self._saved))
            self._writers += 1

    def exit(self) -> None:
        with self._lock:
            self._writers -= 1
            if self._writers == 0:
                sys.setswitchinterval(self._saved)


quick_gil_handoffs = _QuickGilHandoffs()


class BulkWriter:
    """Rows into tables inside the session's transaction (see the module docstring).

    `lowest_id` is below every id `id()` made (set by the first `new_chunk()`); `rows_written` and
    `tables_written` (table names, in the order first written) count what was written (a savepoint
    the caller rolls back included)."""

    def __init__(self):
        connection = db.session.connection()
        self.raw = connection.connection.driver_connection
        self.dialect = connection.dialect
        self.postgres = self.dialect.name == "postgresql"
        self.null = "\\N" if self.postgres else None
        self.true, self.false = ("t", "f") if self.postgres else (1, 0)
        self.int = str if self.postgres else int
        self._random = random.Random(os.urandom(16))
        self._ms = ("", "")
        self._days: dict = {}
        self.rows_written = 0
        self.tables_written: dict[str, None] = {}
        self.lowest_id: str | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.lock = threading.Lock()

    def layout(self, model_or_table, constants: Mapping[str, Any] | None = None, *, typed: bool = False) -> Layout:
        """Every column of the model's table, each a constant (None for NULL; in the layout's value
        form) or given to `row()` by keyword."""
        table = getattr(model_or_table, "__table__", model_or_table)
        return Layout(table, constants or {}, typed=typed, dialect=self.dialect, null=self.null)

    # Values of text layouts ------------------------------------------------------------------------

    @functools.cached_property
    def _clock(self) -> list[str]:
        """Each second of a day as `ts()` ends it (built on first use)."""
        suffix = "+00" if self.postgres else ".000000"
        return [f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(DAY_S)]

    def new_chunk(self) -> None:
        """Ids made from now on start with the current millisecond: time-ordered, chunk by chunk."""
        ms = f"{time.time_ns() // 1_000_000:012x}"
        self._ms = (f"{ms[:8]}-{ms[8:]}-7", f"{ms}7")
        if self.lowest_id is None:
            self.lowest_id = f"{ms[:8]}-{ms[8:]}-7000-8000-000000000000" if self.postgres else f"{ms}70008{'0' * 15}"

    def id(self) -> str:
        """A UUID version 7: the chunk's millisecond, then 72 random bits (variant nibble 8)."""
        r = f"{self._random.getrandbits(72):018x}"
        if self.postgres:
            return f"{self._ms[0]}{r[:3]}-8{r[3:6]}-{r[6:]}"
        return f"{self._ms[1]}{r[:3]}8{r[3:]}"

    def nonce(self) -> str:
        return f"{self._random.getrandbits(64):016x}"

    @staticmethod
    def day(d: date) -> str:
        return d.isoformat()

    def ts(self, t: int | None):
        """A Unix time (seconds, UTC) as a UTC timestamp."""
        if t is None:
            return self.null
        days, second = divmod(t, DAY_S)
        day = self._days.get(days)
        if day is None:
            day = self._days[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
        return day + self._clock[second]

    def tokyo_day(self, t: int) -> str:
        """The date in Japan at Unix time `t`."""
        days = (t + JST) // DAY_S
        day = self._days.get(days)
        if day is None:
            day = self._days[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
        return day

    def text(self, s: str | None):
        if s is None:
            return self.null
        if self.postgres and ("\\" in s or "\t" in s or "\n" in s or "\r" in s):
            s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return s

    # Writing ----------------------------------------------------------------------------------------

    def write(self, layout: Layout, rows: list) -> None:
        """The rows into the layout's table: queued for the writer thread on PostgreSQL (same order
        guaranteed), at once on SQLite."""
        if not rows:
            return
        if not self.postgres:
            self.write_now(layout, rows)
            return
        self._enqueue(self.write_now, (layout, rows), None)

    def write_now(self, layout: Layout, rows: list) -> None:
        """The rows in at once, on the calling thread: for work running on the writer thread."""
        if not rows:
            return
        self.rows_written += len(rows)
        self.tables_written[layout.name] = None
        if not self.postgres:
            cursor = self.raw.cursor()
            try:
                cursor.executemany(layout.sql, rows)
            finally:
                cursor.close()
            return
        with self.raw.cursor() as cursor:
            with cursor.copy(layout.sql) as copy:
                if layout.typed:
                    copy.write(_COPY_HEADER)
                    for start in range(0, len(rows), BATCH):
                        copy.write(b"".join(rows[start:start + BATCH]))
                    copy.write(_COPY_TRAILER)
                else:
                    for start in range(0, len(rows), BATCH):
                        copy.write("".join(["\t".join(row) + "\n" for row in rows[start:start + BATCH]]))

    def call(self, fn: Callable, *args) -> Future:
        """`fn(*args)` after everything queued before it: on the writer thread on PostgreSQL, at
        once on SQLite. Its result or error is the future's; an error also stops the items after it."""
        future: Future = Future()
        if self.postgres:
            self._enqueue(fn, args, future)
        else:
            try:
                future.set_result(fn(*args))
            except BaseException as error:
                future.set_exception(error)
        return future

    def drain(self) -> None:
        """Waits until every queued row is in the database; re-raises the writer's error."""
        if self._queue is not None:
            self._queue.join()
        self._raise_error()

    def close(self) -> None:
        """Stops the writer thread (what is queued still runs first). Call it in a `finally`."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = self._queue = None
            quick_gil_handoffs.exit()

    def _enqueue(self, fn: Callable, args: tuple, future: Future | None) -> None:
        if self._thread is None:
            self._queue = queue.Queue(maxsize=8)
            self._thread = threading.Thread(target=self._work_forever, name="bulk-writer", daemon=True)
            quick_gil_handoffs.enter()
            self._thread.start()
        self._raise_error()
        self._queue.put((fn, args, future))

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work_forever(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                fn, args, future = item
                if self._error is not None:  # the transaction failed: nothing after it runs
                    if future is not None:
                        future.set_exception(self._error)
                    continue
                try:
                    with self.lock:
                        result = fn(*args)
                except BaseException as error:  # handed to the caller's thread by drain() or write()
                    self._error = error
                    if future is not None:
                        future.set_exception(error)
                else:
                    if future is not None:
                        future.set_result(result)
            finally:
                self._queue.task_done()


# --- foreign keys and statistics -------------------------------------------------------------------------

def skip_fk_triggers(*, required: bool = False) -> bool:
    """Turns off PostgreSQL's per-row foreign-key triggers for this transaction, if the role may set
    `session_replication_role` (a superuser, or `GRANT SET ON PARAMETER session_replication_role`);
    whether it did. `required` raises instead of answering False.

    Bulk loads do this (pg_restore --disable-triggers): a trigger runs one query per row and
    reference, about two thirds of a seed's load time. The loader then calls `check_references()`,
    which checks every foreign key of the rows written, set-wise, before the transaction can commit
    — the same guarantee, once per table instead of once per row — and `restore_fk_triggers()`.
    """
    if db.session.connection().dialect.name != "postgresql":
        if required:
            raise RuntimeError("foreign-key triggers can be skipped on PostgreSQL only")
        return False
    try:
        with db.session.begin_nested():
            db.session.execute(text("SET LOCAL session_replication_role = replica"))
        return True
    except DBAPIError:
        if required:
            raise
        return False


def restore_fk_triggers() -> None:
    """The per-row foreign-key triggers on again for the rest of the transaction."""
    db.session.execute(text("SET LOCAL session_replication_role = origin"))


def check_references(lowest_id: str | None, tables: Iterable[str], writer: str) -> None:
    """Every foreign key of `tables`, for their rows with a key from `lowest_id` on (a time-ordered
    id the load made; this may include a few rows others wrote meanwhile): the references must
    exist. Raises RuntimeError naming the `writer`, the column and how many rows refer to nothing."""
    if lowest_id is None:
        return
    lowest = uuid.UUID(lowest_id)
    for name in tables:
        table = db.metadata.tables[name]
        key = next(iter(table.primary_key.columns))
        for fk in table.foreign_keys:
            parent, column = fk.column.table, fk.parent
            orphans = db.session.scalar(
                select(func.count()).select_from(table).where(
                    key >= lowest, column.is_not(None),
                    ~select(literal(1)).where(fk.column == column).correlate(table).exists()))
            if orphans:
                raise RuntimeError(f"{writer} wrote {orphans} {name}.{column.name} that refer to no {parent.name} row")


def analyse(tables: Iterable[str]) -> None:
    """ANALYZE `tables` on PostgreSQL, in the session's transaction: fresh planner statistics after a
    bulk load (autovacuum would get there, minutes later; the first requests would be planned for
    the tables as they were). Call it after the load's commit, then commit. SQLite: nothing (its
    planner keeps no statistics unless ANALYZE is run by hand)."""
    names, dialect = list(dict.fromkeys(tables)), db.session.connection().dialect
    if not names or dialect.name != "postgresql":
        return
    quote = dialect.identifier_preparer.quote
    db.session.execute(text("ANALYZE " + ", ".join(quote(name) for name in names)))
