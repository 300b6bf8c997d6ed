"""Schemathesis over the API's own OpenAPI document: every operation, as four callers.

Each operation is called, in-process (WSGI), with requests generated from the document — valid ones
and invalid ones — by an anonymous caller, a resident registered with 飛騨市, a staff member of 飛騨市
and a host (ヌシ) of 飛騨市, in a world where real objects exist (a registration, a need in progress with the resident's
accepted application, evidence with its file, a benefit, an announcement, a host, a certificate, …):
path and query parameters name those as often as random ones, and `Accept` asks for each documented
media type. Every answer must be documented: never a 5xx, a documented status code and content type,
and a body and headers that match the document.

Each generated request runs inside a savepoint that is rolled back and with the rate-limit counts
reset, so every example meets the same world (deterministic, and no limit hides the rest). A
signed-in caller's token must still open `GET /me` after each of its examples, so no example goes
unseen behind a 401; the operations that end a caller's own token (signing out, revoking a token,
erasing the account) are left out for the callers who hold one.
`FUZZ_EXAMPLES` sets the examples per operation and caller (default 8: the module stays within about
two minutes per database on two cores); CI runs derandomized, so a run is repeatable.
"""
import io
import os
from contextlib import contextmanager

import pytest
import schemathesis
from hypothesis import HealthCheck, settings, strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_headers_conformance, response_schema_conformance, status_code_conformance,
)

from config import TestingConfig
from registry import create_app
from registry.accounts.service import create_user
from registry.extensions import db, limiter
from tests.conftest import Api, _clean
from tests.evidence.images import pdf
from tests.factories import HIDA, days

pytestmark = pytest.mark.slow  # some 400 generated requests
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]

# The coverage phase (boundary values, each required field missing, …: some 150 requests for a large
# body, whatever FUZZ_EXAMPLES says) is for deeper local runs: FUZZ_COVERAGE=1.
COVERAGE = os.environ.get("FUZZ_COVERAGE") == "1"
CONFIG = schemathesis.Config.from_dict({
    "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"coverage": {"enabled": COVERAGE}},
})
# The document is read once at collection, from an app that never touches a database; the requests go
# to the test session's app.
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json", create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://"}), config=CONFIG)
KNOWN: dict[str, list[str]] = {}  # parameter name → values naming real objects, for the test that runs


def _created(response) -> dict:
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


@pytest.fixture(scope="module")
def world(app):
    """A resident registered with 飛騨市 and a staff member of 飛騨市 (their tokens, by caller) and real
    objects, whose ids go to KNOWN. Committed once for the module (each example's own writes are rolled
    back) and deleted after it."""
    try:
        with app.app_context():
            tokens = _build_world(Api(app.test_client()))
        yield tokens
    finally:
        KNOWN.clear()
        _clean(app)


