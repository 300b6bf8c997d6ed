"""Shortcuts for the emergency tests: declaring through the API, people tied to a 団体."""
import pytest

from tests.factories import HIDA, register


def emergency_body(*codes, title="飛騨地方で大雨災害", message="土砂崩れで道路が寸断されています。安否と支援のご連絡を。") -> dict:
    return {"title": title, "message": message, "organization_codes": list(codes or (HIDA,))}


@pytest.fixture
def declare(api, staff):
    """declare(*codes, token=staff of 飛騨市, **body) → the emergency as JSON (asserting 201)."""

    def make(*codes, token=None, **body):
        response = api.post("/emergencies", token=token or staff, json=emergency_body(*codes, **body))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def tied(signup, api):
    """tied(*codes, **signup fields) → (user json, token) of a resident registered with each code."""

    def make(*codes, **fields):
        user, token = signup(**fields)
        for code in codes or (HIDA,):
            register(api, token, code)
        return user, token

    return make


OFFER = {"kinds": ["on_site", "supplies"], "skills": ["重機の運転", "看護"], "available_from": "2030-01-10",
         "available_until": "2030-01-20", "message": "週末なら現地に行けます。"}
