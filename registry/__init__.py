"""Furusato Registry: the national system behind ふるさと住民登録."""
import os

from flask import Flask, request

from config import Config, from_environment
from registry.extensions import api, babel, configure_password_hasher, db, login_manager, migrate

API_PREFIX = "/api/v1"


class RegistryApp(Flask):
    def dispatch_request(self):
        """One commit point per request: after the view returns; any exception rolls back
        (the session is removed at teardown) and reaches the problem+json handlers."""
        rv = super().dispatch_request()
        db.session.commit()
        return rv


def create_app(config: type[Config] | None = None, overrides: dict | None = None) -> Flask:
    app = RegistryApp(__name__, instance_relative_config=True)
    settings = config or from_environment()
    app.config.from_object(settings)
    app.config.update(overrides or {})
    if hasattr(settings, "check"):
        settings.check()
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **settings.engine_options(app.config["SQLALCHEMY_DATABASE_URI"]),
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    os.makedirs(app.instance_path, exist_ok=True)

    register_extensions(app)
    register_blueprints(app)
    register_errors(app)
    register_commands(app)
    register_headers(app)
    return app


def select_locale() -> str:
    from flask import current_app
    languages = current_app.config["LANGUAGES"]
    asked = request.args.get("lang")
    if asked in languages:
        return asked
    return request.accept_languages.best_match(languages, default=languages[0])


def register_extensions(app: Flask) -> None:
    from registry import models  # noqa: F401  every model, for Alembic and create_all
    from registry.accounts.login import init_login
    from registry.common.database import init_database

    db.init_app(app)
    init_database(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    init_login(login_manager)
    babel.init_app(app, locale_selector=select_locale)
    configure_password_hasher(app.config)
    api.init_app(app)


def register_blueprints(app: Flask) -> None:
    from registry import health
    from registry.accounts.api import blp as accounts
    from registry.certificates.api import blp as certificates
    from registry.figures.api import blp as figures
    from registry.organizations.api import blp as organizations
    from registry.registrations.api import blp as registrations

    for blueprint in (accounts, organizations, registrations, figures, certificates):
        api.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(health.blp)
    health.register_docs_assets(app, API_PREFIX)


def register_errors(app: Flask) -> None:
    from registry.errors import register_error_handlers
    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    from registry.accounts.cli import create_user_command
    from registry.figures.cli import lapse_premiums_command, verify_counts_command
    from registry.organizations.cli import load_reference_data_command

    for command in (create_user_command, load_reference_data_command, verify_counts_command,
                    lapse_premiums_command):
        app.cli.add_command(command)


def register_headers(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
