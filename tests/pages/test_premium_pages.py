"""Issue 9's pages: evidence from /my, its review and the benefits on /staff, the notifications inbox."""
import io
from datetime import timedelta

from sqlalchemy import select

from registry.accounts import service as accounts
from registry.benefits.models import Benefit
from registry.common.time import today_tokyo
from registry.evidence.models import ActivityEvidence
from registry.extensions import db
from registry.registrations.models import Activity
from tests.evidence.images import png_with_metadata
from tests.conftest import Browser

PNG = png_with_metadata()


def _registered_resident(browser):
    browser.signup()
    browser.get("/organizations/212172")
    browser.post("/organizations/212172/register", {"ties": ["family"]})
    return browser


def test_evidence_sent_from_my_and_approved_on_staff(app, browser):
    _registered_resident(browser)
    page = browser.get("/my").get_data(as_text=True)
    action = page[page.index('action="/my/registrations/'):].split('"')[1]
    done_on = (today_tokyo() - timedelta(days=3)).isoformat()
    response = browser.post(action, {"kind": "volunteer", "done_on": done_on, "description": "草刈りをしました",
                                     "host_name": "古川町内会", "file": (io.BytesIO(PNG), "photo.png")},
                            content_type="multipart/form-data")
    assert response.status_code == 302
    item = db.session.scalar(select(ActivityEvidence))
    assert item is not None and item.has_file and item.status == "pending"

    accounts.create_user(email="ev-staff@example.jp", password="staff-password-1", role="staff",
                         organization_code="212172")
    db.session.commit()
    staff = Browser(app.test_client())
    staff.login("ev-staff@example.jp", "staff-password-1")
    console = staff.get("/staff").get_data(as_text=True)
    assert "草刈りをしました" in console and f"/api/v1/activity-evidence/{item.id}/file" in console
    assert staff.get(f"/api/v1/activity-evidence/{item.id}/file").mimetype == "image/png"  # the session may view it
    assert staff.post(f"/staff/evidence/{item.id}/approve", {}).status_code == 302
    assert db.session.scalar(select(Activity).where(Activity.evidence_id == item.id)) is not None
    inbox = browser.get("/my").get_data(as_text=True)
    assert 'id="notifications"' in inbox


def test_future_evidence_is_refused_with_a_message(browser):
    _registered_resident(browser)
    page = browser.get("/my").get_data(as_text=True)
    action = page[page.index('action="/my/registrations/'):].split('"')[1]
    response = browser.post(action, {"kind": "volunteer", "done_on": (today_tokyo() + timedelta(days=3)).isoformat(),
                                     "description": "未来"}, content_type="multipart/form-data")
    assert response.status_code == 302
    assert db.session.scalar(select(ActivityEvidence)) is None


def test_staff_publish_and_remove_benefits(app, browser):
    accounts.create_user(email="b-staff@example.jp", password="staff-password-1", role="staff",
                         organization_code="212172")
    db.session.commit()
    browser.login("b-staff@example.jp", "staff-password-1")
    browser.get("/staff")
    assert browser.post("/staff/benefits", {"title": "温泉の住民料金", "tier": "basic", "kind": "facility"}).status_code == 302
    benefit = db.session.scalar(select(Benefit))
    assert benefit.title == "温泉の住民料金"
    assert "温泉の住民料金" in browser.get("/staff").get_data(as_text=True)
    assert browser.post(f"/staff/benefits/{benefit.id}/delete", {}).status_code == 302


def test_evidence_while_the_file_store_is_down_is_refused_with_a_message(app, browser):
    """An unreachable object store: the page says so, and nothing is recorded (no row without its file)."""
    from tests.servers import free_port
    settings = {"EVIDENCE_STORE": "s3://evidence-down/x", "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
                "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    previous = {key: app.config.get(key) for key in settings}
    _registered_resident(browser)
    page = browser.get("/my").get_data(as_text=True)
    action = page[page.index('action="/my/registrations/'):].split('"')[1]
    app.config.update(settings)
    try:
        response = browser.post(action, {"kind": "volunteer", "done_on": (today_tokyo() - timedelta(days=3)).isoformat(),
                                         "description": "草刈りをしました", "file": (io.BytesIO(PNG), "photo.png")},
                                content_type="multipart/form-data")
    finally:
        app.config.update(previous)
    assert response.status_code == 302
    assert db.session.scalar(select(ActivityEvidence)) is None
    assert "ただいまファイルを保存・表示できません" in browser.get("/my").get_data(as_text=True)
