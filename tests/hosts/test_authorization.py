"""The authorization matrix of every route this feature adds or opens to hosts: each role, the host
that owns the need against another host of the same 団体, and staff of the 団体 against another's."""
import pytest

from registry.extensions import db

from tests.factories import HIDA
from tests.hosts.conftest import in_progress

ROLES = ("anonymous", "resident", "staff", "other_staff", "host", "other_host", "national", "admin")


@pytest.fixture
def world(api, make_account, staff, other_staff, make_host, post_need_today, signup):
    host, host_token = make_host(trusted=True)
    _other, other_host_token = make_host(trusted=True)
    _untrusted, drafter = make_host()
    open_need = post_need_today(token=host_token).get_json()
    draft = post_need_today(token=drafter).get_json()
    _, resident = signup()
    applicant = signup()[1]
    application = api.post(f"/needs/{open_need['id']}/applications", token=applicant, json={}).get_json()
    tokens = {"anonymous": None, "resident": resident, "staff": staff, "other_staff": other_staff,
              "host": host_token, "other_host": other_host_token, "national": make_account("national"),
              "admin": make_account("admin")}
    return {"host": host, "open": open_need, "draft": draft, "application": application, "tokens": tokens,
            "drafter": drafter}


def _row(**statuses):
    """Expected status per role; roles left out: 403."""
    return tuple(statuses.get(role, 403) for role in ROLES)


MATRIX = {
    ("POST", "/organizations/{code}/hosts"): _row(anonymous=401, staff=201, other_staff=404),
    ("GET", "/organizations/{code}/hosts"): _row(anonymous=401, staff=200, other_staff=404),
    ("GET", "/hosts/{host}"): _row(anonymous=401, staff=200, other_staff=404, host=200, other_host=404),
    ("PATCH", "/hosts/{host}"): _row(anonymous=401, staff=200, other_staff=404),
    ("DELETE", "/hosts/{host}"): _row(anonymous=401, staff=204, other_staff=404),
    # the host has set its password: staff get no link to it (409), whoever they are (Trust rules v1.1)
    ("POST", "/hosts/{host}/invitation"): _row(anonymous=401, staff=409, other_staff=404),
    ("POST", "/auth/set-password"): _row(**{role: 422 for role in ROLES}),  # public; the token decides
    ("GET", "/me/needs"): _row(anonymous=401, staff=200, other_staff=200, host=200, other_host=200),
    ("POST", "/needs"): _row(anonymous=401, staff=201, other_staff=403, host=201, other_host=201),
    ("POST", "/needs/{draft}/publish"): _row(anonymous=401, staff=200, other_staff=404),
    ("GET", "/needs/{draft}"): _row(anonymous=404, resident=404, staff=200, other_staff=404, host=404,
                                    other_host=404, national=404, admin=404),
    ("PATCH", "/needs/{open}"): _row(anonymous=401, staff=200, host=200),
    ("POST", "/needs/{open}/close"): _row(anonymous=401, staff=200, host=200),
    ("POST", "/needs/{open}/cancel"): _row(anonymous=401, staff=200, host=200),
    ("GET", "/needs/{open}/applications"): _row(anonymous=401, staff=200, host=200),
    ("GET", "/needs/{open}/candidates"): _row(anonymous=401, staff=200, host=200),
    ("POST", "/applications/{application}/accept"): _row(anonymous=401, staff=200, other_staff=404, host=200,
                                                         other_host=404),
    ("POST", "/applications/{application}/decline"): _row(anonymous=401, staff=200, other_staff=404, host=200,
                                                          other_host=404),
    ("GET", "/needs/{open}/check-in-code"): _row(anonymous=401, staff=200, host=200),
    ("POST", "/needs/{open}/check-in"): _row(anonymous=401, resident=409),
    ("POST", "/needs/{open}/complete-checked-in"): _row(anonymous=401, staff=200, host=200),
}

BODIES = {
    "/organizations/{code}/hosts": {"email": "new-host@example.jp", "display_name": "担当", "host_name": "宿"},
    "/hosts/{host}": {"trusted": False},
    "/auth/set-password": {"token": "not-a-link", "password": "host-pass-123"},
    "/needs": in_progress(),
    "/needs/{open}": {"title": "変更"},
    "/needs/{open}/check-in": {"code": "000000"},
}


@pytest.mark.parametrize("method, path", list(MATRIX))
def test_matrix(api, world, method, path):
    """Each role's call runs in a savepoint rolled back afterwards, so every role meets the same world."""
    url = path.format(code=HIDA, host=world["host"]["id"], draft=world["draft"]["id"], open=world["open"]["id"],
                      application=world["application"]["id"])
    body = BODIES.get(path)
    got = {}
    for role in ROLES:
        savepoint = db.session.connection().begin_nested()
        response = api.call(method, url, token=world["tokens"][role], **({"json": body} if body is not None else {}))
        savepoint.rollback()
        db.session.expire_all()
        got[role] = response.status_code
    assert got == dict(zip(ROLES, MATRIX[(method, path)])), (method, url)


def test_the_drafting_host_manages_its_draft(api, world):
    """The matrix's `host` owns the open need; the draft belongs to a third, untrusted host."""
    draft, token = world["draft"], world["drafter"]
    assert api.get(f"/needs/{draft['id']}", token=token).status_code == 200
    assert api.patch(f"/needs/{draft['id']}", token=token, json={"title": "下書き"}).status_code == 200
    assert api.post(f"/needs/{draft['id']}/publish", token=token).status_code == 403
