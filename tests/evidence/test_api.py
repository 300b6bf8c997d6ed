"""Activity evidence through the API: submit, review, files served to the right people only."""
import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from registry.common.time import one_year_before, today_tokyo
from registry.evidence import service as evidence_service
from registry.evidence.models import ActivityEvidence
from registry.extensions import db
from registry.registrations.models import Activity
from tests.evidence.conftest import form, stored
from tests.factories import GIFU, HIDA, TAKAYAMA, days_ago, user_of
from tests.evidence.images import GPS_IFD, jpeg_with_exif, pdf, plain_jpeg, png_with_metadata


def _evidence_count() -> int:
    return db.session.scalar(select(func.count(ActivityEvidence.id)))


def test_submit_with_a_pdf_and_list_it(api, registrant, submit, store):
    _, token, reg = registrant()
    response = submit(token, reg, file=pdf())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["registration_id"] == reg and body["status"] == "pending" and body["has_file"] is True
    assert body["kind"] == "volunteer" and body["done_on"] == days_ago(5) and body["file_type"] == "application/pdf"
    [name] = stored(store)
    assert store.read(name) == pdf() and "proof" not in name  # a random name, not the client's
    listed = api.get(f"/registrations/{reg}/activity-evidence", token=token)
    assert listed.status_code == 200 and [e["id"] for e in listed.get_json()] == [body["id"]]
    assert listed.headers["X-Total-Count"] == "1"


def test_submit_without_a_file(registrant, submit, store):
    _, token, reg = registrant()
    response = submit(token, reg, kind="event", host_name=None)
    assert response.status_code == 201 and response.get_json()["has_file"] is False
    assert response.get_json()["host_name"] is None
    assert stored(store) == []


def test_an_empty_file_input_from_a_form_means_no_file(registrant, submit):
    _, token, reg = registrant()
    response = submit(token, reg, file=b"", filename="", content_type="application/octet-stream")
    assert response.status_code == 201 and response.get_json()["has_file"] is False


def test_jpeg_is_stored_and_served_without_exif(api, registrant, submit, staff):
    _, token, reg = registrant()
    photo = jpeg_with_exif()
    assert Image.open(io.BytesIO(photo)).getexif().get(GPS_IFD)
    created = submit(token, reg, file=photo, filename="IMG_0001.JPG", content_type="image/jpeg").get_json()
    assert created["file_type"] == "image/jpeg"
    for who in (token, staff):
        served = api.get(f"/activity-evidence/{created['id']}/file", token=who)
        assert served.status_code == 200 and served.mimetype == "image/jpeg"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in served.headers["Content-Security-Policy"]
        assert b"Exif" not in served.data and b"TestCam" not in served.data
        image = Image.open(io.BytesIO(served.data))
        assert not image.getexif() and image.size == (64, 48)


def test_png_is_stored_without_metadata(api, registrant, submit):
    _, token, reg = registrant()
    created = submit(token, reg, file=png_with_metadata(), filename="scan.png", content_type="image/png").get_json()
    served = api.get(f"/activity-evidence/{created['id']}/file", token=token)
    assert served.mimetype == "image/png" and b"eXIf" not in served.data and b"tEXt" not in served.data
    Image.open(io.BytesIO(served.data)).load()


@pytest.mark.parametrize("data, filename, declared", [
    (b"<html><script>alert(1)</script></html>", "contract.pdf", "application/pdf"),
    (b"#!/bin/sh\nrm -rf /\n", "photo.jpg", "image/jpeg"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "scan.png", "image/png"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "note.pdf", "application/pdf"),
    (b"PK\x03\x04" + b"\x00" * 100, "contract.docx", "application/pdf"),
    (b"just text", "note.txt", "text/plain"),
], ids=["html-as-pdf", "script-as-jpg", "svg-as-png", "gif-as-pdf", "zip", "text"])
def test_files_are_judged_by_content_not_by_name(registrant, submit, store, data, filename, declared):
    _, token, reg = registrant()
    response = submit(token, reg, file=data, filename=filename, content_type=declared)
    assert response.status_code == 422 and response.get_json()["code"] == "unsupported_file"
    assert response.mimetype == "application/problem+json"
    assert _evidence_count() == 0 and stored(store) == []


def test_a_real_png_named_pdf_is_a_png(api, registrant, submit):
    _, token, reg = registrant()
    created = submit(token, reg, file=png_with_metadata(), filename="contract.pdf",
                     content_type="application/pdf").get_json()
    assert created["file_type"] == "image/png"
    assert api.get(f"/activity-evidence/{created['id']}/file", token=token).mimetype == "image/png"


