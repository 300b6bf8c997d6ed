"""The needs services without HTTP: rules, counts, the waitlist, scoring and the calendar writer."""
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from registry.accounts import service as accounts
from registry.common.time import TOKYO
from registry.errors import Problem
from registry.extensions import db
from registry.needs import recommendations, service
from registry.needs.calendar import escape_text, fold
from registry.needs.models import HOLDS_PLACE, Application, Need, cells_near, geo_cell
from registry.registrations.models import Activity
from tests.factories import HIDA, TAKAYAMA

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)  # 2026-07-01 12:00 in Tokyo, a Wednesday
TODAY = NOW.astimezone(TOKYO).date()


def _person(home="131016", birth_year=1990, **profile):
    user = accounts.create_resident(email=f"s-{uuid.uuid4().hex[:8]}@example.jp", password="password-123",
                              display_name="住民", home_municipality_code=home, birth_year=birth_year,
                              now=NOW)
    for name, value in profile.items():
        setattr(user, name, value)
    return user


def _staff(code=HIDA):
    return accounts.create_user(email=f"staff-{uuid.uuid4().hex[:8]}@example.jp", password="password-123",
                                role="staff", organization_code=code)


def _need(staff, **fields):
    data = {"organization_code": staff.organization_code, "kind": "volunteer", "title": "草刈り",
            "starts_on": TODAY + timedelta(days=10), "ends_on": TODAY + timedelta(days=10),
            "apply_by": TODAY + timedelta(days=5), "capacity": 2}
    data.update(fields)
    return service.create_need(staff, data, now=NOW)


def _recount(need: Need) -> int:
    return db.session.scalar(select(func.count()).select_from(Application).where(
        Application.need_id == need.id, Application.status.in_(HOLDS_PLACE)))


def test_can_manage_is_staff_of_the_need_organization():
    staff, other, resident = _staff(), _staff(TAKAYAMA), _person()
    need = _need(staff)
    assert service.can_manage(staff, need)
    assert not service.can_manage(other, need) and not service.can_manage(resident, need)
    assert not service.can_manage(None, need)
    with pytest.raises(Problem) as refused:
        _need(other, organization_code=HIDA)
    assert (refused.value.status, refused.value.code) == (403, "forbidden")


def test_drafts_are_seen_only_by_their_managers():
    staff = _staff()
    need = _need(staff)
    need.status = "draft"
    assert service.can_view(staff, need) and not service.can_view(_person(), need)
    with pytest.raises(Problem) as hidden:
        service.get_need(None, need.id)
    assert hidden.value.status == 404


def test_status_reads_closed_after_apply_by():
    need = _need(_staff())
    assert need.effective_status(TODAY + timedelta(days=5)) == "open"
    assert need.effective_status(TODAY + timedelta(days=6)) == "closed"
    with pytest.raises(Problem) as late:
        service.apply(_person(), need.id, now=NOW + timedelta(days=6))
    assert (late.value.status, late.value.code) == (409, "need_closed")


def test_accepted_count_follows_every_change_and_waitlist_order():
    staff = _staff()
    need = _need(staff, capacity=2, starts_on=TODAY, ends_on=TODAY, apply_by=TODAY)
    apps = [service.apply(_person(), need.id, now=NOW + timedelta(seconds=i)) for i in range(3)]
    service.decide(staff, apps[0].id, "accepted", now=NOW)
    service.decide(staff, apps[1].id, "accepted", now=NOW)
    late = [service.apply(_person(), need.id, now=NOW + timedelta(minutes=i)) for i in (2, 1)]
    assert [a.status for a in late] == ["waitlisted", "waitlisted"]
    with pytest.raises(Problem) as full:
        service.decide(staff, apps[2].id, "accepted", now=NOW)
    assert full.value.code == "need_full"
    service.decide(staff, apps[0].id, "completed", now=NOW)
    assert need.accepted_count == _recount(need) == 2  # a completed place stays taken
    service.decide(staff, apps[1].id, "declined", now=NOW)
    assert need.accepted_count == _recount(need) == 1
    # The earliest waitlisted by created_at (the second created, a minute after), not the first made.
    assert (late[1].status, late[0].status) == ("applied", "waitlisted")


