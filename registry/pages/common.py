"""What every page module shares: CSRF on unsafe methods, reading a form through the API's
schemas, and sign-in for pages (a redirect to /login instead of a 401)."""
from functools import wraps
from urllib.parse import urlparse

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from marshmallow import ValidationError, fields

from registry.common import database
from registry.common.auth import check_form_token
from registry.errors import TITLES, Problem, translate_errors


def page_blueprint(name: str, import_name: str) -> Blueprint:
    blueprint = Blueprint(name, import_name)
    blueprint.before_request(check_form_token)  # 400 without a valid token; nothing changes
    return blueprint


def page_require(*roles: str):
    """Sign-in for pages: anonymous → /login?next=…, another role → 403 page."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth_pages.login", next=request.full_path.rstrip("?")))
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapper.required_roles = roles
        return wrapper

    return decorator


def public_page(view):
    view.required_roles = ()
    return view


def form_values(schema) -> dict:
    """The posted form as the schema's input: lists from repeated names, checkboxes as booleans,
    numbers as numbers (a non-number is left for the schema to refuse). Blank optional inputs are
    left out, so the schema's defaults apply."""
    values = {}
    for name, field in schema.load_fields.items():
        if isinstance(field, fields.List):
            values[name] = [v for v in request.form.getlist(name) if v.strip()]
        elif isinstance(field, fields.Boolean):
            values[name] = request.form.get(name) in ("on", "true", "1", "yes")
        elif name in request.form:
            raw = request.form.get(name, "").strip()
            if raw == "" and not field.required:
                continue
            if isinstance(field, fields.Integer):
                try:
                    raw = int(raw)
                except ValueError:
                    pass
            values[name] = raw
    return values


def load_form(schema, values: dict | None = None) -> dict:
    """The form (or `values` read from it) validated by `schema`, or Problem 422 with field errors."""
    try:
        return schema.load(form_values(schema) if values is None else values)
    except ValidationError as error:
        raise Problem(422, "validation_error", errors=error.messages)


def safe_next(default: str) -> str:
    """Only same-site paths are followed after sign-in."""
    target = request.values.get("next", "")
    parsed = urlparse(target)
    return target if target.startswith("/") and not target.startswith("//") and not parsed.netloc else default


def problem_feedback(problem: Problem) -> tuple[dict, str]:
    """(field → messages, a sentence for the top of the form), in the reader's language. A list's
    or a nested object's messages are shown beside the form's one input for it (`skills`)."""
    field_errors = {name: _messages(value) for name, value in translate_errors(problem.errors or {}).items()}
    title = TITLES.get(problem.code)
    message = translate_errors(problem.detail) if problem.detail else (str(title) if title else problem.code)
    return field_errors, message


def attempt(action):
    """Runs a service call for a page: (result, None), or on a refusal (None, (field errors,
    message)). The call runs in a savepoint (common.database.attempt): a refusal leaves nothing of
    what it flushed, and the request commits the rest once."""
    try:
        return database.attempt(action), None
    except Problem as problem:
        return None, problem_feedback(problem)


def act(action, done: str, to: str):
    """A form's post-redirect-get: run the service call, flash its outcome (with any field's
    message: the form is gone after the redirect), go back to `to`."""
    _result, feedback = attempt(action)
    flash(" ".join(dict.fromkeys([feedback[1], *_messages(feedback[0])])) if feedback else done)
    return redirect(to)


def _messages(errors) -> list[str]:
    """Every message in a (nested) field-errors mapping."""
    if isinstance(errors, dict):
        return [m for value in errors.values() for m in _messages(value)]
    if isinstance(errors, (list, tuple)):
        return [m for value in errors for m in _messages(value)]
    return [str(errors)] if errors else []
