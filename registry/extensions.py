"""Extension singletons, initialised in `create_app`."""
import http

from argon2 import PasswordHasher
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api as _Api
from flask_smorest.utils import prepare_response
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.dml import UpdateBase

from registry.errors import PROBLEM_MEDIA_TYPE, ProblemSchema, http_exception_response


# Stable constraint names, so Alembic can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Api(_Api):
    """flask-smorest's Api, answering every HTTP error as problem+json and documenting it so.

    Each operation lists the error statuses it can answer (registry.common.openapi.Blueprint adds
    the ones its route implies), rather than one catch-all `default` that would document anything."""

    DEFAULT_ERROR_RESPONSE_NAME = None
    # Retry-After is set on every 429 (registry.errors) and every 503 (database unavailable).
    RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "required": True,
                                   "schema": {"type": "integer", "minimum": 1}}}

    def handle_http_exception(self, error):
        return http_exception_response(error)

    def _register_responses(self):
        """One lazily registered response per error status (`NOT_FOUND`, `CONFLICT`, …), the way
        flask-smorest does, but as application/problem+json with the problem schema."""
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": status.phrase, "schema": ProblemSchema}
            if status in (429, 503):
                response["headers"] = self.RETRY_AFTER
            prepare_response(response, self.spec, PROBLEM_MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)


# The read replica's routing (registry/common/replica.py has the rest: when a view reads it).
REPLICA = "replica"  # the bind key in SQLALCHEMY_BINDS
_AS_OF, _WROTE = "replica_as_of", "wrote"  # keys in Session.info (one session per request)


class RoutingSession(Session):
    """Flask-SQLAlchemy's session, reading from the replica inside `@reads_from_replica`."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        # The docs' routing recipe: a flush, or a write statement, goes to the primary, and so does
        # every statement after one (the request reads its own writes).
        if (bind is None and _AS_OF in self.info and not self._flushing and not self.info.get(_WROTE)
                and not isinstance(clause, UpdateBase)):
            return self._db.engines[REPLICA]
        return super().get_bind(mapper, clause=clause, bind=bind, **kwargs)


@event.listens_for(RoutingSession, "after_flush")
def _remember_flush(session, _flush_context):
    session.info[_WROTE] = True  # from here on this request reads the primary (its own writes)


@event.listens_for(RoutingSession, "do_orm_execute")
def _remember_write_statement(state):
    if state.is_insert or state.is_update or state.is_delete:  # runs before get_bind picks the engine
        state.session.info[_WROTE] = True


db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})  # reads the replica where asked
migrate = Migrate()
login_manager = LoginManager()
api = Api()
babel = Babel()
limiter = Limiter(key_func=get_remote_address)  # limits are set per endpoint (registry/common/limits.py)
csrf = CSRFProtect()  # checked by the pages' blueprints only (the API takes no cookies for writes)
password_hasher = PasswordHasher()


def configure_password_hasher(config) -> None:
    global password_hasher
    password_hasher = PasswordHasher(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_COST"],
        parallelism=config["ARGON2_PARALLELISM"],
    )


def get_password_hasher() -> PasswordHasher:
    return password_hasher
