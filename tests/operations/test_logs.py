"""Structured logs: the request id (taken when sane, else made, always echoed), one access line per
request with the route rule and the signed-in account's id, app lines carrying the request id, and
never an e-mail address, a token or a query string."""
import io
import json
import logging
import re

import pytest

from config import TestingConfig
from registry import create_app
from registry.figures import ledger
from registry.operations.logs import configure_logging, make_handler
from tests.operations.conftest import access_lines

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_a_sane_request_id_is_kept_and_echoed(api, log_lines):
    response = api.get("/organizations/212172", headers={"X-Request-ID": "lb-7f3a.9:2"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.9:2"
    [line] = access_lines(log_lines())
    assert line["request_id"] == "lb-7f3a.9:2"


@pytest.mark.parametrize("incoming", ["two words", "x" * 129, "ü-umlaut", "<script>", "a;b", ""])
def test_any_other_request_id_is_replaced(api, log_lines, incoming):
    response = api.get("/organizations/212172", headers={"X-Request-ID": incoming})
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])
    [line] = access_lines(log_lines())
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert incoming not in json.dumps(log_lines()) or incoming == ""


def test_every_response_gets_an_id_even_refusals(api):
    ids = {api.get(path).headers.get("X-Request-ID") for path in ("/healthz", "/me", "/nothing-here")}
    assert None not in ids and len(ids) == 3


def test_access_line_fields(api, log_lines):
    response = api.get("/organizations/212172?lang=en")
    [line] = access_lines(log_lines())
    assert line["level"] == "INFO" and line["time"]
    assert line["method"] == "GET" and line["status"] == 200
    assert line["route"] == "/api/v1/organizations/<string:code>"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["user_id"] is None
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert "212172" not in json.dumps(line) and "lang=en" not in json.dumps(line)


def test_signed_in_user_is_named_by_account_id_only(api, signup, log_lines):
    email = "log-secrets@example.jp"
    user, token = signup(email=email, password="very-secret-pass-1")
    assert api.get("/me", token=token).status_code == 200
    assert api.delete("/me", token=token).status_code == 204  # the user is gone after the commit
    api.get("/certificates/verify?token=SECRET-TOKEN-VALUE")
    api.post("/auth/login", json={"email": email, "password": "very-secret-pass-1"})
    lines = log_lines()
    me, erased = [line for line in access_lines(lines) if line["route"] == "/api/v1/me"]
    assert me["user_id"] == erased["user_id"] == user["id"]
    text = json.dumps(lines)
    for secret in (email, token, "very-secret-pass-1", "SECRET-TOKEN-VALUE"):
        assert secret not in text


