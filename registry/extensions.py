"""Extension singletons, initialised in `create_app`."""
from argon2 import PasswordHasher
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api as _Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from registry.common.replica import RoutingSession

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
    """flask-smorest's Api, answering every HTTP error as problem+json."""

    def handle_http_exception(self, error):
        from registry.errors import http_exception_response
        return http_exception_response(error)


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
