"""Shortcuts for the hosts tests: staff of 高山市 beside 飛騨市's (`staff`, tests/conftest.py), hosts
invited through the API and signed in through their set-password link, needs in progress today,
residents with accepted applications."""
import pytest

from tests.factories import HIDA, TAKAYAMA, days
from tests.needs.conftest import need_body


@pytest.fixture
def other_staff(make_account):
    return make_account("staff", TAKAYAMA)


@pytest.fixture
def invite(api, staff):
    """invite(token=staff, code=HIDA, **fields) → the response."""
    counter = iter(range(1, 10_000))

    def make(token=None, code=HIDA, **fields):
        n = next(counter)
        body = {"email": f"host-{n}-{id(counter) % 10_000}@example.jp", "display_name": f"担当{n}",
                "host_name": f"古川の宿{n}", **fields}
        return api.post(f"/organizations/{code}/hosts", token=token or staff, json=body)

    return make


@pytest.fixture
def make_host(api, invite):
    """make_host(trusted=False, code=HIDA, token=staff) → (host json, bearer token of the host)."""

    def make(trusted=False, **kw):
        response = invite(trusted=trusted, **kw)
        assert response.status_code == 201, response.get_json()
        host = response.get_json()
        signed = api.post("/auth/set-password", json={"token": host["set_password_token"], "password": "host-pass-123"})
        assert signed.status_code == 200, signed.get_json()
        return host, signed.get_json()["token"]

    return make


def in_progress(**fields) -> dict:
    """A need taking place today (applications still open today)."""
    return need_body(**{"starts_on": days(0), "ends_on": days(1), "apply_by": days(0), **fields})


@pytest.fixture
def post_need_today(api, staff):
    """post_need_today(token=staff, **fields) → the response of posting a need in progress today
    (unlike the needs tests' `post_need_today`, which asserts 201 and answers the need)."""

    def make(token=None, **fields):
        return api.post("/needs", token=token or staff, json=in_progress(**fields))

    return make


@pytest.fixture
def accepted(api, resident, staff):
    """accepted(need, decider=staff) → (resident token, application json): applied and accepted."""

    def make(need, decider=None, **signup_fields):
        token = resident(**signup_fields)
        applied = api.post(f"/needs/{need['id']}/applications", token=token, json={})
        assert applied.status_code == 201, applied.get_json()
        decided = api.post(f"/applications/{applied.get_json()['id']}/accept", token=decider or staff)
        assert decided.status_code == 200, decided.get_json()
        return token, decided.get_json()

    return make
