"""The read replica (`DATABASE_REPLICA_URL`): the national figures read from a PostgreSQL streaming
replica; everything else — writes, sign-in, a person's own reads — stays on `DATABASE_URL`.

`@reads_from_replica` on a view (below its `@require`, so sign-in reads the primary: a token minted a
moment ago may not have reached the replica yet) sends the view's reads to the replica. The routing is
SQLAlchemy's "Custom Vertical Partitioning" recipe: `db.session` is a `RoutingSession` whose `get_bind()`
picks the replica engine while the view runs, unless the statement writes or the request has flushed
anything (then the primary, so a request reads its own writes). The replica engine is the bind
`replica` of Flask-SQLAlchemy's `SQLALCHEMY_BINDS`, with the primary's pool settings, and every
transaction on it is read-only, so a write routed there fails loudly even if the URL names a writable
server (a hot standby refuses writes anyway).

A replica that cannot be reached is not an error: the view reads the primary (its figures as of now),
the failure is logged, and the replica rests for `RETRY_SECONDS` before it is tried again (each try
could cost a connect timeout). Replica lag is not an error either: `as_of` says how old the figures are.
"""
import logging
import threading
import time
from datetime import datetime
from functools import wraps

from flask import current_app
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError

from config import database_url
from registry.common.time import utcnow
from registry.extensions import _AS_OF, _WROTE, REPLICA, RoutingSession, db

log = logging.getLogger(__name__)

EXTENSION = "registry.replica"  # app.extensions key of the ReplicaHealth
RETRY_SECONDS = 10

# When the replica's figures are exact as of (read before the figures, so they hold at least this).
# Commits replay in commit order, so the replica holds everything the primary had committed by the last
# replayed commit: pg_last_xact_replay_timestamp(). On a quiet primary that time may be hours old while
# the replica is perfectly current, so when the replica has replayed everything it received and its WAL
# receiver is connected (the primary streams each commit as soon as it is flushed), its figures are as
# current as a read of the primary: as_of is now, short only by what is in flight between the primary's
# commit and the replica's receipt (milliseconds on a healthy link; a read of the primary likewise misses
# a commit in progress). pg_stat_wal_receiver shows a row (its pid) to any role while a receiver runs.
# A server that is not in recovery (a promoted replica) is itself current: now. NULL — behind, and nothing
# replayed since it started — means it cannot date its data: the primary serves instead.
AS_OF_SQL = text("""
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN now()
        WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn()
             AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN now()
        ELSE pg_last_xact_replay_timestamp()
    END
""")


class ReplicaHealth:
    """Whether the replica is worth trying now; shared by the app's threads."""

    def __init__(self):
        self._resting_until = 0.0
        self._lock = threading.Lock()

    def resting(self) -> bool:
        return time.monotonic() < self._resting_until

    def rest(self, reason) -> None:
        with self._lock:
            if not self.resting():
                log.warning("read replica unavailable, the figures read the primary for %ss: %s",
                            RETRY_SECONDS, reason)
            self._resting_until = time.monotonic() + RETRY_SECONDS


def configure_replica(app) -> None:
    """Adds the replica bind from `DATABASE_REPLICA_URL` (before `db.init_app`); refuses a set-up that
    cannot work, at startup rather than on the first figures request."""
    raw = app.config.get("DATABASE_REPLICA_URL")
    if not raw:
        return
    url = database_url(raw, raw)
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        raise RuntimeError("DATABASE_REPLICA_URL is set but DATABASE_URL is not PostgreSQL: a read replica "
                           "is a PostgreSQL streaming replica of a PostgreSQL DATABASE_URL (unset it on SQLite)")
    if not url.startswith("postgresql"):
        raise RuntimeError("DATABASE_REPLICA_URL must be a postgresql:// URL (a streaming replica of DATABASE_URL)")
    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])  # the primary's pool settings
    connect_args = dict(options.get("connect_args", {}))
    connect_args["options"] = f"{connect_args.get('options', '')} -c default_transaction_read_only=on".strip()
    app.config["SQLALCHEMY_BINDS"] = {**(app.config.get("SQLALCHEMY_BINDS") or {}),
                                      REPLICA: {**options, "url": url, "connect_args": connect_args}}


def init_replica(app) -> None:
    """After `db.init_app`: any connection failure of the replica engine rests the replica."""
    if REPLICA not in app.config.get("SQLALCHEMY_BINDS", {}):
        return
    health = app.extensions[EXTENSION] = ReplicaHealth()
    with app.app_context():
        engine = db.engines[REPLICA]

    @event.listens_for(engine, "handle_error")
    def on_error(context):  # also called when connecting fails
        if context.is_disconnect or isinstance(context.sqlalchemy_exception, OperationalError):
            health.rest(context.original_exception)


def reads_from_replica(view):
    """The view's reads go to the replica when one is configured and up; the view must only read
    (on a replica failure half-way, it runs again on the primary)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        session = db.session()
        as_of = _replica_as_of(session)
        if as_of is None:
            return view(*args, **kwargs)
        session.info[_AS_OF] = as_of
        try:
            return view(*args, **kwargs)
        except OperationalError:
            health = current_app.extensions[EXTENSION]
            if not health.resting():
                raise  # the primary failed, not the replica: 503 as everywhere
            session.rollback()
            session.info.pop(_AS_OF, None)
            return view(*args, **kwargs)
        finally:
            session.info.pop(_AS_OF, None)

    return wrapper


def _replica_as_of(session) -> datetime | None:
    """Opens the request's replica transaction and says how current it is; None: read the primary."""
    health = current_app.extensions.get(EXTENSION)
    if health is None or not isinstance(session, RoutingSession) or health.resting():
        return None
    if session.info.get(_WROTE) or session.new or session.dirty or session.deleted:
        return None  # the request reads its own writes
    try:
        as_of = session.execute(AS_OF_SQL, bind_arguments={"bind": session._db.engines[REPLICA]}).scalar_one()
    except DBAPIError as error:
        health.rest(error.orig)
        session.rollback()  # drops the failed replica connection; nothing was written (checked above)
        return None
    if as_of is None:
        log.warning("read replica is behind and cannot date its data yet: the figures read the primary")
    return as_of


def figures_as_of() -> datetime:
    """When the figures this request reads are exact as of: the replica's time inside
    `@reads_from_replica` (AS_OF_SQL), else now (the primary)."""
    return db.session().info.get(_AS_OF) or utcnow()
