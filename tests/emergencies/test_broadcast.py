"""Declaring an emergency notifies (kind `emergency`) everyone with an active registration with an affected
団体 — a prefecture reaching its municipalities' registrants — in the app and by e-mail to a verified
address, without announcement consent, through the fan-out of send-notifications: each person once
however many of their registrations it touches and however runs overlap; staff and the CLI see the
delivery (API.md "Emergencies")."""
import uuid

import pytest
from sqlalchemy import func, select

from registry.accounts import service as accounts_service
from registry.accounts.models import User
from registry.common.time import utcnow
from registry.extensions import db
from registry.notifications import broadcasts
from registry.notifications.models import EMERGENCY, Broadcast, Notification, OutboxMessage
from registry.notifications.service import can_email
from registry.workflows.notices import AUDIENCES, fan_out_broadcasts
from tests.conftest import Api
from tests.emergencies.conftest import emergency_body
from tests.factories import CHIYODA, GIFU, GIFU_CITY, HIDA, NAHA, TAKAYAMA, register
from tests.parallel import together
from tests.notifications.conftest import send
from tests.notifications.smtp import smtp, smtp_server  # noqa: F401  (fixtures)


def _person(api, signup, *registered, home=CHIYODA, verified=True):
    """A resident registered with each code (no consent to announcements), the address check dropped."""
    user_json, token = signup(home=home)
    for code in registered:
        register(api, token, code)
    user = db.session.get(User, uuid.UUID(user_json["id"]))
    if verified:
        user.email_verified_at = utcnow()
    db.session.query(OutboxMessage).filter(OutboxMessage.user_id == user.id).delete()
    db.session.commit()
    return user, token


def _notified(user) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.kind == EMERGENCY))


def _delivery(api, token, emergency) -> tuple:
    shown = api.get(f"/emergencies/{emergency['id']}", token=token).get_json()
    return shown["recipients"], shown["notified"], shown["emailed"], shown["failed"]


def test_declaring_answers_at_once_and_the_fan_out_tells_each_tied_person_once_without_consent(
        app, api, signup, make_account, smtp):
    verified, reader_token = _person(api, signup, HIDA)
    twice, _ = _person(api, signup, HIDA, GIFU)  # two registrations the emergency touches: one notice
    unverified, _ = _person(api, signup, HIDA, verified=False)
    elsewhere, _ = _person(api, signup, NAHA)
    assert not verified.consent_announcements and can_email(verified, EMERGENCY)
    staff = make_account("staff", GIFU)
    emergency = api.post("/emergencies", token=staff, json=emergency_body(GIFU, HIDA)).get_json()
    assert _notified(verified) == 0  # nothing per recipient in the request
    assert _delivery(api, staff, emergency) == (None, 0, 0, 0)

    assert fan_out_broadcasts() == {EMERGENCY: 3}
    assert fan_out_broadcasts() == {}
    assert [_notified(u) for u in (verified, twice, unverified, elsewhere)] == [1, 1, 1, 0]
    [item] = [n for n in api.get("/me/notifications", token=reader_token).get_json() if n["kind"] == EMERGENCY]
    assert item["title"] == "飛騨地方で大雨災害" and item["link"] == f"/emergencies/{emergency['id']}"
    assert _delivery(api, staff, emergency) == (3, 3, 0, 0)
    report = send(app)
    assert report.sent == 2 and sorted(m["To"] for m in smtp.messages) == sorted([verified.email, twice.email])
    assert "飛騨地方で大雨災害" in smtp.messages[0]["Subject"]
    assert f"/emergencies/{emergency['id']}" in smtp.messages[0].get_body(("plain",)).get_content()
    assert _delivery(api, staff, emergency) == (3, 3, 2, 0)


def test_a_prefecture_reaches_its_municipalities_a_municipality_not_its_prefecture(api, signup, make_account):
    of_prefecture, _ = _person(api, signup, GIFU)
    of_town, _ = _person(api, signup, HIDA)
    of_neighbour, _ = _person(api, signup, TAKAYAMA)
    living_in_gifu, _ = _person(api, signup, TAKAYAMA, home=GIFU_CITY)  # no exception at home
    api.post("/emergencies", token=make_account("staff", HIDA), json=emergency_body(HIDA))
    fan_out_broadcasts()
    assert [_notified(u) for u in (of_prefecture, of_town, of_neighbour, living_in_gifu)] == [0, 1, 0, 0]
    api.post("/emergencies", token=make_account("staff", GIFU), json=emergency_body(GIFU))
    fan_out_broadcasts()
    assert [_notified(u) for u in (of_prefecture, of_town, of_neighbour, living_in_gifu)] == [1, 2, 1, 1]


