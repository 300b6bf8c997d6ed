"""Needs and the staff console through the pages (forms, CSRF, roles)."""
from datetime import timedelta

from sqlalchemy import select

from registry.accounts import service as accounts
from registry.common.time import today_tokyo
from registry.extensions import db
from registry.needs.models import Application
from registry.registrations.models import Activity


def _day(n):
    return (today_tokyo() + timedelta(days=n)).isoformat()


def _staff(browser, code="212172"):
    accounts.create_user(email=f"staff-{code}@example.jp", password="staff-password-1", role="staff",
                         organization_code=code)
    db.session.commit()
    browser.login(f"staff-{code}@example.jp", "staff-password-1")


def _post_need(browser, **fields):
    browser.get("/staff/needs/new")
    body = {"kind": "volunteer", "title": "雪かき", "description": "屋根の雪かき", "host_name": "町内会",
            "skills_text": "力仕事, 農作業", "starts_on": _day(0), "ends_on": _day(1), "apply_by": _day(0),
            "capacity": "2", "reward": "昼食", "counts_as_activity": "on", **fields}
    return browser.post("/staff/needs/new", body)


def test_staff_posts_a_need_and_errors_keep_input(browser):
    _staff(browser)
    bad = _post_need(browser, title="残すタイトル", ends_on=_day(-5))
    assert bad.status_code == 422 and 'value="残すタイトル"' in bad.get_data(as_text=True)
    done = _post_need(browser)
    assert done.status_code == 302 and "/staff/needs/" in done.headers["Location"]
    console = browser.get("/staff").get_data(as_text=True)
    assert "雪かき" in console and 'id="premium"' in console and 'id="registrants"' in console


def test_resident_applies_staff_accepts_and_completes(app, browser):
    _staff(browser)
    need_url = _post_need(browser).headers["Location"]
    need_id = need_url.rsplit("/", 1)[-1]
    resident = app.test_client()
    from tests.conftest import Browser
    person = Browser(resident)
    person.signup(email="applicant@example.jp")
    page = person.get(f"/needs/{need_id}").get_data(as_text=True)
    assert f'action="/needs/{need_id}/apply"' in page
    assert person.post(f"/needs/{need_id}/apply", {"message": "よろしくお願いします"}).status_code == 302
    again = person.post(f"/needs/{need_id}/apply", {})
    assert again.status_code == 409
    my = person.get("/my").get_data(as_text=True)
    assert 'id="applications"' in my and "雪かき" in my

    staff_page = browser.get(need_url).get_data(as_text=True)
    assert "よろしくお願いします" in staff_page
    application = db.session.scalar(select(Application))
    for decision in ("accept", "complete"):
        browser.get(need_url)
        response = browser.post(f"/staff/applications/{application.id}/{decision}", {"back": need_url})
        assert response.status_code == 302 and response.headers["Location"].endswith(need_url)
    db.session.expire_all()
    assert db.session.get(Application, application.id).status == "completed"
    assert db.session.scalar(select(Activity).where(Activity.need_id == application.need_id)) is not None
    my = person.get("/my").get_data(as_text=True)
    activities = my[my.index('id="activities"'):my.index('id="inbox"')]
    assert "飛騨市" in activities


def test_needs_browse_filters(browser):
    _staff(browser)
    _post_need(browser, title="リモート翻訳", remote="on")
    _post_need(browser, title="田植え体験", kind="experience")
    page = browser.get("/needs?q=翻訳").get_data(as_text=True)
    assert "リモート翻訳" in page and "田植え体験" not in page
    assert "田植え体験" in browser.get("/needs?kind=experience").get_data(as_text=True)
    assert browser.get("/needs?prefecture=99").status_code == 200  # a bad filter is explained, not a 500
    assert "田植え体験" in browser.get("/organizations/212172").get_data(as_text=True)


def test_staff_pages_refuse_residents_and_other_staff(browser, app):
    browser.signup()
    assert browser.get("/staff").status_code == 403
    assert browser.get("/staff/needs/new").status_code == 403


def test_the_staff_console_shows_its_funnel_as_a_chart_with_a_table(browser, signup, api):
    """Its own 団体's funnel, unsuppressed (two registrants, under MIN_CELL), each stage's conversion."""
    for _ in range(2):
        _, token = signup()
        assert api.post("/registrations", token=token, json={"organization_code": "212172",
                                                              "ties": ["family"]}).status_code == 201
    _staff(browser)
    console = browser.get("/staff").get_data(as_text=True)
    section = console[console.index('id="funnel"'):]
    assert 'data-role="chart"' in section and 'aria-describedby="chart-funnel-table"' in section
    table = section[section.index('id="chart-funnel-table"'):section.index("</table>")]
    month = today_tokyo().strftime("%Y-%m")
    assert f'<th scope="row">{month}</th>' in table
    cells = table[table.index(f'<th scope="row">{month}</th>'):].split("<td>")[1:]
    assert cells[0].startswith("2") and cells[1].startswith("0 ") and "(0%)" in cells[1]
