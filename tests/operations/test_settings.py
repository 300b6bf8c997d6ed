"""Production refuses the settings that only suit a developer's machine, naming each of them, before it
serves or runs a task (API.md "Past one machine"); development and the tests need none of them."""
import os
import secrets
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from config import (
    CONFIGS, Config, DevelopmentConfig, ProductionConfig, SettingsError, TestingConfig, check_settings,
)
from registry import create_app
from registry.certificates.keys import CertificateKey
from tests.operations.serving import (
    CONFIG, ROOT, SITE_URL, UNSET, free_port, production, production_settings, served_environment,
)

POSTGRES = "postgresql+psycopg://registry:secret@db.internal:5432/registry"


def good() -> dict:
    """Production settings as create_app reads them, every one acceptable."""
    return {"SITE_URL": SITE_URL, "SQLALCHEMY_DATABASE_URI": POSTGRES, "SECRET_KEY": secrets.token_urlsafe(48),
            "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode(), "PROXY_HOPS": 1}


def problems(**changes) -> list[str]:
    """With a shared rate limit store, as production with several workers needs (test_shared_limits.py)."""
    return ProductionConfig.problems({**good(), "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0", **changes})


def test_good_production_settings_pass():
    assert problems() == []
    assert problems(RATELIMIT_STORAGE_URI="memory://")[0].startswith("RATELIMIT_STORAGE_URI must name a shared store")
    assert problems(SITE_URL="https://furusato.example.jp/") == []  # a trailing slash is the origin
    assert problems(SECRET_KEY="鍵" * 11) == []  # 33 bytes: bytes count, not characters
    assert problems(CERTIFICATE_SIGNING_KEY=good()["CERTIFICATE_SIGNING_KEY"].replace("\n", "\\n")) == []


@pytest.mark.parametrize("name, value, says", [
    ("SITE_URL", None, "SITE_URL: not set"),
    ("SITE_URL", "", "SITE_URL: not set"),
    ("SITE_URL", "http://furusato.example.jp", "is not https://"),
    ("SITE_URL", "https://furusato.example.jp/registry", "is not an origin"),
    ("SITE_URL", "furusato.example.jp", "is not an origin"),
    ("SQLALCHEMY_DATABASE_URI", "", "DATABASE_URL: not set"),
    ("SQLALCHEMY_DATABASE_URI", "sqlite:///registry.db", "DATABASE_URL: sqlite is not PostgreSQL"),
    ("SECRET_KEY", "", "SECRET_KEY: not set, or the default"),
    ("SECRET_KEY", "dev-only-secret-change-me", "SECRET_KEY: not set, or the default"),
    ("SECRET_KEY", "testing-secret", "SECRET_KEY: not set, or the default"),
    ("SECRET_KEY", "x" * 31, "SECRET_KEY: 31 bytes, under 32"),
    ("SECRET_KEY", "鍵" * 10, "SECRET_KEY: 30 bytes, under 32"),
    ("CERTIFICATE_SIGNING_KEY", None, "CERTIFICATE_SIGNING_KEY: not set"),
    ("CERTIFICATE_SIGNING_KEY", "not a key", "CERTIFICATE_SIGNING_KEY: the value is not an unencrypted PEM"),
    ("PROXY_HOPS", "two", "PROXY_HOPS: 'two' is not a whole number"),
    ("PROXY_HOPS", -1, "PROXY_HOPS: -1 is not a whole number"),
])
def test_each_unsafe_setting_is_named(name, value, says):
    [problem] = problems(**{name: value})
    assert says in problem


def test_a_signing_key_must_be_ed25519():
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    [problem] = problems(CERTIFICATE_SIGNING_KEY=other)
    assert problem == "CERTIFICATE_SIGNING_KEY: the value must be an Ed25519 private key"


def test_every_unsafe_setting_in_one_refusal():
    with pytest.raises(SettingsError) as refused:
        create_app(ProductionConfig, {"SITE_URL": None, "SQLALCHEMY_DATABASE_URI": "sqlite:///registry.db",
                                      "SECRET_KEY": "dev-only-secret-change-me", "CERTIFICATE_SIGNING_KEY": None})
    message = str(refused.value)
    assert message.startswith("refusing to start with these settings (REGISTRY_ENV=production):")
    for name in ("SITE_URL", "DATABASE_URL", "SECRET_KEY", "CERTIFICATE_SIGNING_KEY"):
        assert f"\n  {name}: " in message


def test_production_starts_with_good_settings(app, monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "1")  # one worker may count its rate limits in memory
    try:
        produced = create_app(ProductionConfig, good())  # nothing connects to the database yet
    finally:  # the limiter is one object shared by every app: the session's own store comes back
        create_app(TestingConfig, {key: app.config[key] for key in (
            "SQLALCHEMY_DATABASE_URI", "CERTIFICATE_SIGNING_KEY", "UPLOAD_DIR", "RATELIMIT_STORAGE_URI")})
    app = produced
    assert app.config["PROXY_HOPS"] == 1 and app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SITE_URL"] == SITE_URL


def test_development_and_testing_need_no_new_setting(monkeypatch):
    """`make run` and the tests start with nothing set: their own defaults pass their checks."""
    for settings in (DevelopmentConfig, TestingConfig):
        config = {name: getattr(settings, name) for name in dir(settings) if name.isupper()}
        assert settings.problems(config) == []
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    out = subprocess.run([sys.executable, "-c", "from config import DevelopmentConfig as C; "
                          "print(C.SITE_URL, C.PROXY_HOPS, C.SQLALCHEMY_DATABASE_URI)"],
                         cwd=ROOT, env={**env, "PORT": "5123"}, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["http://127.0.0.1:5123", "0", "sqlite:///registry.db"]


def test_settings_that_cannot_work_anywhere_stop_development_too():
    with pytest.raises(SettingsError, match="PROXY_HOPS"):
        check_settings(DevelopmentConfig, {"PROXY_HOPS": "1.5", "SITE_URL": "http://127.0.0.1:5000"})
    with pytest.raises(SettingsError, match="SITE_URL"):
        create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://", "SITE_URL": "http://localhost:5000/x"})
    assert set(CONFIGS.values()) <= {DevelopmentConfig, TestingConfig, ProductionConfig} and issubclass(
        ProductionConfig, Config)


# --- the processes an operator starts -------------------------------------------------------------------

def _environment(tmp_path, **settings) -> dict:
    """A production environment with every setting good, then `settings` (None: unset)."""
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    env.update(production_settings(POSTGRES), UPLOAD_DIR=str(tmp_path / "uploads"))
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


# One process per setting (the unit tests above go through every way of getting each wrong).
MISSING = [("SITE_URL", {"SITE_URL": None}), ("DATABASE_URL", {"DATABASE_URL": None}),
           ("SECRET_KEY", {"SECRET_KEY": "short"}), ("CERTIFICATE_SIGNING_KEY", {"CERTIFICATE_SIGNING_KEY": None})]


@pytest.mark.slow
@pytest.mark.parametrize("name, settings", MISSING, ids=[f"{n}-{i}" for i, (n, _) in enumerate(MISSING)])
def test_a_task_refuses_to_run_naming_the_setting(tmp_path, name, settings):
    """What cron runs: without the setting the task stops at once, exit 1, the setting named, no
    traceback, and no SQLite file made to fall back on."""
    env = _environment(tmp_path, **settings)
    before = set((ROOT / "instance").glob("*")) if (ROOT / "instance").is_dir() else set()
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    result = subprocess.run([flask, "--app", "wsgi", "send-notifications"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert f"  {name}: " in result.stderr and "REGISTRY_ENV=production" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    after = set((ROOT / "instance").glob("*")) if (ROOT / "instance").is_dir() else set()
    assert after == before


@pytest.mark.slow
def test_gunicorn_refuses_to_start_naming_the_setting(tmp_path):
    env = _environment(tmp_path, SITE_URL=None, SECRET_KEY="dev-only-secret-change-me",
                       BIND=f"127.0.0.1:{free_port()}", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "wsgi:app"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "  SITE_URL: not set" in result.stderr and "  SECRET_KEY: not set, or the default" in result.stderr
    assert "Booting worker" not in result.stderr


TASK = ROOT / "scripts" / "registry-task.sh"


def _environment_file(path, env: dict, names) -> None:
    """As deploy/registry.env.example writes it: NAME=value, single quotes around anything else than
    plain characters, the PEM on one line with its breaks written \\n."""
    lines = []
    for name in names:
        value = env[name].replace("\n", "\\n") if name in env else None
        if value is None:
            continue
        plain = all(c.isalnum() or c in "-_.:/@+%=," for c in value)
        lines.append(f"{name}={value}" if plain else f"{name}='{value}'")
    path.write_text("# written by the test\n" + "\n".join(lines) + "\n")


SETTING_NAMES = ("REGISTRY_ENV", "SITE_URL", "DATABASE_URL", "SECRET_KEY", "CERTIFICATE_SIGNING_KEY", "UPLOAD_DIR",
                 "MAIL_FROM", "RATELIMIT_STORAGE_URI")


@pytest.mark.slow
def test_the_cron_wrapper_refuses_an_environment_file_without_the_database(tmp_path):
    env = _environment(tmp_path, DATABASE_URL=None)
    _environment_file(tmp_path / "registry.env", env, SETTING_NAMES)
    bare = {name: value for name, value in os.environ.items() if name not in UNSET}
    result = subprocess.run([str(TASK), str(tmp_path / "registry.env"), "send-notifications"], env=bare,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "  DATABASE_URL: not set" in result.stderr, result.stderr

    (tmp_path / "empty.env").write_text("# REGISTRY_ENV forgotten\nSITE_URL=https://furusato.example.jp\n")
    result = subprocess.run([str(TASK), str(tmp_path / "empty.env"), "send-notifications"], env=bare,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "does not set REGISTRY_ENV" in result.stderr
    result = subprocess.run([str(TASK), str(tmp_path / "absent.env"), "send-notifications"], env=bare,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "cannot read" in result.stderr


@pytest.mark.slow
@pytest.mark.committing
def test_the_cron_wrapper_runs_a_task_with_the_environment_file(tmp_path):
    """The whole production environment from the file, the multi-line key and a value with spaces
    included, through sh as cron runs it (PostgreSQL: production refuses SQLite)."""
    if not production():
        pytest.skip("production needs PostgreSQL")
    env = served_environment(tmp_path, MAIL_FROM="ふるさと住民登録 <no-reply@furusato.example.jp>")
    _environment_file(tmp_path / "registry.env", env, SETTING_NAMES)
    assert "CERTIFICATE_SIGNING_KEY='-----BEGIN PRIVATE KEY-----\\n" in (tmp_path / "registry.env").read_text()
    bare = {name: value for name, value in os.environ.items() if name not in UNSET}
    result = subprocess.run([str(TASK), str(tmp_path / "registry.env"), "send-notifications"], env=bare,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("reminders: ") and "SMTP_URL is not set" in result.stdout
