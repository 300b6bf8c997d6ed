"""An announcement is notified (kind `announcement`) to every registrant of the 団体 who consented to
announcements, in the app and by e-mail to a verified address, through the fan-out of
send-notifications: posting answers at once; each person once however runs overlap; staff see the
delivery (API.md "Trust rules (v1.1)")."""
import uuid

import pytest
from sqlalchemy import func, select

from registry.accounts.models import User
from registry.accounts import service as accounts_service
from registry.common.time import utcnow
from registry.extensions import db
from registry.notifications import broadcasts
from registry.notifications.models import ANNOUNCEMENT, Broadcast, Notification, OutboxMessage
from registry.workflows.notices import AUDIENCES, fan_out_broadcasts
from tests.conftest import Api
from tests.parallel import together
from tests.notifications.conftest import send
from tests.notifications.smtp import smtp, smtp_server  # noqa: F401  (fixtures)

HIDA, GIFU, GIFU_CITY, TAKAYAMA, CHIYODA = "212172", "210005", "212016", "212032", "131016"


def _person(api, signup, *, home=CHIYODA, registered=(HIDA,), consent=True, verified=True):
    user_json, token = signup(home=home)
    for code in registered:
        assert api.post("/registrations", token=token,
                        json={"organization_code": code, "ties": ["family"]}).status_code == 201
    if consent:
        api.patch("/me", token=token, json={"consents": {"announcements": True}})
    user = db.session.get(User, uuid.UUID(user_json["id"]))
    if verified:
        user.email_verified_at = utcnow()
    db.session.query(OutboxMessage).filter(OutboxMessage.user_id == user.id).delete()  # the address check
    db.session.commit()
    return user, token


def _post(api, staff, code, title="雪まつりのお知らせ"):
    response = api.post(f"/organizations/{code}/announcements", token=staff,
                        json={"title": title, "body": "2月に古川町で雪まつりを開きます。"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _announced(user_id) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.kind == ANNOUNCEMENT))


def test_posting_answers_at_once_and_the_fan_out_reaches_each_consenting_registrant_once(
        app, api, signup, make_account, smtp):
    verified, reader_token = _person(api, signup)
    unverified, _ = _person(api, signup, verified=False)
    refusing, _ = _person(api, signup, consent=False)
    elsewhere, _ = _person(api, signup, registered=(TAKAYAMA,))
    staff = make_account("staff", HIDA)
    posted = _post(api, staff, HIDA)
    assert _announced(verified.id) == 0  # nothing per recipient in the request
    delivery = api.get(f"/organizations/{HIDA}/announcements/{posted['id']}", token=staff).get_json()
    assert (delivery["recipients"], delivery["notified"], delivery["emailed"], delivery["failed"]) == (None, 0, 0, 0)

    assert fan_out_broadcasts() == {ANNOUNCEMENT: 2}
    assert fan_out_broadcasts() == {}  # finished: a second run does nothing
    assert [_announced(u.id) for u in (verified, unverified, refusing, elsewhere)] == [1, 1, 0, 0]
    [item] = [n for n in api.get("/me/notifications", token=reader_token).get_json() if n["kind"] == ANNOUNCEMENT]
    assert (item["title"], item["body"]) == ("雪まつりのお知らせ", "2月に古川町で雪まつりを開きます。")
    report = send(app)
    assert report.sent == 1 and [m["To"] for m in smtp.messages] == [verified.email]
    assert "雪まつりのお知らせ" in smtp.messages[0]["Subject"]
    delivery = api.get(f"/organizations/{HIDA}/announcements/{posted['id']}", token=staff).get_json()
    assert (delivery["recipients"], delivery["notified"], delivery["emailed"], delivery["failed"]) == (2, 2, 1, 0)


def test_a_prefecture_reaches_its_municipalities_registrants_but_not_its_own_residents(api, signup, make_account):
    direct, _ = _person(api, signup, registered=(GIFU,))
    derived, _ = _person(api, signup, registered=(HIDA,))
    resident_of_gifu, _ = _person(api, signup, home=GIFU_CITY, registered=(HIDA,))  # no derived link at home
    _post(api, make_account("staff", GIFU), GIFU, "岐阜県から")
    fan_out_broadcasts()
    assert [_announced(u.id) for u in (direct, derived, resident_of_gifu)] == [1, 1, 0]