def test_withdrawn_erased_and_deactivated_people_are_not_reached(api, signup, make_account):
    gone, gone_token = _person(api, signup, HIDA)
    withdrawn, withdrawn_token = _person(api, signup, HIDA)
    staying, _ = _person(api, signup, HIDA)
    assert api.delete("/me", token=gone_token).status_code == 204
    reg = api.get("/registrations", token=withdrawn_token).get_json()[0]
    assert api.delete(f"/registrations/{reg['id']}", token=withdrawn_token).status_code == 204
    api.post("/emergencies", token=make_account("staff", HIDA), json=emergency_body(HIDA))
    fan_out_broadcasts()
    assert [_notified(u) for u in (gone, withdrawn, staying)] == [0, 0, 1]


def test_a_run_stopped_half_way_goes_on_where_it_stopped(api, signup, make_account):
    people = [_person(api, signup, HIDA)[0] for _ in range(5)]
    api.post("/emergencies", token=make_account("staff", HIDA), json=emergency_body(HIDA))
    assert broadcasts.fan_out(AUDIENCES, batch=2, max_batches=1) == {EMERGENCY: 2}  # then the process dies
    broadcast = db.session.scalar(select(Broadcast).where(Broadcast.kind == EMERGENCY))
    assert broadcast.finished_at is None and broadcast.notified == 2 and broadcast.recipients == 5
    broadcasts.fan_out(AUDIENCES, batch=2)
    db.session.refresh(broadcast)
    assert broadcast.finished_at is not None and broadcast.notified == 5
    assert [_notified(p) for p in people] == [1] * 5


def test_the_command_line_shows_the_progress_of_active_emergencies(app, api, signup, make_account, smtp):
    for _ in range(4):
        _person(api, signup, HIDA)
    staff = make_account("staff", HIDA)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["emergency-status"]).output.strip() == "no active emergency"
    emergency = api.post("/emergencies", token=staff, json=emergency_body(HIDA)).get_json()
    waiting = runner.invoke(args=["emergency-status"])
    assert waiting.exit_code == 0 and emergency["id"] in waiting.output and "not yet fanned out" in waiting.output
    result = runner.invoke(args=["send-notifications"])
    assert result.exit_code == 0, result.output
    assert "emergency 4" in result.output  # fanned out
    assert "[########################] 100.0%  notified 4 of 4, e-mailed 4, failed 0" in result.output
    status = runner.invoke(args=["emergency-status"]).output
    assert "notified 4 of 4, e-mailed 4, failed 0" in status and "0 offer(s)" in status
    assert api.post(f"/emergencies/{emergency['id']}/close", token=staff).status_code == 200
    assert runner.invoke(args=["emergency-status"]).output.strip() == "no active emergency"


@pytest.mark.committing
@pytest.mark.postgres_only
def test_overlapping_runs_notify_each_person_once(app, client):
    """Four runs at once over one emergency reaching 30 people (some twice over): 30 notifications,
    30 e-mails queued, none for the person outside."""
    api = Api(client)
    with app.app_context():
        people = []
        for n in range(31):
            response = api.post("/auth/signup", json={
                "email": f"overlap-{n}-{uuid.uuid4().hex[:6]}@example.jp", "password": "correct-horse-9",
                "display_name": "並行", "home_municipality_code": CHIYODA, "birth_year": 1980})
            token = response.get_json()["token"]
            codes = (NAHA,) if n == 30 else (HIDA, GIFU) if n % 3 == 0 else (TAKAYAMA,) if n % 3 == 1 else (HIDA,)
            for code in codes:
                api.post("/registrations", token=token, json={"organization_code": code, "ties": ["family"]})
            people.append(uuid.UUID(response.get_json()["user"]["id"]))
        outside = people.pop()
        db.session.execute(User.__table__.update().values(email_verified_at=utcnow()))
        db.session.query(OutboxMessage).delete()
        accounts_service.create_user(email="overlap-staff@example.jp", password="staff-password-1", role="staff",
                                     organization_code=GIFU)
        db.session.commit()
        token = api.post("/auth/login", json={"email": "overlap-staff@example.jp",
                                              "password": "staff-password-1"}).get_json()["token"]
        assert api.post("/emergencies", token=token, json=emergency_body(GIFU, HIDA)).status_code == 201

    def run(_i, start):
        with app.app_context():
            start()
            broadcasts.fan_out(AUDIENCES, batch=4)

    together(4, run, timeout=60)
    with app.app_context():
        counts = dict(db.session.execute(select(Notification.user_id, func.count()).where(
            Notification.kind == EMERGENCY).group_by(Notification.user_id)).all())
        assert counts == {person: 1 for person in people} and outside not in counts
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 30
        assert db.session.scalar(select(Broadcast.notified)) == 30
