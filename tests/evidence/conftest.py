"""Shortcuts for the evidence tests: an upload folder per test, a registrant of 飛騨市 and its staff."""
import io
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from registry.accounts.models import User
from registry.common.time import today_tokyo
from registry.evidence.files import FileStore
from registry.extensions import db

HIDA, TAKAYAMA, GIFU = "212172", "212032", "210005"


def days_ago(n: int) -> str:
    return (today_tokyo() - timedelta(days=n)).isoformat()


def form(*, file: bytes | None = None, filename: str = "proof.pdf", content_type: str = "application/pdf",
         **fields) -> dict:
    body = {"kind": "volunteer", "done_on": days_ago(5), "description": "古川町の雪かきボランティア（社協の証明書）",
            "host_name": "飛騨市社会福祉協議会"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    if file is not None:
        body["file"] = (io.BytesIO(file), filename, content_type)
    return body


def user_of(user_json) -> User:
    return db.session.get(User, uuid.UUID(user_json["id"]))


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path) -> Path:
    """Every test stores its files in its own folder."""
    folder = tmp_path / "uploads"
    previous = app.config.get("UPLOAD_DIR")
    app.config["UPLOAD_DIR"] = str(folder)
    yield folder
    app.config["UPLOAD_DIR"] = previous


@pytest.fixture
def store(upload_dir) -> FileStore:
    return FileStore(upload_dir)


def stored_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture
def staff(make_account):
    return make_account("staff", HIDA)


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
