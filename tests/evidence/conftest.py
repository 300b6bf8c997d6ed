"""Shortcuts for the evidence tests: an upload folder per test, a registrant of 飛騨市, submissions."""
import io
from pathlib import Path

import pytest

from registry.evidence.files import FileStore
from tests.factories import HIDA, days_ago


def form(*, file: bytes | None = None, filename: str = "proof.pdf", content_type: str = "application/pdf",
         **fields) -> dict:
    body = {"kind": "volunteer", "done_on": days_ago(5), "description": "古川町の雪かきボランティア（社協の証明書）",
            "host_name": "飛騨市社会福祉協議会"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    if file is not None:
        body["file"] = (io.BytesIO(file), filename, content_type)
    return body


@pytest.fixture(autouse=True)
def _own_upload_dir(upload_dir) -> Path:
    """Every test stores its files in its own folder (tests/conftest.py `upload_dir`)."""
    return upload_dir


@pytest.fixture
def store(upload_dir) -> FileStore:
    return FileStore(upload_dir)


def stored_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture
def registrant(api, signup):
    """registrant(organization=HIDA) → (user json, token, registration id)."""

    def make(organization=HIDA, **fields):
        user, token = signup(**fields)
        response = api.post("/registrations", token=token, json={"organization_code": organization,
                                                                  "ties": ["volunteer"]})
        assert response.status_code == 201, response.get_json()
        return user, token, response.get_json()["id"]

    return make


@pytest.fixture
def submit(api):
    """submit(token, registration_id, **form fields) → the response."""

    def make(token, registration_id, **fields):
        return api.post(f"/registrations/{registration_id}/activity-evidence", token=token, data=form(**fields),
                        content_type="multipart/form-data")

    return make
