"""Shortcuts for the needs tests: needs posted through the API, applications."""
import pytest

from tests.factories import HIDA, days


def need_body(**fields) -> dict:
    body = {"organization_code": HIDA, "kind": "volunteer", "title": "古川町の雪かき",
            "description": "高齢者宅の屋根と玄関先の雪かきをお手伝いください。", "host_name": "古川町内会",
            "skills": ["力仕事"], "remote": False, "starts_on": days(10), "ends_on": days(10),
            "apply_by": days(5), "capacity": 3, "reward": "温かい昼食", "counts_as_activity": True}
    body.update(fields)
    return body


@pytest.fixture
def post_need(api, staff):
    """post_need(token=staff, **fields) → the need as JSON (asserting 201)."""

    def make(token=None, **fields):
        response = api.post("/needs", token=token or staff, json=need_body(**fields))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def apply(api):
    """apply(need, token, message=None) → the response."""

    def make(need, token, **body):
        return api.post(f"/needs/{need['id']}/applications", token=token, json=body)

    return make
