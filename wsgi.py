"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi …`.

Settings that must not run (production without `SITE_URL`, `DATABASE_URL`, …) stop the process with
a message naming each of them and exit status 1, rather than a traceback.
"""
from config import SettingsError
from registry import create_app

try:
    app = create_app()
except SettingsError as error:
    raise SystemExit(f"furusato-registry: {error}") from None
