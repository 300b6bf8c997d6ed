"""Shortcuts for the evidence tests: a store per test, a registrant of 飛騨市 and its staff.

Every evidence test runs twice: with files in a folder (`UPLOAD_DIR`, the default) and in an
S3-compatible object store (`EVIDENCE_STORE`, a bucket of its own in the moto server the run starts)."""
import io
import uuid

import pytest

from registry.evidence import files
from tests.factories import HIDA, days_ago, user_of  # noqa: F401  (user_of: for the tests that import it from here)


def form(*, file: bytes | None = None, filename: str = "proof.pdf", content_type: str = "application/pdf",
         **fields) -> dict:
    body = {"kind": "volunteer", "done_on": days_ago(5), "description": "古川町の雪かきボランティア（社協の証明書）",
            "host_name": "飛騨市社会福祉協議会"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    if file is not None:
        body["file"] = (io.BytesIO(file), filename, content_type)
    return body


STORE_SETTINGS = ("UPLOAD_DIR", "EVIDENCE_STORE", "S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                  "AWS_REGION")


@pytest.fixture(autouse=True, params=["disk", "s3"])
def store(request, app, tmp_path):
    """The test's own store, which the app uses meanwhile: a folder, or a fresh bucket."""
    previous = {key: app.config.get(key) for key in STORE_SETTINGS}
    if request.param == "disk":
        app.config.update({"UPLOAD_DIR": str(tmp_path / "uploads"), "EVIDENCE_STORE": None})
    else:
        server = request.getfixturevalue("s3_server")
        bucket = f"evidence-{uuid.uuid4().hex[:12]}"
        server.client().create_bucket(Bucket=bucket)
        app.config.update(server.settings(bucket))
    yield files.store_for(app.config)
    app.config.update(previous)


def stored(store) -> list[str]:
    """The names of the files in the store."""
    return [name for name, _ in store.names()]


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