def test_a_run_stopped_half_way_goes_on_where_it_stopped(api, signup, make_account):
    people = [_person(api, signup)[0] for _ in range(5)]
    _post(api, make_account("staff", HIDA), HIDA)
    assert broadcasts.fan_out(AUDIENCES, batch=2, max_batches=1) == {ANNOUNCEMENT: 2}  # then the process dies
    broadcast = db.session.scalar(select(Broadcast))
    assert broadcast.finished_at is None and broadcast.notified == 2 and broadcast.recipients == 5
    broadcasts.fan_out(AUDIENCES, batch=2)
    db.session.refresh(broadcast)
    assert broadcast.finished_at is not None and broadcast.notified == 5
    assert [_announced(p.id) for p in people] == [1] * 5


def test_an_erased_or_withdrawn_person_is_not_reached(api, signup, make_account):
    gone, gone_token = _person(api, signup)
    withdrawn, withdrawn_token = _person(api, signup)
    staying, _ = _person(api, signup)
    assert api.delete("/me", token=gone_token).status_code == 204
    reg = api.get("/registrations", token=withdrawn_token).get_json()[0]
    assert api.delete(f"/registrations/{reg['id']}", token=withdrawn_token).status_code == 204
    _post(api, make_account("staff", HIDA), HIDA)
    fan_out_broadcasts()
    assert [_announced(u.id) for u in (gone, withdrawn, staying)] == [0, 0, 1]


def test_only_the_announcing_staff_see_the_delivery(api, make_account):
    staff = make_account("staff", HIDA)
    posted = _post(api, staff, HIDA)
    other = make_account("staff", TAKAYAMA)
    assert api.get(f"/organizations/{TAKAYAMA}/announcements/{posted['id']}", token=other).status_code == 404
    assert api.get(f"/organizations/{HIDA}/announcements/{posted['id']}", token=other).status_code == 403
    assert api.get(f"/organizations/{HIDA}/announcements/{uuid.uuid4()}", token=staff).status_code == 404


@pytest.mark.committing
@pytest.mark.postgres_only
def test_overlapping_runs_notify_each_person_once(app, client):
    """Four runs at once over one announcement to 30 people: 30 notifications, 30 e-mails queued."""
    api = Api(client)
    with app.app_context():
        people = []
        for n in range(30):
            response = api.post("/auth/signup", json={
                "email": f"overlap-{n}-{uuid.uuid4().hex[:6]}@example.jp", "password": "correct-horse-9",
                "display_name": "並行", "home_municipality_code": CHIYODA, "birth_year": 1980})
            token = response.get_json()["token"]
            api.post("/registrations", token=token, json={"organization_code": HIDA, "ties": ["family"]})
            api.patch("/me", token=token, json={"consents": {"announcements": True}})
            people.append(uuid.UUID(response.get_json()["user"]["id"]))
        db.session.execute(User.__table__.update().where(User.id.in_(people)).values(email_verified_at=utcnow()))
        db.session.query(OutboxMessage).delete()
        accounts_service.create_user(email="overlap-staff@example.jp", password="staff-password-1", role="staff",
                                     organization_code=HIDA)
        db.session.commit()
        token = api.post("/auth/login", json={"email": "overlap-staff@example.jp",
                                              "password": "staff-password-1"}).get_json()["token"]
        assert api.post(f"/organizations/{HIDA}/announcements", token=token,
                        json={"title": "重ねて送る", "body": "一度だけ届くこと"}).status_code == 201

    def run(_i, start):
        with app.app_context():
            start()
            broadcasts.fan_out(AUDIENCES, batch=4)

    together(4, run, timeout=60)
    with app.app_context():
        counts = dict(db.session.execute(select(Notification.user_id, func.count()).where(
            Notification.kind == ANNOUNCEMENT).group_by(Notification.user_id)).all())
        assert counts == {person: 1 for person in people}
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 30
        assert db.session.scalar(select(Broadcast.notified)) == 30


def test_the_staff_console_shows_each_announcements_delivery(api, signup, browser):
    _person(api, signup)
    _person(api, signup, verified=False)
    accounts_service.create_user(email="console-staff@example.jp", password="staff-password-1", role="staff",
                                 organization_code=HIDA)
    db.session.commit()
    assert browser.login("console-staff@example.jp", "staff-password-1").status_code == 302
    browser.get("/staff")
    assert browser.post("/staff/announcements", {"title": "雪まつり", "body": "2月に開催"}).status_code == 302
    waiting = browser.get("/staff").get_data(as_text=True)
    assert "次回の送信処理で配信が始まります。" in waiting
    fan_out_broadcasts()
    page = browser.get("/staff").get_data(as_text=True)
    assert "通知 2 / 2 人、メール送信 0 件、失敗 0 件" in page and '<progress value="2" max="2"' in page