def test_five_megabytes_pass_and_one_byte_more_is_413(registrant, submit, store):
    _, token, reg = registrant()
    limit = 5 * 1024 * 1024
    ok = submit(token, reg, file=pdf(limit))
    assert ok.status_code == 201 and ok.get_json()["file_size"] == limit
    too_big = submit(token, reg, file=pdf(limit + 1))
    assert too_big.status_code == 413 and too_big.get_json()["code"] == "payload_too_large"
    assert _evidence_count() == 1 and len(stored(store)) == 1


def test_a_body_over_6mb_is_413(registrant, submit, store):
    _, token, reg = registrant()
    response = submit(token, reg, file=pdf(7 * 1024 * 1024))
    assert response.status_code == 413 and response.get_json()["code"] == "payload_too_large"
    assert stored(store) == []


@pytest.mark.parametrize("offset, status", [(0, 201), (1, 422), (-1, 201), (400, 422)])
def test_done_on_today_or_within_12_months(registrant, submit, offset, status):
    _, token, reg = registrant()
    today = today_tokyo()
    done_on = today + timedelta(days=offset) if offset >= 0 else one_year_before(today)
    if offset == 400:
        done_on = one_year_before(today) - timedelta(days=1)
    response = submit(token, reg, done_on=done_on.isoformat(), file=pdf())
    assert response.status_code == status, response.get_json()
    if status == 422:
        assert response.get_json()["code"] == "validation_error" and "done_on" in response.get_json()["errors"]
        assert _evidence_count() == 0


def test_another_persons_registration_is_404_and_stores_nothing(registrant, submit, store):
    _, _, reg = registrant()
    _, other, _ = registrant()
    response = submit(other, reg, file=pdf())
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    assert _evidence_count() == 0 and stored(store) == []


def test_a_withdrawn_registration_takes_no_evidence(api, registrant, submit):
    _, token, reg = registrant()
    assert api.delete(f"/registrations/{reg}", token=token).status_code == 204
    response = submit(token, reg)
    assert response.status_code == 409 and response.get_json()["code"] == "invalid_state"


def test_an_individual_number_in_the_text_is_refused(registrant, submit):
    _, token, reg = registrant()
    for text in ("番号 1234 5678 9018 です", "１２３４５６７８９０１８"):
        response = submit(token, reg, description=text)
        assert response.status_code == 422 and "description" in response.get_json()["errors"]
    assert submit(token, reg, description="電話 0577-12-3456、受付番号 123456789010").status_code == 201


# --- bad input: multipart is outside the JSON sweep, so it is swept here -----------------------------

@pytest.mark.parametrize("fields, field", [
    ({"kind": "sightseeing"}, "kind"), ({"kind": ""}, "kind"), ({"kind": None}, "kind"),
    ({"done_on": "yesterday"}, "done_on"), ({"done_on": "2025-02-30"}, "done_on"), ({"done_on": "12345"}, "done_on"),
    ({"done_on": None}, "done_on"), ({"description": None}, "description"), ({"description": ""}, "description"),
    ({"description": "あ" * 2001}, "description"), ({"description": "あ" * 100_000}, "description"),
    ({"host_name": "x" * 201}, "host_name"), ({"unknown_field": "1"}, "unknown_field"),
])
def test_bad_fields_are_422(registrant, submit, store, fields, field):
    _, token, reg = registrant()
    response = submit(token, reg, file=pdf(), **fields)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "validation_error" and field in body["errors"]
    assert stored(store) == [] and _evidence_count() == 0


def test_bad_bodies_are_4xx_never_500(api, registrant, store):
    _, token, reg = registrant()
    path = f"/registrations/{reg}/activity-evidence"
    cases = [
        dict(json={"kind": "volunteer", "done_on": days_ago(1), "description": "x"}),  # JSON, not multipart
        dict(data=b"\x00\x01garbage", content_type="multipart/form-data; boundary=zzz"),
        dict(data=b"--zzz\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nvolunteer", content_type="multipart/form-data; boundary=zzz"),
        dict(data=b"no boundary", content_type="multipart/form-data"),
        dict(data=b"kind=volunteer", content_type="text/plain"),
        dict(data={"file": "not a file part", **{k: v for k, v in form().items()}}, content_type="multipart/form-data"),
        dict(data={**form(), "description": "あ" * 200_000}, content_type="multipart/form-data"),  # over the form field limit
    ]
    for case in cases:
        response = api.post(path, token=token, **case)
        assert 400 <= response.status_code < 500, (case, response.status_code, response.data[:200])
        assert response.mimetype == "application/problem+json" and response.get_json()["code"]
    assert stored(store) == []


