"""Every error leaves as application/problem+json with a stable `code` (API.md "Conventions").

Services raise `Problem(status, code, detail)`; the handlers below turn it, HTTP errors, database
outages and anything unexpected into the same shape, with the title in the caller's language.
"""
import logging
import math
import time

from flask import Response, current_app, has_request_context, json, render_template, request
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from registry.i18n import translate

log = logging.getLogger(__name__)

TITLES = {
    "validation_error": _l("The input is not valid."),
    "invalid_json": _l("The request body is not valid JSON."),
    "bad_request": _l("The request is not valid."),
    "unauthorized": _l("Sign-in is required."),
    "invalid_credentials": _l("The e-mail address or password is wrong."),
    "forbidden": _l("You may not do this."),
    "not_found": _l("Not found."),
    "method_not_allowed": _l("This method is not allowed here."),
    "email_taken": _l("This e-mail address is already registered."),
    "invalid_state": _l("This action does not fit the current status."),
    "payload_too_large": _l("The request body is too large."),
    "unsupported_media_type": _l("This content type is not accepted."),
    "not_acceptable": _l("This response format is not available."),
    "rate_limited": _l("Too many requests. Please wait and try again."),
    "database_unavailable": _l("The service is temporarily unavailable. Please try again shortly."),
    "storage_unavailable": _l("Files cannot be stored or read right now. Please try again shortly."),
    "internal_error": _l("Something went wrong on our side."),
    "unknown_organization": _l("No such local government (団体)."),
    "guardian_consent_required": _l("A guardian's consent is required for people under 16."),
    "invalid_token": _l("This link or token is invalid or has expired."),
    "age_restricted": _l("This is not available at your age."),
    "home_municipality": _l("You cannot register with the place where you live."),
    "already_registered": _l("You are already registered there."),
    "premium_requirements": _l("Premium needs 3 designated activities in the last 12 months."),
    "premium_limit": _l("You already have the maximum number of premium registrations."),
    "identity_unverified": _l("Premium needs a verified identity."),
    "renewal_not_open": _l("Renewal is not open yet."),
    "need_full": _l("Every place of this need is taken."),
    "need_closed": _l("This need is not taking applications."),
    "already_applied": _l("You have already applied to this need."),
    "unsupported_file": _l("This file type is not accepted: send a PDF, JPEG or PNG."),
    "not_in_progress": _l("This need is not taking place right now."),
    "invalid_check_in": _l("This check-in code is wrong or has expired."),
    "not_accepted": _l("You have no accepted application to this need."),
    "already_checked_in": _l("You have already checked in."),
    "not_registered": _l("The person has no active registration with this 団体."),
}

# HTTP errors raised outside our services (routing, webargs, werkzeug) get these codes.
HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "invalid_state",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 503: "database_unavailable",
}


PROBLEM_MEDIA_TYPE = "application/problem+json"
ERROR_CODES = sorted(set(TITLES) | set(HTTP_CODES.values()))


