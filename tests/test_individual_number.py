"""The Individual Number (マイナンバー) is refused in every field a person or staff member writes,
and nowhere else (ids, tokens, passwords, e-mails, codes).

The fields are found in the OpenAPI document (the shared text fields mark themselves with
`x-refuses-individual-number`), so a new text field is covered by the parametrized test, and a new
string field that is neither marked nor a code, enum, date or e-mail fails
`test_every_written_string_refuses_it_or_is_a_code`.
"""
import uuid

import pytest

from config import TestingConfig
from registry import create_app
from registry.common.individual_number import (
    ANY_TWELVE_DIGITS, CHECK_DIGIT, contains_individual_number, is_individual_number,
)
from registry.common.schemas import REFUSES_INDIVIDUAL_NUMBER
from registry.extensions import db
from registry.needs.models import Application
from tests.conftest import Browser
from tests.factories import HIDA, PASSWORD, partner_token, user_of
from tests.scenes import World, account, need, register, resident

API = "/api/v1"
VALID = "123456789018"  # its check digit is right
WRONG_CHECK_DIGIT = "123456789010"
MESSAGE = "Do not enter an Individual Number (マイナンバー)."
WRITTEN_AS = [VALID, "1234 5678 9018", "1234-5678-9018", "１２３４５６７８９０１８", "１２３４－５６７８－９０１８",
              f"番号は{VALID}です", f"番号:{VALID[:4]} {VALID[4:8]} {VALID[8:]}。"]
NEAR_MISSES = ["12345678901", "090-1234-5678", "0577-12-3456", VALID + "3", "9" + VALID,
               "1234 5678 9018 3456", "〒506-8555 飛騨市古川町本町2-22"]
# Strings a person writes that are not prose: never checked (nor shown back as someone's text).
NOT_PROSE = {"email": "an e-mail address", "password": "a password", "token": "a link's token",
             "code": "a check-in code", "organization_code": "a 団体 code", "home_municipality_code": "a 団体 code",
             "organization_codes": "団体 codes"}


# --- the detector -----------------------------------------------------------------------------------

def test_the_check_digit():
    assert is_individual_number(VALID) and not is_individual_number(WRONG_CHECK_DIGIT)
    assert sum(is_individual_number(f"12345678901{d}") for d in range(10)) == 1
    assert not is_individual_number("１２３４５６７８９０１８")  # digits are normalised before, not here


@pytest.mark.parametrize("text", WRITTEN_AS)
def test_found_however_it_is_written(text):
    assert contains_individual_number(text) and contains_individual_number(text, ANY_TWELVE_DIGITS)


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_not_taken_for_one(text):
    assert not contains_individual_number(text) and not contains_individual_number(text, ANY_TWELVE_DIGITS)


def test_a_wrong_check_digit_is_refused_only_in_identity_fields():
    assert not contains_individual_number(f"受付番号 {WRONG_CHECK_DIGIT}", CHECK_DIGIT)
    assert contains_individual_number(f"受付番号 {WRONG_CHECK_DIGIT}", ANY_TWELVE_DIGITS)


# --- every field of the API, from the OpenAPI document ------------------------------------------------

def _spec_and_roles():
    """The OpenAPI document and each route's roles, read once at collection from a throw-away app
    (no database is touched)."""
    app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    spec = app.test_client().get(f"{API}/openapi.json").get_json()
    roles = {}
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for converter in ("uuid:", "string:"):
            path = path.replace(f"<{converter}", "<")
        for method in rule.methods:
            roles[(path.replace("<", "{").replace(">", "}"), method)] = getattr(
                app.view_functions[rule.endpoint], "required_roles", ())
    return spec, roles


def _walk(spec, prop, path=()):
    """(path, property) of every leaf of a request schema; a list item's path step is 0."""
    for key in ("allOf", "anyOf", "oneOf"):
        if key in prop:
            for sub in prop[key]:
                yield from _walk(spec, sub, path)
            return
    if "$ref" in prop:
        prop = spec["components"]["schemas"][prop["$ref"].rsplit("/", 1)[-1]]
    if "properties" in prop:
        for name, child in prop["properties"].items():
            if not child.get("readOnly"):
                yield from _walk(spec, child, path + (name,))
    elif prop.get("type") == "array":
        yield from _walk(spec, prop["items"], path + (0,))
    elif prop:
        yield path, prop


