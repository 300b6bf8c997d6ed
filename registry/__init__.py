"""Furusato Registry: the national system behind ふるさと住民登録."""
from flask import Flask, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config, check_settings, from_environment
from registry.common.replica import configure_replica
from registry.errors import Problem
from registry.extensions import api, babel, configure_password_hasher, csrf, db, limiter, login_manager, migrate
from registry.operations import init_operations

API_PREFIX = "/api/v1"
# Pages load scripts, styles and images only from the service itself and are never framed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


class RegistryApp(Flask):
    def dispatch_request(self):
        """One commit point per request: after the view returns; any exception rolls back
        (the session is removed at teardown) and reaches the problem+json handlers."""
        try:
            rv = super().dispatch_request()
        except Problem as problem:
            if problem.keep_changes:
                db.session.commit()
            raise
        db.session.commit()
        return rv


def create_app(config: type[Config] | None = None, overrides: dict | None = None) -> Flask:
    app = RegistryApp(__name__, instance_relative_config=True)
    settings = config or from_environment()
    app.config.from_object(settings)
    app.config.update(overrides or {})
    check_settings(settings, app.config)  # SettingsError naming every unsafe or unusable setting
    if app.config.get("SITE_URL"):
        app.config["SITE_URL"] = app.config["SITE_URL"].rstrip("/")
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **settings.engine_options(app.config["SQLALCHEMY_DATABASE_URI"]),
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    configure_replica(app)
    from registry.evidence.files import check_store
    check_store(app.config)  # EVIDENCE_STORE: well formed, and its bucket exists
    # No instance/ folder is made here: what uses one makes it (the SQLite file, the development
    # signing key, uploads without UPLOAD_DIR), and production runs from a read-only release.

    init_operations(app)  # logs, request ids and metrics: first, so their hooks run first
    register_extensions(app)
    register_blueprints(app)
    register_errors(app)
    register_commands(app)
    register_headers(app)
    trust_proxies(app)
    return app


def trust_proxies(app: Flask) -> None:
    """Behind `PROXY_HOPS` reverse proxies, the client's address, scheme and host are what the
    nearest of them put in X-Forwarded-For/-Proto/-Host (werkzeug's ProxyFix takes that many entries
    from the right, so a client cannot forge past them); with 0 the headers are ignored. ProxyFix
    keeps the peer's own values in `environ["werkzeug.proxy_fix.orig"]` (registry.common.auth)."""
    hops = app.config["PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def select_locale() -> str:
    from flask import current_app
    languages = current_app.config["LANGUAGES"]
    asked = request.args.get("lang")
    if asked in languages:
        if not request.path.startswith(API_PREFIX):
            session["lang"] = asked  # the pages remember the reader's choice
        return asked
    if session.get("lang") in languages and not request.path.startswith(API_PREFIX):
        return session["lang"]
    g.locale_from_accept_language = True  # the response varies with Accept-Language (register_headers)
    return request.accept_languages.best_match(languages, default=languages[0])


def register_extensions(app: Flask) -> None:
    from registry import models  # noqa: F401  every model, for Alembic and create_all
    from registry.accounts.login import init_login
    from registry.common.database import init_database
    from registry.common.replica import init_replica
    from registry.evidence.service import subscribe as keep_evidence
    from registry.figures.funnel import subscribe as keep_funnel
    from registry.emergencies.ties import provide_rules as emergency_rules
    from registry.figures.ledger import subscribe as keep_figures

    db.init_app(app)
    init_database(app)
    init_replica(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    init_login(login_manager)
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    from config import ratelimit_storage_options
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", ratelimit_storage_options(app.config["RATELIMIT_STORAGE_URI"]))
    limiter.init_app(app)
    configure_password_hasher(app.config)
    api.init_app(app)
    keep_figures()  # the figures follow every registration change (registry/registrations/events.py)
    keep_funnel()  # the relationship funnel follows registrations, applications and evidence
    keep_evidence()  # evidence waiting for review leaves the queue when its registration ends
    emergency_rules()  # proxies act for stricken 団体, whose needs may be urgent (registry/organizations/acting.py)


def register_blueprints(app: Flask) -> None:
    from registry import health
    from registry.accounts.api import blp as accounts
    from registry.audit.api import blp as audit
    from registry.announcements.api import blp as announcements
    from registry.benefits.api import blp as benefits
    from registry.certificates.api import blp as certificates
    from registry.emergencies.api import blp as emergencies
    from registry.evidence.api import blp as evidence
    from registry.figures.api import blp as figures
    from registry.hosts.api import blp as hosts
    from registry.invitations.api import blp as invitations
    from registry.needs.api import blp as needs
    from registry.notifications.api import blp as notifications
    from registry.opendata.api import blp as open_data, files as open_data_files
    from registry.organizations.api import blp as organizations
    from registry.partners.api import blp as partners
    from registry.partners.oauth import blp as oauth
    from registry.registrations.api import blp as registrations

    for blueprint in (accounts, organizations, registrations, figures, certificates, needs, announcements,
                      evidence, benefits, notifications, hosts, audit, invitations, emergencies, partners, open_data):
        api.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(health.blp)
    app.register_blueprint(oauth)  # /oauth/token, /oauth/revoke at the site root
    app.register_blueprint(open_data_files)  # /open-data/<release>/<file> at the site root
    health.register_docs_assets(app, API_PREFIX)

    from registry.pages import auth, dashboard, emergencies as emergency_pages, hosts as host_pages, needs as need_pages
    from registry.pages import oauth as oauth_pages, opendata as open_data_pages, public, resident, staff
    from registry.pages.labels import template_helpers
    for module in (public, auth, resident, need_pages, staff, host_pages, dashboard, emergency_pages, oauth_pages,
                   open_data_pages):
        app.register_blueprint(module.blp)
    app.context_processor(template_helpers)


def register_errors(app: Flask) -> None:
    from registry.errors import register_error_handlers
    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    from registry.accounts.cli import create_user_command
    from registry.demo.cli import seed_demo_command
    from registry.emergencies.cli import emergency_status_command
    from registry.evidence.cli import sweep_uploads_command
    from registry.figures.cli import lapse_premiums_command, rebuild_counts_command, verify_counts_command
    from registry.invitations.cli import import_roster_command
    from registry.notifications.cli import send_notifications_command
    from registry.opendata.cli import publish_open_data_command
    from registry.organizations.cli import load_reference_data_command
    from registry.partners.cli import create_partner_command

    for command in (create_user_command, load_reference_data_command, verify_counts_command, rebuild_counts_command,
                    lapse_premiums_command, seed_demo_command, send_notifications_command, sweep_uploads_command,
                    import_roster_command, emergency_status_command, create_partner_command,
                    publish_open_data_command):
        app.cli.add_command(command)


def register_headers(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if g.get("locale_from_accept_language"):
            response.vary.add("Accept-Language")  # a cache must not give one language's answer to another
        return response
