"""Engine set-up per database, and the one dialect-specific statement we need (upsert)."""
from sqlalchemy import event
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


def insert_for_upsert(model):
    """An INSERT that takes `.on_conflict_do_update(...)` on both databases."""
    from registry.extensions import db
    return (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(model)