def test_two_files_in_one_field_take_the_first(api, registrant, store):
    _, token, reg = registrant()
    data = form()
    data["file"] = [(io.BytesIO(b"<html>"), "a.pdf", "application/pdf"), (io.BytesIO(pdf()), "b.pdf", "application/pdf")]
    response = api.post(f"/registrations/{reg}/activity-evidence", token=token, data=data,
                        content_type="multipart/form-data")
    assert response.status_code == 422 and response.get_json()["code"] == "unsupported_file"


def test_too_many_pending_items(registrant, submit):
    _, token, reg = registrant()
    for _ in range(20):
        assert submit(token, reg).status_code == 201
    response = submit(token, reg)
    assert response.status_code == 409 and response.get_json()["code"] == "invalid_state"


def test_withdrawing_takes_the_waiting_evidence_out_of_the_queue_and_storage(api, registrant, submit, staff, store,
                                                                              monkeypatch):
    """Trust rules (v1.1), item 6: the bound is per person and 団体, however often they withdraw and
    register again, and a withdrawn registration's pending evidence leaves the staff's queue with its file."""
    monkeypatch.setattr(evidence_service, "PENDING_LIMIT", 3)
    _, token, reg = registrant()
    with_file = submit(token, reg, file=pdf()).get_json()
    for _ in range(2):
        assert submit(token, reg).status_code == 201
    assert len(stored(store)) == 1
    assert api.delete(f"/registrations/{reg}", token=token).status_code == 204
    assert stored(store) == []  # deleted when the withdrawal committed
    assert api.get("/activity-evidence?status=pending", token=staff).get_json() == []
    mine = api.get(f"/registrations/{reg}/activity-evidence?per_page=50", token=token).get_json()
    assert {e["status"] for e in mine} == {"withdrawn"} and next(e for e in mine if e["id"] == with_file["id"])
    again = api.post("/registrations", token=token, json={"organization_code": HIDA, "ties": ["volunteer"]})
    assert again.status_code == 201
    for _ in range(3):  # a new registration: the withdrawn ones no longer wait
        assert submit(token, again.get_json()["id"]).status_code == 201
    refused = submit(token, again.get_json()["id"])
    assert refused.status_code == 409 and refused.get_json()["code"] == "invalid_state"


def test_the_bound_holds_across_a_persons_registrations_with_one_organization(api, registrant, submit, monkeypatch):
    """The count is per person and 団体: another 団体 has its own."""
    monkeypatch.setattr(evidence_service, "PENDING_LIMIT", 3)
    _, token, reg = registrant()
    for _ in range(3):
        assert submit(token, reg).status_code == 201
    assert submit(token, reg).status_code == 409
    other = api.post("/registrations", token=token, json={"organization_code": GIFU, "ties": ["volunteer"]})
    assert submit(token, other.get_json()["id"]).status_code == 201  # another 団体 has its own bound


def test_uploads_are_rate_limited_per_account(app, api, registrant, submit):
    """Each upload may carry 5 MB to store: 30 an hour per account (API and page together)."""
    _, token, reg = registrant()
    _, other_token, other_reg = registrant()
    statuses = [submit(token, reg).status_code for _ in range(31)]
    assert statuses[:20] == [201] * 20 and set(statuses[20:30]) == {409} and statuses[30] == 429
    assert submit(other_token, other_reg).status_code == 201  # per account, not per address


# --- review -----------------------------------------------------------------------------------------

def test_staff_list_approve_and_the_activity_counts(api, registrant, submit, staff):
    user, token, reg = registrant()
    evidence = submit(token, reg, done_on=days_ago(30), file=pdf()).get_json()
    queue = api.get("/activity-evidence?status=pending", token=staff)
    assert queue.status_code == 200 and [e["id"] for e in queue.get_json()] == [evidence["id"]]
    approved = api.post(f"/activity-evidence/{evidence['id']}/approve", token=staff)
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    activities = api.get("/me/activities", token=token).get_json()
    assert activities == [{"organization_code": HIDA, "source": "evidence", "need_id": None,
                           "evidence_id": evidence["id"], "completed_on": days_ago(30)}] or \
        [(a["source"], a["evidence_id"], a["completed_on"]) for a in activities] == \
        [("evidence", evidence["id"], days_ago(30))]
    progress = api.get(f"/registrations/{reg}/premium-progress", token=token).get_json()
    assert progress["activities_in_window"] == 1
    again = api.post(f"/activity-evidence/{evidence['id']}/approve", token=staff)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    assert db.session.scalar(select(func.count(Activity.id)).where(Activity.user_id == user_of(user).id)) == 1
    assert api.get("/activity-evidence?status=pending", token=staff).get_json() == []


