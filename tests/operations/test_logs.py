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

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines():
    """The JSON lines the production handler writes while the test runs, parsed."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def access_lines(lines):
    return [line for line in lines if line["logger"] == "registry.access"]


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
    assert "INFO registry.access [readable-1] GET /api/v1/organizations/<string:code> 200" in request_line
    assert "WARNING registry.test [-] outside any request" in outside


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