class ProblemSchema(Schema):
    """What `problem_response` writes, for the OpenAPI document (never used to dump)."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"description": "In the caller's language."})
    status = fields.Integer(required=True, metadata={"description": "The HTTP status."})
    detail = fields.String(required=True)
    code = fields.String(required=True, validate=validate.OneOf(ERROR_CODES),
                         metadata={"description": "Stable and machine-readable."})
    errors = fields.Dict(metadata={"description": 'Field errors: `{"field": ["message", …]}`.'})


class Problem(Exception):
    """A refusal the client can act on: HTTP status, stable code, optional detail and field errors."""

    def __init__(self, status: int, code: str, detail: str | None = None, *,
                 errors: dict | None = None, headers: dict | None = None, keep_changes: bool = False):
        super().__init__(f"{status} {code}: {detail or ''}")
        self.status, self.code, self.detail = status, code, detail
        self.errors, self.headers = errors, headers or {}
        # A refusal whose bookkeeping must be kept (a failed sign-in counts toward back-off): the
        # request commits what the service flushed before answering.
        self.keep_changes = keep_changes


def not_found(detail: str | None = None) -> Problem:
    return Problem(404, "not_found", detail)


def validation_error(errors: dict) -> Problem:
    return Problem(422, "validation_error", errors=errors)


def _wants_page() -> bool:
    """A browser on a page (not the API): errors come as an HTML page."""
    return has_request_context() and not request.path.startswith("/api/") and request.path not in (
        "/healthz", "/readyz", "/metrics") and request.accept_mimetypes.accept_html


def problem_response(status: int, code: str, detail: str | None = None, *,
                     errors: dict | None = None, headers: dict | None = None) -> Response:
    title = TITLES.get(code)
    if _wants_page():
        html = render_template("pages/error.html", title=str(title) if title else code,
                               detail=translate(detail) if detail else "")
        response = Response(html, status=status, mimetype="text/html")
        response.headers.extend(headers or {})
        return response
    body = {
        "type": "about:blank",
        "title": str(title) if title is not None else code,
        "status": status,
        "detail": translate(detail) if detail is not None else (str(title) if title is not None else code),
        "code": code,
    }
    if errors is not None:
        body["errors"] = translate_errors(errors)
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def translate_errors(errors):
    """Field messages come from marshmallow in English; show them in the caller's language."""
    if isinstance(errors, dict):
        return {str(k): translate_errors(v) for k, v in errors.items()}
    if isinstance(errors, (list, tuple)):
        return [translate_errors(v) for v in errors]
    return translate(errors) if isinstance(errors, str) else errors


def _flatten_webargs(messages: dict) -> dict:
    """webargs nests field errors by location ({"json": {...}}); clients want the fields."""
    flat: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def http_exception_response(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if error.code == 429:
        headers.setdefault("Retry-After", str(_seconds_until_limit_resets()))
    messages = data.get("errors") or data.get("messages")
    if error.code == 400 and messages and "json" in messages and _is_json_decode(messages["json"]):
        return problem_response(400, "invalid_json", headers=headers)
    code = HTTP_CODES.get(error.code or 500, "internal_error")
    errors = _flatten_webargs(messages) if isinstance(messages, dict) else None
    if error.code == 422 and errors is None:
        errors = {}
    return problem_response(error.code or 500, code, errors=errors, headers=headers)


def _seconds_until_limit_resets() -> int:
    """From the limit that refused this request (the app's Flask-Limiter, looked up on the app so that
    this module stays below registry.extensions)."""
    for limiter in current_app.extensions.get("limiter", ()):
        current = limiter.current_limit
        if current is not None:
            try:
                return max(1, math.ceil(current.reset_at - time.time()))
            except Exception:  # the limit's store went away after refusing (reset_at asks it again)
                log.warning("rate limit store unreachable while answering 429", exc_info=True)
    return 60


def _is_json_decode(messages) -> bool:
    return isinstance(messages, list) and any("Invalid JSON" in str(m) for m in messages)


def register_error_handlers(app) -> None:
    @app.errorhandler(Problem)
    def handle_problem(error: Problem):
        return problem_response(error.status, error.code, error.detail,
                                errors=error.errors, headers=error.headers)

    @app.errorhandler(OperationalError)
    def handle_database_down(error):
        log.warning("database unavailable: %s", error.orig if hasattr(error, "orig") else error)
        return problem_response(503, "database_unavailable", headers={"Retry-After": "5"})

    @app.errorhandler(PoolTimeout)
    def handle_pool_exhausted(error):
        log.warning("no free database connection: %s", error)
        return problem_response(503, "database_unavailable", headers={"Retry-After": "5"})

    @app.errorhandler(DBAPIError)
    def handle_dbapi(error: DBAPIError):
        if error.connection_invalidated:
            return problem_response(503, "database_unavailable", headers={"Retry-After": "5"})
        log.exception("database error")
        return problem_response(500, "internal_error")

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        if isinstance(error, HTTPException):  # pages blueprints without smorest's handler
            return http_exception_response(error)
        log.exception("unhandled error")
        return problem_response(500, "internal_error")