def _build_world(api) -> dict:
    resident = _created(api.post("/auth/signup", json={
        "email": "fuzz-resident@example.jp", "password": "correct-horse-9", "display_name": "テスト太郎",
        "home_municipality_code": "131016", "birth_year": 1990}))["token"]
    create_user(email="fuzz-staff@example.jp", password="staff-password-1", role="staff", organization_code=HIDA)
    db.session.commit()
    staff = _created(api.post("/auth/login", json={"email": "fuzz-staff@example.jp",
                                                   "password": "staff-password-1"}))["token"]
    registration = _created(api.post("/registrations", token=resident,
                                     json={"organization_code": HIDA, "ties": ["volunteer"]}))
    need = _created(api.post("/needs", token=staff, json={
        "organization_code": HIDA, "kind": "volunteer", "title": "古川町の雪かき", "description": "屋根の雪下ろし",
        "host_name": "古川町内会", "skills": ["力仕事"], "remote": False, "starts_on": days(0), "ends_on": days(1),
        "apply_by": days(0), "capacity": 3, "reward": "昼食", "counts_as_activity": True}))
    application = _created(api.post(f"/needs/{need['id']}/applications", token=resident, json={"message": "行けます"}))
    _created(api.post(f"/applications/{application['id']}/accept", token=staff))
    verification = _created(api.post("/me/identity-verifications", token=resident, json={"method": "in_person"}))
    evidence = _created(api.post(f"/registrations/{registration['id']}/activity-evidence", token=resident, data={
        "kind": "volunteer", "done_on": days(-5), "description": "社協の証明書",
        "file": (io.BytesIO(pdf()), "proof.pdf", "application/pdf")}))
    benefit = _created(api.post(f"/organizations/{HIDA}/benefits", token=staff,
                                json={"title": "市営温泉の住民料金", "tier": "basic", "kind": "facility"}))
    announcement = _created(api.post(f"/organizations/{HIDA}/announcements", token=staff,
                                     json={"title": "雪まつり", "body": "2月に開催します。"}))
    host = _created(api.post(f"/organizations/{HIDA}/hosts", token=staff, json={
        "email": "fuzz-host@example.jp", "display_name": "担当", "host_name": "古川の宿"}))
    certificate = _created(api.get(f"/registrations/{registration['id']}/certificate", token=resident))
    host_token = _created(api.post("/auth/set-password", json={"token": host["set_password_token"],
                                                               "password": "host-password-1"}))["token"]
    _created(api.post("/needs", token=host_token, json={
        "organization_code": HIDA, "kind": "experience", "title": "宿の朝ごはん作り", "description": "朝の仕込み",
        "host_name": "古川の宿", "skills": [], "remote": False, "starts_on": days(7), "ends_on": days(7),
        "apply_by": days(3), "capacity": 2, "reward": "朝食", "counts_as_activity": False}))
    emergency = _created(api.post("/emergencies", token=staff, json={
        "title": "大雨災害", "message": "支援をお願いします。", "organization_codes": [HIDA]}))
    _created(api.post(f"/emergencies/{emergency['id']}/offers", token=resident, json={"kinds": ["remote"]}))
    KNOWN.update({
        "code": [HIDA], "organization": [HIDA], "token": [certificate["token"]], "registration_id": [registration["id"]], "need_id": [need["id"]],
        "application_id": [application["id"]], "verification_id": [verification["id"]],
        "evidence_id": [evidence["id"]], "benefit_id": [benefit["id"]], "announcement_id": [announcement["id"]],
        "host_id": [host["id"]], "emergency_id": [emergency["id"]],
        "notification_id": [n["id"] for n in api.get("/me/notifications", token=resident).get_json()],
        "token_id": [t["id"] for token in (resident, staff, host_token)
                     for t in api.get("/me/tokens", token=token).get_json()]})
    return {"anonymous": None, "resident": resident, "staff": staff, "host": host_token}


# What ends the caller's own token: not fuzzed with one (the token must outlive every example).
ENDS_THE_TOKEN = {("POST", "/api/v1/auth/logout"), ("DELETE", "/api/v1/me/tokens/{token_id}"),
                  ("DELETE", "/api/v1/me")}


@pytest.fixture(params=["anonymous", "resident", "staff", "host"])
def caller(request):
    return request.param


@contextmanager
def rolled_back():
    """What one example writes is undone, so the next one meets the same world."""
    savepoint = db.session.get_bind().begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()
        limiter.reset()


def _or_known(parameters):
    """As often as not, a parameter names a real object of the test's world instead."""
    if not parameters:
        return st.just(parameters)
    return st.fixed_dictionaries({name: st.sampled_from([value, *KNOWN.get(name, [])])
                                  for name, value in parameters.items()})


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    return _or_known(path_parameters)


@schema.hook
def flatmap_query(context, query):
    return _or_known(query)


@schema.hook
def flatmap_headers(context, headers):
    """Ask for each media type a success is documented in (the figures also answer CSV)."""
    media_types = sorted({media_type for status, response in context.operation.definition.raw["responses"].items()
                          if str(status).startswith("2") for media_type in response.get("content", {})})
    if len(media_types) < 2:
        return st.just(headers)
    return st.sampled_from(media_types).map(lambda accept: {**(headers or {}), "Accept": accept})


@schema.parametrize()
# The module's world is shared by design (every example rolls back its writes); large bodies are slow
# to generate by nature.
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_fuzz(case, caller, world, app):
    token = world[caller]
    if token and (case.method.upper(), case.operation.full_path) in ENDS_THE_TOKEN:
        pytest.skip("ends the caller's own token")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with rolled_back(), app.app_context():
        response = case.call(app=app, headers=headers)
    db.session.expire_all()
    case.validate_response(response, checks=CHECKS)
    if token:
        with app.app_context():
            still = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert still.status_code == 200, f"{caller}'s token no longer works after {case.method} {case.path}"