def _request_fields():
    spec, roles = _spec_and_roles()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("post", "put", "patch"):
                continue
            for content_type, content in operation.get("requestBody", {}).get("content", {}).items():
                for field, prop in _walk(spec, content["schema"]):
                    yield method.upper(), path, content_type, field, prop, roles[(path, method.upper())]


REQUEST_FIELDS = list(_request_fields())
REFUSING = [(m, p, ct, f, prop[REFUSES_INDIVIDUAL_NUMBER], roles) for m, p, ct, f, prop, roles in REQUEST_FIELDS
            if REFUSES_INDIVIDUAL_NUMBER in prop]


def test_the_fields_found_include_the_ones_the_design_names():
    found = {(p.removeprefix(API), f) for _m, p, _ct, f, _s, _r in REFUSING}
    for expected in [("/me", ("display_name",)), ("/me", ("skills", 0)), ("/me", ("interests", 0)),
                     ("/needs/{need_id}/applications", ("message",)), ("/needs", ("description",)),
                     ("/needs", ("place", "name")), ("/identity-verifications/{verification_id}/reject", ("reason",)),
                     ("/premium-requests/{request_id}/reject", ("reason",)),
                     ("/organizations/{code}/announcements", ("body",)),
                     ("/organizations/{code}/hosts", ("host_name",)),
                     ("/registrations/{registration_id}/activity-evidence", ("description",)),
                     ("/activity-evidence/{evidence_id}/reject", ("reason",))]:
        assert expected in found, expected
    assert len(REFUSING) >= 30


def test_every_written_string_refuses_it_or_is_a_code():
    for method, path, _ct, field, prop, _roles in REQUEST_FIELDS:
        if prop.get("type") != "string" or REFUSES_INDIVIDUAL_NUMBER in prop:
            continue
        named = [step for step in field if isinstance(step, str)][-1]
        assert "enum" in prop or prop.get("format") in ("date", "date-time", "email", "binary", "uuid") \
            or named in NOT_PROSE, f"{method} {path} {field}: free text that does not refuse an Individual Number"


@pytest.fixture
def callers(api):
    staff = account(api, "staff", HIDA)
    person = resident(api)
    return {"resident": person.token, "staff": staff.token, "host": account(api, "host", HIDA).token,
            "admin": account(api, "admin").token, "national": account(api, "national").token,
            "partner": partner_token(user_of({"id": person.id}))}


def _concrete(path: str) -> str:
    path = path.replace("{code}", HIDA)
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid.uuid4()) + path[end + 1:]
    return path


def _body(field: tuple, value):
    for step in reversed(field):
        value = [value] if step == 0 else {step: value}
    return value


def _field_errors(errors: dict, field: tuple):
    for step in field:
        if not isinstance(errors, dict) or str(step) not in errors:
            return []
        errors = errors[str(step)]
    return errors


def _send(client, method, path, content_type, field, value, token):
    headers = {"Accept-Language": "en", **({"Authorization": f"Bearer {token}"} if token else {})}
    if content_type == "multipart/form-data":
        return client.open(_concrete(path), method=method, data={field[0]: value}, headers=headers,
                           content_type=content_type)
    return client.open(_concrete(path), method=method, json=_body(field, value), headers=headers)


@pytest.mark.parametrize("method, path, content_type, field, strength, roles", REFUSING,
                         ids=[f"{m} {p.removeprefix(API)} {'.'.join(map(str, f))}" for m, p, _c, f, *_ in REFUSING])
def test_every_text_field_refuses_an_individual_number(client, callers, method, path, content_type, field, strength,
                                                      roles):
    token = callers[roles[0]] if roles else None
    for value in (f"連絡先 {VALID}", "1234-5678-9018"):
        response = _send(client, method, path, content_type, field, value, token)
        assert response.status_code == 422, (response.status_code, response.get_data(as_text=True)[:300])
        body = response.get_json()
        assert body["code"] == "validation_error" and MESSAGE in _field_errors(body["errors"], field), body
    near_misses = NEAR_MISSES if strength == ANY_TWELVE_DIGITS else NEAR_MISSES + [WRONG_CHECK_DIGIT]
    for value in near_misses:
        response = _send(client, method, path, content_type, field, value, token)
        # Other fields may be missing, or the object unknown: only this field's verdict matters.
        errors = response.get_json().get("errors", {}) if response.status_code == 422 else {}
        assert _field_errors(errors, field) == [], (value, errors)
    if strength == ANY_TWELVE_DIGITS:
        response = _send(client, method, path, content_type, field, WRONG_CHECK_DIGIT, token)
        assert MESSAGE in _field_errors(response.get_json()["errors"], field)