def test_reject_with_a_reason_keeps_the_file(api, registrant, submit, staff, store):
    _, token, reg = registrant()
    evidence = submit(token, reg, file=pdf()).get_json()
    rejected = api.post(f"/activity-evidence/{evidence['id']}/reject", token=staff,
                        json={"reason": "日付が読み取れません"})
    assert rejected.status_code == 200
    assert rejected.get_json()["status"] == "rejected" and rejected.get_json()["reason"] == "日付が読み取れません"
    assert rejected.get_json()["has_file"] is True and len(stored(store)) == 1
    own = api.get(f"/registrations/{reg}/activity-evidence", token=token).get_json()
    assert own[0]["status"] == "rejected" and own[0]["reason"] == "日付が読み取れません"


def test_reject_for_a_visible_individual_number_deletes_the_file_at_once(api, registrant, submit, staff, store):
    _, token, reg = registrant()
    evidence = submit(token, reg, file=jpeg_with_exif(), filename="a.jpg", content_type="image/jpeg").get_json()
    assert len(stored(store)) == 1
    rejected = api.post(f"/activity-evidence/{evidence['id']}/reject", token=staff,
                        json={"reason": "マイナンバーが見えています", "reason_code": "individual_number_visible"})
    assert rejected.status_code == 200
    body = rejected.get_json()
    assert body["status"] == "rejected" and body["reason_code"] == "individual_number_visible"
    assert body["has_file"] is False
    assert stored(store) == []
    for who in (token, staff):
        assert api.get(f"/activity-evidence/{evidence['id']}/file", token=who).status_code == 404


def test_reject_needs_a_reason(api, registrant, submit, staff):
    _, token, reg = registrant()
    evidence = submit(token, reg).get_json()
    for body in ({}, {"reason": ""}, {"reason": "x", "reason_code": "other"}, {"reason": "x" * 1001}):
        response = api.post(f"/activity-evidence/{evidence['id']}/reject", token=staff, json=body)
        assert response.status_code == 422


def test_a_prefecture_registration_is_reviewed_by_the_prefecture(api, registrant, submit, staff, make_account):
    _, token, reg = registrant(organization=GIFU)
    evidence = submit(token, reg).get_json()
    assert evidence["organization_code"] == GIFU
    prefecture = make_account("staff", GIFU)
    assert api.get("/activity-evidence", token=staff).get_json() == []  # 飛騨市 staff: not theirs
    assert api.post(f"/activity-evidence/{evidence['id']}/approve", token=staff).status_code == 404
    assert api.post(f"/activity-evidence/{evidence['id']}/approve", token=prefecture).status_code == 200


# --- who may see and do what ------------------------------------------------------------------------

def test_authorization_matrix(api, registrant, submit, staff, make_account, signup):
    _, owner, reg = registrant()
    evidence = submit(owner, reg, file=pdf()).get_json()
    eid = evidence["id"]
    _, stranger = signup()
    tokens = {"anonymous": None, "owner": owner, "stranger": stranger, "staff": staff,
              "other_staff": make_account("staff", TAKAYAMA), "national": make_account("national"),
              "admin": make_account("admin"), "host": make_account("host", HIDA)}
    expected = {
        ("GET", f"/registrations/{reg}/activity-evidence"): {"anonymous": 401, "owner": 200, "stranger": 404,
                                                             "staff": 403, "other_staff": 403, "national": 403,
                                                             "admin": 403, "host": 403},
        ("GET", "/activity-evidence"): {"anonymous": 401, "owner": 403, "stranger": 403, "staff": 200,
                                        "other_staff": 200, "national": 403, "admin": 403, "host": 403},
        ("GET", f"/activity-evidence/{eid}"): {"anonymous": 401, "owner": 200, "stranger": 404, "staff": 200,
                                               "other_staff": 404, "national": 403, "admin": 403, "host": 403},
        ("GET", f"/activity-evidence/{eid}/file"): {"anonymous": 401, "owner": 200, "stranger": 404, "staff": 200,
                                                    "other_staff": 404, "national": 403, "admin": 403, "host": 403},
        ("POST", f"/activity-evidence/{eid}/approve"): {"anonymous": 401, "owner": 403, "stranger": 403,
                                                        "other_staff": 404, "national": 403, "admin": 403,
                                                        "host": 403},
        ("POST", f"/activity-evidence/{eid}/reject"): {"anonymous": 401, "owner": 403, "stranger": 403,
                                                       "other_staff": 404, "national": 403, "admin": 403,
                                                       "host": 403},
    }
    for (method, path), by_role in expected.items():
        for role, status in by_role.items():
            kwargs = {"json": {"reason": "x"}} if path.endswith("/reject") else {}
            response = api.call(method, path, token=tokens[role], **kwargs)
            assert response.status_code == status, (method, path, role, response.get_json())
    for role in ("anonymous", "stranger", "staff", "national"):
        response = api.post(f"/registrations/{reg}/activity-evidence", token=tokens[role], data=form(),
                            content_type="multipart/form-data")
        assert response.status_code == {"anonymous": 401, "stranger": 404}.get(role, 403), role
    assert api.get(f"/activity-evidence/{eid}", token=owner).get_json()["status"] == "pending"