def test_app_log_lines_carry_the_request_id(api, signup, log_lines, monkeypatch):
    _, token = signup()

    record = ledger.FigureChange.record

    def broken(self, *args, **kwargs):
        record(self, *args, **kwargs)
        raise RuntimeError("injected fault")

    monkeypatch.setattr(ledger.FigureChange, "record", broken)  # after the writes, before the commit
    response = api.post("/registrations", token=token, json={"organization_code": "212172", "ties": ["family"]},
                        headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500 and response.headers["X-Request-ID"] == "trace-500"
    [error] = [line for line in log_lines() if line["logger"] == "registry.errors"]
    assert error["level"] == "ERROR" and error["request_id"] == "trace-500"
    assert "injected fault" in error["exc_info"]
    [access] = [line for line in access_lines(log_lines()) if line["route"] == "/api/v1/registrations"]
    assert access["status"] == 500 and access["request_id"] == "trace-500"


def test_probes_log_at_debug_unless_they_fail(client, log_lines):
    client.get("/healthz")
    client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    [refused] = access_lines(log_lines())
    assert refused["route"] == "/metrics" and refused["status"] == 404


def test_text_format_for_people(api):
    stream = io.StringIO()
    handler = make_handler("text", stream)
    logging.getLogger().addHandler(handler)
    try:
        api.get("/organizations/212172", headers={"X-Request-ID": "readable-1"})
        logging.getLogger("registry.test").warning("outside any request")
    finally:
        logging.getLogger().removeHandler(handler)
    request_line, outside = stream.getvalue().splitlines()
    assert "INFO registry.access [readable-1 127.0.0.1] GET /api/v1/organizations/<string:code> 200" in request_line
    assert "WARNING registry.test [- -] outside any request" in outside


def test_log_format_must_be_json_or_text():
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        configure_logging("xml", "INFO")
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://", "LOG_FORMAT": "yaml"})


def test_json_in_production_text_in_development():
    from config import DevelopmentConfig, ProductionConfig
    import os
    if "LOG_FORMAT" in os.environ:
        pytest.skip("LOG_FORMAT is set in this environment")
    assert (ProductionConfig.LOG_FORMAT, DevelopmentConfig.LOG_FORMAT) == ("json", "text")


# --- refused sign-ins, database errors: logged for the operator, without personal data ----------------

def _refusals(lines):
    return [line for line in lines if line.get("event") == "sign_in_failed"]


def test_every_refused_sign_in_is_logged_with_its_reason_and_no_personal_data(api, signup, log_lines):
    email, password = "refused-logins@example.jp", "the-right-pass-1"
    user, _ = signup(email=email, password=password)
    headers = {"X-Request-ID": "sign-in-1"}
    assert api.post("/auth/login", json={"email": "no-such-person@example.jp", "password": "guess-guess-1"},
                    headers=headers).status_code == 401
    assert api.post("/auth/login", json={"email": email, "password": "wrong-guess-1"}).status_code == 401
    assert api.post("/auth/login", json={"email": email, "password": password}).status_code == 200
    unknown, wrong = _refusals(log_lines())
    assert (unknown["reason"], unknown["user_id"], unknown["request_id"]) == ("unknown_account", None, "sign-in-1")
    assert (wrong["reason"], wrong["user_id"]) == ("wrong_password", user["id"])
    for line in (unknown, wrong):
        assert line["level"] == "WARNING" and line["logger"] == "registry.accounts.service"
        assert line["client_address"] == "127.0.0.1"
    text = json.dumps(log_lines(), ensure_ascii=False)
    for secret in (email, "no-such-person", password, "wrong-guess-1", "guess-guess-1"):
        assert secret not in text


def test_a_locked_and_an_erased_account_are_refused_with_their_reason(api, signup, log_lines):
    email = "locked-out@example.jp"
    user, token = signup(email=email, password="the-right-pass-1")
    for _ in range(5):  # LOGIN_FAILURES_BEFORE_BACKOFF
        api.post("/auth/login", json={"email": email, "password": "wrong-guess-1"})
    assert api.post("/auth/login", json={"email": email, "password": "the-right-pass-1"}).status_code == 429
    reasons = [line["reason"] for line in _refusals(log_lines())]
    assert reasons == ["wrong_password"] * 5 + ["locked"]

    other_email = "erased-then-tried@example.jp"
    _, other = signup(email=other_email, password="the-right-pass-1")
    assert api.delete("/me", token=other).status_code == 204
    assert api.post("/auth/login", json={"email": other_email, "password": "the-right-pass-1"}).status_code == 401
    assert _refusals(log_lines())[-1]["reason"] in ("unknown_account", "inactive")  # erasure drops the address
    assert email not in json.dumps(log_lines()) and other_email not in json.dumps(log_lines())


def test_the_sign_in_page_logs_refusals_too(client, log_lines):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/login", data={"email": "page-guess@example.jp", "password": "guess-guess-1",
                                           "csrf_token": token})
    assert response.status_code == 401
    [line] = _refusals(log_lines())
    assert line["reason"] == "unknown_account" and "page-guess" not in json.dumps(log_lines())


