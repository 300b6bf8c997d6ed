"""Settings classes, read from the environment.

`create_app()` picks one by `REGISTRY_ENV` (`development`, the default, `testing` or `production`);
tests pass a class or a mapping of overrides directly. Before anything else, `check_settings` asks the
class for its `problems()` with the resulting settings and refuses to start on any, naming each
setting: production refuses the settings that only suit a developer's machine (README "Production").
"""
import os
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from sqlalchemy.engine import make_url

# Secrets written in this source: public, so never a production SECRET_KEY.
SOURCE_SECRET_KEYS = frozenset({"dev-only-secret-change-me", "testing-secret"})
MIN_SECRET_KEY_BYTES = 32


class SettingsError(RuntimeError):
    """The settings cannot (or must not) run: the message names every setting at fault."""


def database_url(raw: str | None, default: str) -> str:
    """Map the URL hosting platforms and HA managers hand out to the driver we ship (psycopg 3).

    A libpq multi-host URI (`postgresql://u:p@h1:5432,h2:5432/db?target_session_attrs=read-write`,
    what pg_auto_failover's `pg_autoctl show uri` prints) becomes SQLAlchemy's form of the same
    (`postgresql+psycopg://u:p@/db?host=h1,h2&port=5432,5432&target_session_attrs=read-write`):
    SQLAlchemy's URL parser takes `h1:5432,h2:5432` for one host. Plain URLs are kept as they are."""
    url = raw or default
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return _query_hosts("postgresql+psycopg://" + url[len(prefix):])
    return url


MAX_DEFAULT_WORKERS = 12


def default_workers() -> int:
    """gunicorn's worker count when WEB_CONCURRENCY is unset: 2 × cores + 1, at most 12."""
    return min(2 * (os.cpu_count() or 1) + 1, MAX_DEFAULT_WORKERS)


def worker_count() -> int:
    """How many processes serve the app: WEB_CONCURRENCY (config/gunicorn.py's setting), else
    gunicorn's default. Anything unreadable counts as several (config/gunicorn.py refuses it)."""
    raw = (os.environ.get("WEB_CONCURRENCY") or "").strip()
    if not raw:
        return default_workers()
    try:
        return int(raw)
    except ValueError:
        return default_workers()


def check_shared_limits(storage_uri: str, enabled: bool, workers: int) -> None:
    """Production: the per-account and per-IP limits hold only when every worker counts in one
    store. memory:// keeps one count per process, so with several workers a limit multiplies."""
    if enabled and workers > 1 and (storage_uri or "memory://").startswith("memory://"):
        raise RuntimeError(
            f"RATELIMIT_STORAGE_URI must name a shared store (redis://host:port/n) in production with "
            f"{workers} workers: memory:// keeps separate counts in each worker (set RATELIMIT_STORAGE_URI, "
            f"or WEB_CONCURRENCY=1)")


def ratelimit_storage_options(uri: str) -> dict:
    """redis-py's settings for a Redis store (create_app sets them unless RATELIMIT_STORAGE_OPTIONS
    does): a Redis that does not answer costs a request about 2 s at most (1 s, and one immediate
    retry, which also replaces a pooled connection that a Redis restart broke), instead of
    redis-py's default of no timeout and three retries with back-off."""
    if not uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return {}
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    return {"socket_connect_timeout": 1, "socket_timeout": 1, "retry": Retry(NoBackoff(), 1)}