def test_the_message_is_in_japanese_by_default(api):
    response = api.post("/auth/signup", json={"display_name": VALID})
    assert response.get_json()["errors"]["display_name"] == ["個人番号（マイナンバー）は入力しないでください。"]


def test_near_misses_are_stored_as_written(api):
    staff = account(api, "staff", HIDA)
    person = resident(api, skills=["090-1234-5678"], display_name=f"受付 {WRONG_CHECK_DIGIT}")
    need_id = need(api, staff, description=f"集合 0577-12-3456、整理番号 {VALID}3")
    register(api, person)
    response = api.post(f"/needs/{need_id}/applications", token=person.token, json={"message": "12345678901"})
    assert response.status_code == 201
    assert db.session.get(Application, uuid.UUID(response.get_json()["id"])).message == "12345678901"
    assert api.get("/me", token=person.token).get_json()["display_name"] == f"受付 {WRONG_CHECK_DIGIT}"


# --- pages: the same fields through forms show the error, never a 500 ---------------------------------

@pytest.fixture
def signed_in(app, api):
    def sign_in(who):
        browser = Browser(app.test_client())
        assert browser.login(who.email, PASSWORD).status_code == 302
        return browser
    return sign_in


def _page_text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'").replace("&amp;", "&")


def test_forms_show_the_error(app, api, signed_in):
    browser = Browser(app.test_client())
    browser.get("/signup")
    page = browser.post("/signup", {"email": "n@example.jp", "password": "password-123", "display_name": VALID,
                                    "home_municipality_code": "131016", "birth_year": "1990"})
    assert page.status_code == 422 and "マイナンバー" in _page_text(page)

    person = resident(api)
    staff = account(api, "staff", HIDA)
    need_id = need(api, staff)
    register(api, person)
    browser = signed_in(person)
    browser.get("/my")
    page = browser.post("/my/profile", {"display_name": "花子", "skills_text": f"農作業, 番号{VALID}"})
    assert page.status_code == 422 and "マイナンバー" in _page_text(page)
    browser.get(f"/needs/{need_id}")
    page = browser.post(f"/needs/{need_id}/apply", {"message": f"番号 {VALID}"})
    assert page.status_code in (409, 422) and "マイナンバー" in _page_text(page)
    assert db.session.query(Application).filter_by(user_id=uuid.UUID(person.id)).count() == 0

    console = signed_in(staff)
    console.get("/staff/needs/new")
    page = console.post("/staff/needs/new", {"kind": "volunteer", "title": "草刈り", "description": f"担当 {VALID}",
                                             "starts_on": "2099-01-02", "ends_on": "2099-01-02",
                                             "apply_by": "2099-01-01", "capacity": "1"})
    assert page.status_code == 422 and "マイナンバー" in _page_text(page)
    console.get("/staff/hosts")
    page = console.post("/staff/hosts", {"email": "h@example.jp", "display_name": f"担当 {VALID}",
                                         "host_name": "宿"})
    assert page.status_code == 422 and "マイナンバー" in _page_text(page)


@pytest.mark.parametrize("form, path", [
    ("announce", "/staff/announcements"), ("identity", "/staff/identity-verifications/{verification}/reject"),
    ("premium", "/staff/premium-requests/{premium}/reject"), ("evidence", "/staff/evidence/{evidence}/reject"),
])
def test_console_forms_flash_the_error_and_change_nothing(app, api, signed_in, form, path):
    world = World(api)
    console = signed_in(world.staff)
    console.get("/staff")
    number = WRONG_CHECK_DIGIT if form == "identity" else VALID  # identity fields refuse any 12 digits
    data = {"title": "お知らせ", "body": f"番号 {number}"} if form == "announce" else {"reason": f"番号 {number}"}
    response = console.post(path.format(**world.ids), data)
    assert response.status_code == 302
    page = console.get(response.headers["Location"])
    assert page.status_code == 200 and "マイナンバー" in _page_text(page)
    # Still pending, nothing sent.
    assert api.get("/premium-requests?status=pending", token=world.staff.token).get_json()
    assert api.get("/identity-verifications?status=pending", token=world.staff.token).get_json()
    assert api.get("/activity-evidence?status=pending", token=world.staff.token).get_json()
    assert api.get(f"/organizations/{HIDA}/announcements", token=world.staff.token).get_json() == []