def test_a_database_error_is_logged_without_the_values_it_was_given(api, monkeypatch, log_lines):
    """The INSERT of a second account under a taken address fails in the database (the service's own
    check is skipped here): the error's log line shows the SQL, never the address, the name or the
    password hash it carried, nor PostgreSQL's DETAIL quoting the row."""
    from registry.accounts import service
    body = {"email": "duplicate-in-db@example.jp", "password": "correct-horse-9", "display_name": "漏洩検査花子",
            "home_municipality_code": "131016", "birth_year": 1990}
    assert api.post("/auth/signup", json=body).status_code == 201
    monkeypatch.setattr(service, "find_by_email", lambda email: None)
    response = api.post("/auth/signup", json={**body, "email": "Duplicate-In-DB@example.jp"},
                        headers={"X-Request-ID": "db-error-1"})
    assert response.status_code == 500 and response.get_json()["code"] == "internal_error"
    [error] = [line for line in log_lines() if line["logger"] == "registry.errors"]
    assert error["request_id"] == "db-error-1" and error["message"] == "database error"
    trace = error["exc_info"]
    assert "IntegrityError" in trace and "[SQL: INSERT INTO users" in trace
    text = json.dumps(log_lines(), ensure_ascii=False).lower()
    for secret in ("duplicate-in-db@example.jp", "漏洩検査花子", "$argon2", "detail:"):
        assert secret not in text


def test_a_database_error_never_carries_its_parameters(app):
    """hide_parameters, on every engine: a database error's own text (which anything may log or
    store) shows the statement and never the values bound to it."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from registry.extensions import db

    with pytest.raises(DBAPIError) as raised:
        db.session.execute(text("SELECT no_such_column FROM users WHERE email_key = :email"),
                           {"email": "bound-value@example.jp"})
    db.session.rollback()
    assert "bound-value@example.jp" not in str(raised.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(raised.value)


def test_exceptions_are_scrubbed_whatever_handler_formatted_them_first():
    """A driver error's further lines (PostgreSQL's DETAIL) and e-mail addresses never reach the
    line, even when another handler (pytest's) formatted the exception before ours."""
    import psycopg
    from registry.common.redaction import scrubbed_exception

    try:
        try:
            raise psycopg.errors.UniqueViolation(
                'duplicate key value violates unique constraint "users_email_key_key"\n'
                "DETAIL:  Key (email_key)=(leak@example.jp) already exists.")
        except psycopg.Error as error:
            raise RuntimeError("while saving someone@example.jp") from error
    except RuntimeError:
        import sys
        info = sys.exc_info()
    text = scrubbed_exception(info)
    assert 'psycopg.errors.UniqueViolation: duplicate key value violates unique constraint "users_email_key_key"' in text
    assert "The above exception was the direct cause of the following exception:" in text
    assert "DETAIL" not in text and "leak@example.jp" not in text
    assert text.index("UniqueViolation") < text.index("RuntimeError")

    stream = io.StringIO()
    handler = make_handler("text", stream)
    record = logging.LogRecord("registry.test", logging.ERROR, __file__, 1, "failed for %s", ("x@example.jp",), info)
    record.exc_text = "".join(__import__("traceback").format_exception(*info))  # another handler's, unscrubbed
    handler.handle(record)
    written = stream.getvalue()
    assert "failed for <e-mail>" in written and "while saving <e-mail>" in written
    assert "leak@example.jp" not in written and "DETAIL" not in written


def test_text_lines_name_the_client(client):
    stream = io.StringIO()
    handler = make_handler("text", stream)
    logging.getLogger().addHandler(handler)
    try:
        client.get("/api/v1/organizations/212172", headers={"X-Request-ID": "readable-2"},
                   environ_base={"REMOTE_ADDR": "192.0.2.8"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert "INFO registry.access [readable-2 192.0.2.8] GET /api/v1/organizations/<string:code> 200" in stream.getvalue()
