"""Engine set-up per database, and the one dialect-specific statement we need (upsert)."""
import functools
import json
import uuid

from sqlalchemy import Table, TextClause, bindparam, event, text
from sqlalchemy.dialects import postgresql, sqlite


def init_database(app) -> None:
    from registry.extensions import db

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _sqlite_pragmas(engine)


def _sqlite_pragmas(engine) -> None:
    """Foreign keys on, WAL for concurrent readers, and pysqlite's transaction handling replaced by
    SQLAlchemy's (so SAVEPOINT works: SQLAlchemy docs, "Serializable isolation / Savepoints")."""

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
        connection.exec_driver_sql("BEGIN")


def insert_for_upsert(model, dialect: str | None = None):
    """An INSERT that takes `.on_conflict_do_update(...)` on both databases (the app's, unless
    `dialect` names one)."""
    if dialect is None:
        from registry.extensions import db
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
    - `run_many(session, rows, dialect, appended=row)`: executes `many(rows)` and appends one row to
      another table (`appends`), in one round trip on PostgreSQL.
    - `run_many_after(session, rows, dialect, first=upsert, first_row=row)`: `many(rows)` only if
      another upsert's one row went in, in one round trip on PostgreSQL.

        db.session.execute(*COUNTERS.many(rows, db.engine.dialect.name))
    """

    def __init__(self, table: Table, *, conflict: tuple[str, ...], action: str, where: str | None = None,
                 returning: tuple[str, ...] = (), appends: Table | None = None):
        self.table, self.conflict, self.action, self.where = table, conflict, action, where
        self.returning, self.appends = returning, appends
        self.columns = tuple(c.name for c in table.columns)

    def one(self, row: dict) -> tuple[TextClause, dict]:
        return self._one(), row

    def many(self, rows: list[dict], dialect: str) -> tuple[TextClause, dict]:
        as_json = [{name: value.hex if isinstance(value, uuid.UUID) else value for name, value in row.items()}
                   for row in rows]
        return self._many(dialect), {"rows": json.dumps(as_json)}

    def run_many(self, session, rows: list[dict], dialect: str, *, appended: dict) -> None:
        """`many(rows)` and an INSERT of `appended` (every column) into the `appends` table: on
        PostgreSQL one statement, the INSERT in a data-modifying WITH (a round trip less on the
        write path); on SQLite, which has no such WITH, two."""
        if dialect == "postgresql":
            session.execute(self._many_appending(), {"rows": self.many(rows, dialect)[1]["rows"],
                                                     **{f"appended_{k}": v for k, v in appended.items()}})
            return
        session.execute(self.appends.insert(), appended)
        if rows:
            session.execute(*self.many(rows, dialect))

    def run_many_after(self, session, rows: list[dict], dialect: str, *, first: "Upsert", first_row: dict):
        """`first.one(first_row)`, then `many(rows)` only if `first` returned a row (an INSERT …
        DO NOTHING that inserted): `many`'s returned rows, or None when `first` returned none. On
        PostgreSQL one statement (`first` in a data-modifying WITH); on SQLite two. `rows` must not
        be empty (an empty result would be ambiguous)."""
        assert rows and first.returning and "rows" not in first.columns
        if dialect == "postgresql":
            # `many` returns a row per row given, so no rows means `first` inserted nothing.
            return session.execute(self._many_after(first), {**first_row, **self.many(rows, dialect)[1]}).all() or None
        if session.execute(*first.one(first_row)).first() is None:
            return None
        return session.execute(*self.many(rows, dialect)).all()

    @functools.cache
    def _many_appending(self) -> TextClause:
        names = [c.name for c in self.appends.columns]
        prefix = (f"WITH appended AS (INSERT INTO {self.appends.name} ({', '.join(names)}) "
                  f"VALUES ({', '.join(f':appended_{n}' for n in names)})) ")
        return self._text(self._many_source("postgresql"), [
            bindparam(f"appended_{n}", type_=self.appends.c[n].type) for n in names], prefix=prefix)

    @functools.cache
    def _many_after(self, first: "Upsert") -> TextClause:
        return self._text(self._many_source("postgresql") + " WHERE EXISTS (SELECT FROM first)", first._binds(),
                          prefix=f"WITH first AS ({first._sql(first._values())}) ")

    @functools.cache
    def _one(self) -> TextClause:
        return self._text(self._values(), self._binds())

    def _values(self) -> str:
        return "VALUES (" + ", ".join(f":{name}" for name in self.columns) + ")"

    def _binds(self) -> list:
        return [bindparam(name, type_=self.table.c[name].type) for name in self.columns]

    @functools.cache
    def _many(self, dialect: str) -> TextClause:
        return self._text(self._many_source(dialect), [])

    def _many_source(self, dialect: str) -> str:
        names = ", ".join(self.columns)
        if dialect == "postgresql":
            record = ", ".join(f"{name} {self.table.c[name].type.compile(dialect=postgresql.dialect())}"
                               for name in self.columns)
            return f"SELECT {names} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({record})"
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of a join
        return ("SELECT " + ", ".join(f"json_extract(value, '$.{name}')" for name in self.columns)
                + " FROM json_each(:rows) WHERE true")

    def _sql(self, source: str) -> str:
        target = f"({', '.join(self.conflict)})" + (f" WHERE {self.where}" if self.where else "")
        sql = f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) {source} ON CONFLICT {target} {self.action}"
        return sql + (f" RETURNING {', '.join(self.returning)}" if self.returning else "")

    def _text(self, source: str, binds: list, prefix: str = "") -> TextClause:
        stmt = text(prefix + self._sql(source)).bindparams(*binds)
        return stmt.columns(*(self.table.c[name] for name in self.returning)) if self.returning else stmt