def test_unknown_ids_are_404(api, registrant, staff):
    _, token, _ = registrant()
    missing = "0190a3c4-0000-7000-8000-000000000000"
    assert api.get(f"/activity-evidence/{missing}/file", token=token).status_code == 404
    assert api.post(f"/activity-evidence/{missing}/approve", token=staff).status_code == 404
    assert api.post(f"/registrations/{missing}/activity-evidence", token=token, data=form(),
                    content_type="multipart/form-data").status_code == 404
    assert api.get("/activity-evidence/not-a-uuid/file", token=token).status_code == 404


def test_the_openapi_document_describes_the_upload(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    body = spec["paths"]["/api/v1/registrations/{registration_id}/activity-evidence"]["post"]["requestBody"]
    schema = spec["components"]["schemas"][body["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert schema["properties"]["file"] == {"type": "string", "format": "binary",
                                            "description": schema["properties"]["file"]["description"]}
    assert set(schema["required"]) == {"kind", "done_on", "description"}


# --- erasure ----------------------------------------------------------------------------------------

def test_erasure_deletes_the_files_and_the_text(api, registrant, submit, staff, store):
    _, token, reg = registrant()
    kept = submit(token, reg, file=pdf()).get_json()
    api.post(f"/activity-evidence/{kept['id']}/approve", token=staff)
    pending = submit(token, reg, file=plain_jpeg(), filename="x.jpg", content_type="image/jpeg").get_json()
    assert len(stored(store)) == 2
    assert api.delete("/me", token=token).status_code == 204
    assert stored(store) == []
    rows = {e.id.hex: e for e in db.session.scalars(select(ActivityEvidence))}
    assert all(e.file_name is None and e.description == "" and e.host_name is None for e in rows.values())
    assert {str(e.id): e.status for e in rows.values()} == {kept["id"]: "approved", pending["id"]: "withdrawn"}  # with its registration
    assert api.get(f"/activity-evidence/{pending['id']}/file", token=staff).status_code == 404


def test_sweep_removes_only_unreferenced_old_files(app, registrant, submit, store):
    from datetime import datetime, timezone

    from registry.evidence import service
    _, token, reg = registrant()
    submit(token, reg, file=pdf())
    orphan = store.save(b"%PDF-1.4 left by a crash %%EOF", "application/pdf")
    assert service.sweep_orphans(store) == 0  # too young: could be an upload in flight
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert service.sweep_orphans(store, now=later) == 1
    assert not store.exists(orphan) and len(list(store.names())) == 1


@pytest.mark.parametrize("field", ["description", "host_name"])
def test_nul_characters_are_422_not_a_database_error(registrant, submit, field):
    _, token, reg = registrant()
    response = submit(token, reg, **{field: "a\x00b"})
    assert response.status_code == 422 and field in response.get_json()["errors"]


def test_nul_in_a_rejection_reason_is_422(api, registrant, submit, staff):
    _, token, reg = registrant()
    evidence = submit(token, reg).get_json()
    response = api.post(f"/activity-evidence/{evidence['id']}/reject", token=staff, json={"reason": "a\u0000b"})
    assert response.status_code == 422 and "reason" in response.get_json()["errors"]


def test_the_sweep_command(app, registrant, submit, store, monkeypatch):
    from registry.common.time import utcnow
    from registry.evidence import service
    _, token, reg = registrant()
    submit(token, reg, file=pdf())
    orphan = store.save(b"%PDF-1.4 left by a crash %%EOF", "application/pdf")
    result = app.test_cli_runner().invoke(args=["sweep-uploads"])
    assert result.exit_code == 0 and "removed 0" in result.output and len(stored(store)) == 2  # too young
    later = utcnow() + timedelta(hours=2)
    monkeypatch.setattr(service, "utcnow", lambda: later)  # an hour's grace has passed
    result = app.test_cli_runner().invoke(args=["sweep-uploads"])
    assert result.exit_code == 0 and "removed 1" in result.output and orphan not in stored(store)
    assert len(stored(store)) == 1
