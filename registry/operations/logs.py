"""Structured logs: one access line per request, and the request id on every line logged meanwhile.

`X-Request-ID` is taken from the request when it is a short token of safe characters (a proxy's or a
client's id, so one request can be followed across systems), otherwise generated, and is echoed on
the response. `LOG_FORMAT=json` (production's default) writes one JSON object per line; `text` is
for people. The access line names the route rule, never the path or query string (ids, tokens), and
the signed-in user only by their opaque account id (never the e-mail address or the token). Every
line written during a request carries the client's address (`client_address`: the peer, or what
`PROXY_HOPS` trusted proxies forwarded). Both formats redact e-mail addresses from the finished line
and write tracebacks without the values a database error quotes (registry/common/redaction.py).
"""
import logging
import re
import time

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import inspect as sa_inspect

from registry.common.ids import new_id
from registry.common.redaction import redact, scrubbed_exception

LOG_FORMATS = ("json", "text")
HANDLER_NAME = "registry"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Probes and scrapes come every few seconds: their lines go out at DEBUG unless they fail.
QUIET_RULES = frozenset({"/healthz", "/readyz", "/metrics"})

access_log = logging.getLogger("registry.access")


class RequestIdFilter(logging.Filter):
    """Stamps every record handled during a request with that request's id and client address."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            if not hasattr(record, "request_id"):
                record.request_id = g.get("request_id")
            if not hasattr(record, "client_address"):
                record.client_address = request.remote_addr
        return True


class _Redacting:
    """Tracebacks without database values, and no e-mail address anywhere in the line."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return scrubbed_exception(ei)

    def format(self, record: logging.LogRecord) -> str:
        cached, record.exc_text = record.exc_text, None  # another handler's unscrubbed text
        try:
            return redact(super().format(record))
        finally:
            record.exc_text = cached


class RedactingJsonFormatter(_Redacting, JsonFormatter):
    pass


class RedactingTextFormatter(_Redacting, logging.Formatter):
    pass


def make_formatter(log_format: str = "text") -> logging.Formatter:
    if log_format == "json":
        return RedactingJsonFormatter("%(levelname)s %(name)s %(message)s", timestamp="time",
                                      rename_fields={"levelname": "level", "name": "logger"})
    return RedactingTextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s %(client_address)s] %(message)s",
                                  defaults={"request_id": "-", "client_address": "-"})


def make_handler(log_format: str, stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream)  # standard error by default
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(log_format: str, level: str | int) -> None:
    """One handler on the root logger (replacing ours from an earlier app, leaving any other)."""
    if log_format not in LOG_FORMATS:
        raise RuntimeError(f"LOG_FORMAT must be one of {LOG_FORMATS}, not {log_format!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    handler = make_handler(log_format)
    handler.set_name(HANDLER_NAME)
    root.addHandler(handler)
    root.setLevel(level)


def incoming_request_id(value: str | None) -> str:
    return value if value and SANE_REQUEST_ID.fullmatch(value) else new_id().hex


def _signed_in_user_id() -> str | None:
    """The account id of the user this request authenticated, if any. Reads what Flask-Login cached
    in `g` rather than `current_user`, which would load the user (a query) on anonymous requests, and
    takes the id from the ORM identity rather than an attribute, which the commit has expired (a
    reload query; none at all for an account erased by this request)."""
    state = sa_inspect(g.get("_login_user"), raiseerr=False)  # None for the anonymous user
    if state is None or state.identity is None:
        return None
    return str(state.identity[0])


def init_request_log(app: Flask) -> None:
    """Registered before every other extension, so the id and the clock start first."""

    @app.before_request
    def start_request_log():
        g.request_started = time.perf_counter()
        g.request_id = incoming_request_id(request.headers.get("X-Request-ID"))

    @app.after_request
    def write_access_line(response):
        request_id = g.get("request_id") or incoming_request_id(None)
        response.headers["X-Request-ID"] = request_id
        rule = request.url_rule.rule if request.url_rule is not None else None
        duration_ms = round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1)
        level = logging.DEBUG if rule in QUIET_RULES and response.status_code < 400 else logging.INFO
        user_id = _signed_in_user_id()
        access_log.log(level, "%s %s %s %.1f ms", request.method, rule or "(no route)", response.status_code,
                       duration_ms, extra={
                           "request_id": request_id, "method": request.method, "route": rule,
                           "status": response.status_code, "duration_ms": duration_ms, "user_id": user_id,
                           "client_address": request.remote_addr})
        return response