def test_raising_capacity_promotes_as_many_waitlisted():
    staff = _staff()
    need = _need(staff, capacity=1)
    service.decide(staff, service.apply(_person(), need.id, now=NOW).id, "accepted", now=NOW)
    waiting = [service.apply(_person(), need.id, now=NOW + timedelta(seconds=i)) for i in range(3)]
    service.update_need(staff, need.id, {"capacity": 3}, now=NOW)
    assert [a.status for a in waiting] == ["applied", "applied", "waitlisted"]


def test_completion_records_the_activity_once_on_the_day():
    staff = _staff()
    need = _need(staff, starts_on=TODAY, ends_on=TODAY + timedelta(days=1), apply_by=TODAY, counts_as_activity=True)
    user = _person()
    application = service.apply(user, need.id, now=NOW)
    service.decide(staff, application.id, "accepted", now=NOW)
    with pytest.raises(Problem):
        service.decide(staff, application.id, "completed", now=NOW - timedelta(days=1))  # before the start
    later = NOW + timedelta(days=1)
    service.decide(staff, application.id, "completed", now=later)
    assert application.completed_on == TODAY + timedelta(days=1)
    activities = db.session.scalars(select(Activity).where(Activity.user_id == user.id)).all()
    assert [(a.organization_code, a.source, a.need_id, a.completed_on) for a in activities] == \
        [(HIDA, "need", need.id, TODAY + timedelta(days=1))]


def test_erasure_cancels_live_applications_only():
    staff = _staff()
    first, second = _need(staff, capacity=1), _need(staff)
    user = _person()
    accepted = service.apply(user, first.id, now=NOW)
    service.decide(staff, accepted.id, "accepted", now=NOW)
    waiting = service.apply(_person(), first.id, now=NOW)
    declined = service.apply(user, second.id, now=NOW)
    service.decide(staff, declined.id, "declined", now=NOW)
    service.cancel_applications_for_erasure(user, now=NOW)
    assert (accepted.status, declined.status, waiting.status) == ("cancelled", "declined", "applied")
    assert first.accepted_count == 0


def test_skill_filter_on_either_database():
    staff = _staff()
    farming = _need(staff, skills=["農作業", "運転"])
    _need(staff, skills=["写真"])
    found = db.session.scalars(service.list_statement(today=TODAY, skill="運転")).all()
    assert found == [farming]


def test_geo_cells():
    lat, lng = 36.2383, 137.1861
    near = cells_near(lat, lng, 60)
    assert near[0] == geo_cell(lat, lng)  # nearest first
    assert geo_cell(lat + 0.5, lng + 0.5) in near and geo_cell(lat + 1.2, lng) not in near
    assert 9 <= len(near) <= 16
    tokyo_osaka = recommendations.distance_km(35.6894, 139.6917, 34.6863, 135.5200)
    assert 390 < tokyo_osaka < 400


def test_score_and_reasons_in_both_languages(app):
    staff = _staff()
    need = _need(staff, skills=["農作業"], starts_on=date(2026, 7, 11), ends_on=date(2026, 7, 12),
                 apply_by=date(2026, 7, 4))  # a Saturday and Sunday
    person = recommendations.Person(_person(skills=["ＮＯＵ", "農作業"], availability="weekends"), home=None,
                                    tiers={HIDA: "premium"})
    names = {HIDA: "飛騨市", "210005": "岐阜県"}
    points, reasons = recommendations.score(person, need, names)
    basic = recommendations.Person(person.user, home=None, tiers={HIDA: "basic"})
    assert points > recommendations.score(basic, need, names)[0]
    with app.app_context(), app.test_request_context(headers={"Accept-Language": "ja"}):  # a fresh g
        assert [str(r) for r in reasons] == ["飛騨市の担い手（プレミアム登録）", "スキル一致: 農作業", "週末の募集"]
    with app.app_context(), app.test_request_context(headers={"Accept-Language": "en"}):
        assert [str(r) for r in reasons] == ["Premium registrant (担い手) of 飛騨市", "Skill match: 農作業",
                                             "On a weekend"]
    weekday_person = recommendations.Person(_person(availability="weekdays"), home=None)
    assert recommendations.score(weekday_person, need, names) == (0.0, [])


def test_text_escaping_and_folding():
    assert escape_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    line = "SUMMARY:" + "飛騨の棚田で稲刈り、" * 10
    folded = fold(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts) and all(p.startswith(" ") for p in parts[1:])
    assert folded.replace("\r\n ", "") == line
    assert fold("short") == "short"
