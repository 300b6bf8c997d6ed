"""Pages through the test client: forms, CSRF, sessions, errors that keep what was typed."""
import csv
import io
import re

from sqlalchemy import func, select

from registry.accounts import service as accounts
from registry.accounts.models import User
from registry.extensions import db
from registry.registrations.models import Registration


def test_landing_explains_and_finds_a_organization(browser):
    page = browser.get("/").get_data(as_text=True)
    assert '<html lang="ja">' in page and "ふるさと住民登録" in page
    found = browser.get("/?q=ひだ").get_data(as_text=True)
    assert "飛騨市" in found and 'href="/organizations/212172"' in found


def test_english_by_query_and_header(browser):
    assert '<html lang="en">' in browser.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in browser.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_security_headers_on_pages(browser):
    response = browser.get("/")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_form_without_csrf_is_400_and_changes_nothing(browser):
    before = db.session.scalar(select(func.count()).select_from(User))
    response = browser.post("/signup", {"email": "x@example.jp", "password": "password-123", "display_name": "x",
                                        "home_municipality_code": "131016", "birth_year": "1990"}, csrf=False)
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(User)) == before


def test_signup_signs_in_with_a_safe_cookie(browser):
    response = browser.signup()
    assert response.status_code == 302 and response.headers["Location"].endswith("/my")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "ページ太郎" in browser.get("/my").get_data(as_text=True)


def test_signup_errors_keep_what_was_typed(browser):
    response = browser.signup(email="keep@example.jp", birth_year="19x0", display_name="残す名前")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="keep@example.jp"' in page and 'value="残す名前"' in page
    assert "password-123" not in page
    assert 'aria-invalid="true"' in page and "整数ではありません。" in page


def test_register_from_the_organization_page_and_see_the_certificate(browser):
    browser.signup()
    page = browser.get("/organizations/212172").get_data(as_text=True)
    assert 'name="ties"' in page and 'action="/organizations/212172/register"' in page
    nothing = browser.post("/organizations/212172/register", {})
    assert nothing.status_code == 422
    done = browser.post("/organizations/212172/register", {"ties": ["birthplace", "repeat_visit"]})
    assert done.status_code == 302
    my = browser.get("/my").get_data(as_text=True)
    assert 'data-role="certificate-qr"' in my and "<svg" in my
    token = re.search(r"/verify\?token=([\w.\-]+)", my)
    assert token is None or token  # the token lives inside the QR image, not as text
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 1


def test_verify_page(browser, api, signup):
    _, token = signup()
    reg = api.post("/registrations", token=token, json={"organization_code": "212172", "ties": ["family"]}).get_json()
    certificate = api.get(f"/registrations/{reg['id']}/certificate", token=token).get_json()
    valid = browser.get(f"/verify?token={certificate['token']}").get_data(as_text=True)
    assert "有効" in valid and "飛騨市" in valid
    forged = browser.get(f"/verify?token={certificate['token'][:-3]}abc").get_data(as_text=True)
    assert "無効" in forged or "Not valid" in forged


def test_pages_need_the_right_role(browser, app):
    assert browser.get("/my").headers["Location"].startswith("/login?next=/my")
    browser.signup()
    assert browser.get("/dashboard").status_code == 403


def test_dashboard_for_the_national_office(browser):
    accounts.create_user(email="nat@example.jp", password="national-pass-1", role="national")
    db.session.commit()
    assert browser.login("nat@example.jp", "national-pass-1").headers["Location"].endswith("/dashboard")
    page = browser.get("/dashboard").get_data(as_text=True)
    assert page.count('data-role="chart"') == 3 and "10,000,000" in page  # prefectures, growth, the funnel
    assert 'id="chart-funnel-table"' in page and 'id="types"' in page
    types = page[page.index('id="types"'):page.index('id="funnel"')]
    assert types.count("<tr><td>") == 7  # every type of the typology, with its people and registrations
    exported = browser.get("/dashboard/by-prefecture.csv")
    assert exported.mimetype == "text/csv"
    raw = exported.get_data()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 48 and b"\n" not in raw.replace(b"\r\n", b"")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert len(rows) == 47 and list(rows[0])[:2] == ["prefecture_code", "name"]  # identifiers first


def test_wrong_password_page(browser, signup):
    user, _ = signup()
    response = browser.login(user["email"], "wrong-password")
    assert response.status_code == 401 and "メールアドレスまたはパスワードが正しくありません。" in response.get_data(as_text=True)


def test_erase_needs_confirmation(browser):
    browser.signup()
    browser.get("/my")
    browser.post("/my/erase", {})
    assert db.session.scalar(select(User).where(User.email_key == "page-user@example.jp")) is not None
    browser.get("/my")
    response = browser.post("/my/erase", {"confirm": "erase"})
    assert response.status_code == 302
    assert db.session.scalar(select(User).where(User.email_key == "page-user@example.jp")) is None


def test_unknown_page_is_html(browser):
    response = browser.get("/organizations/999999")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_verify_email_page_confirms_on_post_only(app, browser):
    from registry.accounts.models import User
    from registry.notifications import verification
    browser.signup()
    user = db.session.scalar(select(User).where(User.email_key == "page-user@example.jp"))
    token = verification.make_token(user, app.config["SECRET_KEY"])
    page = browser.get(f"/verify-email?token={token}")
    assert page.status_code == 200 and 'name="token"' in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is None  # opening the link changes nothing
    assert browser.post("/verify-email", {"token": token}).status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is not None
    assert browser.post("/verify-email", {"token": "garbage"}).status_code == 422