def _int_or_text(name: str, default: int) -> int | str:
    """The number in `name`, or its text when it is not one (`problems()` names it then)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        return raw


def _query_hosts(url: str) -> str:
    scheme, rest = url.split("://", 1)
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, hostlist = authority.rpartition("@")
    if "," not in hostlist:
        return url
    hosts, ports = [], []
    for item in hostlist.split(","):
        if item.startswith("["):  # [IPv6]:port
            host, _, port = item[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        if port and not port.isdigit():
            raise ValueError(f"database URL: the port of {item!r} is not a number")
        hosts.append(unquote(host))
        ports.append(port)
    path, question, query = tail.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    if any(name in ("host", "port", "hostaddr") for name, _ in params):
        raise ValueError("database URL: name the hosts either in the authority or in ?host=, not both")
    params = [("host", ",".join(hosts))] + ([("port", ",".join(ports))] if any(ports) else []) + params
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe=',:')}" for name, value in params)
    return f"{scheme}://{userinfo}{at}{path or '/'}?{query}"


def database_hosts(url: str) -> int:
    """How many hosts a (mapped) database URL names: libpq tries them in turn."""
    host = make_url(url).query.get("host")
    if isinstance(host, (tuple, list)):
        return len(host)
    return len(host.split(",")) if host else 1


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-secret-change-me")
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host (werkzeug's
    # ProxyFix trusts that many entries; 0: the headers are ignored and the peer is the client).
    PROXY_HOPS = _int_or_text("PROXY_HOPS", 0)
    # A relative SQLite path lives under the app's instance/ folder (Flask-SQLAlchemy 3).
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"), "sqlite:///registry.db")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # Optional streaming replica of DATABASE_URL for the figures (registry/common/replica.py); unset: none.
    DATABASE_REPLICA_URL = database_url(os.environ.get("DATABASE_REPLICA_URL"), "") or None
    PORT = int(os.environ.get("PORT", "5000"))

    # Figures: breakdown cells under this are published as null.
    MIN_CELL = int(os.environ.get("MIN_CELL", "10"))
    # Premium rules (DESIGN.md, API.md "Configuration").
    PREMIUM_LIMIT = int(os.environ.get("PREMIUM_LIMIT", "3"))
    PREMIUM_ACTIVITIES_REQUIRED = int(os.environ.get("PREMIUM_ACTIVITIES_REQUIRED", "3"))
    CERTIFICATE_TTL_HOURS = int(os.environ.get("CERTIFICATE_TTL_HOURS", "24"))
    # PEM of the Ed25519 private key that signs certificates; unset: one is generated once and kept
    # in <instance>/certificate_signing_key.pem (mode 0600). Every host behind one site needs the same.
    CERTIFICATE_SIGNING_KEY = os.environ.get("CERTIFICATE_SIGNING_KEY") or None
    # Bearer tokens expire; a client logs in again.
    TOKEN_TTL_DAYS = int(os.environ.get("TOKEN_TTL_DAYS", "30"))
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    # redis://host:port/n shares the counts among every worker and host; production with more than one
    # worker refuses memory:// (ProductionConfig.check). Redis unreachable: each process counts in its
    # own memory meanwhile (a logged warning) and returns to Redis by itself once it answers again,
    # checked with back-off (1, 2, 4 … 32 s); ratelimit_storage_options keeps a hung Redis from
    # holding requests.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = False  # Retry-After is set by registry.errors, whatever refused
    # Partners (registry.partners): calls per partner (its client id) to /api/v1/partner/*, and to
    # /oauth/token and /oauth/revoke (flask-limiter's notation).
    PARTNER_RATE_LIMIT = os.environ.get("PARTNER_RATE_LIMIT", "1200/minute")
    PARTNER_TOKEN_RATE_LIMIT = os.environ.get("PARTNER_TOKEN_RATE_LIMIT", "600/minute")
    # Failed sign-ins per e-mail address before back-off starts (then 1, 2, 4 … minutes, at most 60).
    LOGIN_FAILURES_BEFORE_BACKOFF = 5

    # argon2id cost (RFC 9106 second recommended option); tests lower it.
    # Each sign-up, sign-in and password set costs one hash: about 250 ms of CPU at these settings
    # (docs/scaling.md sizes the launch with it). Existing hashes keep their own parameters.
    ARGON2_TIME_COST = int(os.environ.get("ARGON2_TIME_COST", "3"))
    ARGON2_MEMORY_COST = int(os.environ.get("ARGON2_MEMORY_KIB", str(64 * 1024)))
    ARGON2_PARALLELISM = int(os.environ.get("ARGON2_PARALLELISM", "4"))

    MAX_CONTENT_LENGTH = 6 * 1024 * 1024  # any body over 6 MB is 413

    # Evidence files (PDF, JPEG, PNG) live here, outside the database; unset: <instance>/uploads.
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR") or None
    # s3://bucket/prefix: evidence files in an S3-compatible object store instead (every app host
    # serves the same files); S3_ENDPOINT_URL for a store other than AWS. Credentials: the AWS_* pair
    # below, else boto3's own chain (instance role, ~/.aws); region AWS_REGION/AWS_DEFAULT_REGION.
    EVIDENCE_STORE = os.environ.get("EVIDENCE_STORE") or None
    S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None
    AWS_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID") or None
    AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY") or None
    AWS_REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # E-mail: smtp://[user:password@]host[:port] (smtp+starttls://, smtps:// for TLS); unset: no e-mail.
    SMTP_URL = os.environ.get("SMTP_URL") or None
    SMTP_TIMEOUT = float(os.environ.get("SMTP_TIMEOUT", "30"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "ふるさと住民登録 <no-reply@localhost>")
    # The site's public origin: every absolute link (e-mails, certificate and check-in QR codes, the
    # API's Link headers) starts with it, whatever Host the request named.
    SITE_URL = os.environ.get("SITE_URL") or f"http://127.0.0.1:{PORT}"
    JSON_SORT_KEYS = False

    # Operations (README "Operations"): who may read /readyz and /metrics (CIDR list; anyone else
    # gets 404), and the logs: `json` (one object per line, production's default) or `text`.
    METRICS_ALLOWED_NETWORKS = os.environ.get(
        "METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7")
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()

    # PostgreSQL connection pool, per process (gunicorn runs WEB_CONCURRENCY of them). Behind PgBouncer
    # in transaction mode set DATABASE_PGBOUNCER=true: no server-side prepared statements, since the
    # next transaction may run on another server connection (nothing else here keeps session state).
    DATABASE_POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "10"))
    DATABASE_MAX_OVERFLOW = int(os.environ.get("DATABASE_MAX_OVERFLOW", "10"))
    DATABASE_POOL_RECYCLE = int(os.environ.get("DATABASE_POOL_RECYCLE", "1800"))  # seconds
    # How long a request waits for a free pooled connection before it answers 503 (seconds).
    DATABASE_POOL_TIMEOUT = float(os.environ.get("DATABASE_POOL_TIMEOUT", "5"))
    DATABASE_PGBOUNCER = _bool("DATABASE_PGBOUNCER", False)

    BABEL_DEFAULT_LOCALE = "ja"
    BABEL_DEFAULT_TIMEZONE = "Asia/Tokyo"
    LANGUAGES = ("ja", "en")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    WTF_CSRF_CHECK_DEFAULT = False  # the pages' blueprints call csrf.protect() themselves
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # flask-smorest: the OpenAPI document is generated from the marshmallow schemas.
    API_TITLE = "Furusato Registry API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/api/v1/docs/static/"  # served from the swagger-ui-bundle package

    @classmethod
    def engine_options(cls, uri: str) -> dict:
        if uri.startswith("postgresql"):
            # No pre-ping (it costs a round trip per request). A connection the server closed is
            # found on checkout at no cost (registry/common/database.py: its socket is readable);
            # one that fails during a request is a disconnect: SQLAlchemy drops the whole pool, the
            # request answers 503 at once and the next one connects afresh, to whichever host is the
            # primary (libpq tries the hosts in turn, target_session_attrs=read-write). Connecting
            # waits at most connect_timeout per host, so with several hosts the timeout shrinks to
            # keep the whole try under 10 s (psycopg's floor is 2 s a host). Keepalives and
            # tcp_user_timeout end a connection to a host that vanished without closing it (a dead
            # machine) within about 10 s instead of the kernel's 15 minutes. Each is a default: the
            # same libpq parameter in DATABASE_URL's query (`?tcp_user_timeout=0`) wins.
            defaults = {"connect_timeout": max(2, min(3, 9 // database_hosts(uri))),
                        "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                        "keepalives_count": 2, "tcp_user_timeout": 9000}
            given = make_url(uri).query
            connect_args = {name: value for name, value in defaults.items() if name not in given}
            if cls.DATABASE_PGBOUNCER:
                connect_args["prepare_threshold"] = None  # psycopg 3: never PREPARE on the server
            return {"pool_pre_ping": False, "pool_size": cls.DATABASE_POOL_SIZE,
                    "max_overflow": cls.DATABASE_MAX_OVERFLOW, "pool_recycle": cls.DATABASE_POOL_RECYCLE,
                    "pool_timeout": cls.DATABASE_POOL_TIMEOUT, "connect_args": connect_args,
                    "hide_parameters": True}
        # hide_parameters: a database error's message (and so its log line) shows the SQL without the
        # values bound to it, which are e-mail addresses, names and password hashes.
        return {"connect_args": {"timeout": 15}, "hide_parameters": True}

    @classmethod
    def problems(cls, config: Mapping) -> list[str]:
        """Settings that cannot work in any environment, each as 'NAME: why'."""
        found = []
        hops = config.get("PROXY_HOPS")
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
            found.append(f"PROXY_HOPS: {hops!r} is not a whole number of proxies (0, 1, …)")
        site_url = config.get("SITE_URL")
        if site_url:
            parts = urlsplit(site_url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
                    or parts.query or parts.fragment or parts.username or parts.password:
                found.append(f"SITE_URL: {site_url!r} is not an origin such as https://furusato.example.jp "
                             "(scheme and host, nothing after them)")
        return found


class DevelopmentConfig(Config):
    pass


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-secret"
    SITE_URL = "http://localhost:5000"  # fixed, whatever the developer's environment says
    PROXY_HOPS = 0
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("TEST_DATABASE_URL"), "sqlite:///test.db")
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 8 * 1024
    ARGON2_PARALLELISM = 1
    RATELIMIT_ENABLED = True  # as in production; the tests reset the counts before each test
    DATABASE_REPLICA_URL = None  # the replica tests make their own app (tests/test_replica.py)


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
    # Production has no defaults for these: `problems()` refuses to start without them.
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"), "")
    SITE_URL = os.environ.get("SITE_URL") or None
    PROXY_HOPS = _int_or_text("PROXY_HOPS", 1)  # behind one reverse proxy (docs/operations.md)

    @classmethod
    def problems(cls, config: Mapping) -> list[str]:
        """Besides what cannot work anywhere: what only suits a developer's machine."""
        found = super().problems(config)
        if not config.get("SITE_URL"):
            found.append("SITE_URL: not set; the public origin of every absolute link (e-mails, certificate "
                         "and check-in QR codes), such as https://furusato.example.jp")
        elif urlsplit(config["SITE_URL"]).scheme != "https" and not any(p.startswith("SITE_URL") for p in found):
            found.append(f"SITE_URL: {config['SITE_URL']!r} is not https://; production's cookies are "
                         "Secure and its pages send HSTS")
        uri = config.get("SQLALCHEMY_DATABASE_URI") or ""
        if not uri:
            found.append("DATABASE_URL: not set; production needs PostgreSQL (postgresql://user:password@host/db), "
                         "never the SQLite file under instance/")
        elif not uri.startswith("postgresql"):
            found.append(f"DATABASE_URL: {uri.split(':', 1)[0]} is not PostgreSQL; production needs "
                         "postgresql://user:password@host/db")
        secret = config.get("SECRET_KEY") or ""
        if not secret or secret in SOURCE_SECRET_KEYS:
            found.append("SECRET_KEY: not set, or the default written in the source; set at least "
                         f"{MIN_SECRET_KEY_BYTES} random bytes (python3 -c 'import secrets; print(secrets.token_urlsafe(48))')")
        elif len(secret.encode()) < MIN_SECRET_KEY_BYTES:
            found.append(f"SECRET_KEY: {len(secret.encode())} bytes, under {MIN_SECRET_KEY_BYTES}; set at least "
                         f"{MIN_SECRET_KEY_BYTES} random bytes (python3 -c 'import secrets; print(secrets.token_urlsafe(48))')")
        pem = config.get("CERTIFICATE_SIGNING_KEY")
        if not pem:
            found.append("CERTIFICATE_SIGNING_KEY: not set; every host must sign certificates with the same "
                         "Ed25519 key (PEM), or a certificate one host issued is bad_signature on another "
                         "(docs/operations.md)")
        else:
            from registry.certificates.keys import CertificateKey
            try:
                CertificateKey.from_pem(pem, source="the value")
            except RuntimeError as error:
                found.append(f"CERTIFICATE_SIGNING_KEY: {error}")
        try:
            check_shared_limits(config.get("RATELIMIT_STORAGE_URI") or "memory://",
                                bool(config.get("RATELIMIT_ENABLED", True)), worker_count())
        except RuntimeError as error:
            found.append(str(error))
        return found


CONFIGS = {"development": DevelopmentConfig, "testing": TestingConfig, "production": ProductionConfig}


def check_settings(settings: type[Config], config: Mapping, environment: str | None = None) -> None:
    """Raises SettingsError naming every setting `settings.problems()` finds at fault in `config`."""
    found = settings.problems(config) if hasattr(settings, "problems") else []
    if found:
        environment = environment or next((n for n, c in CONFIGS.items() if c is settings), settings.__name__)
        raise SettingsError(f"refusing to start with these settings (REGISTRY_ENV={environment}):\n"
                            + "\n".join(f"  {problem}" for problem in found))


def from_environment() -> type[Config]:
    name = os.environ.get("REGISTRY_ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"REGISTRY_ENV must be one of {sorted(CONFIGS)}, not {name!r}")
    return CONFIGS[name]
