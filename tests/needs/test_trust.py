"""Trust rules (v1.1) for needs: scouting shows only what people consented to share and where they
live only as a band; minors never hold a place on a side job; a cancelled need promotes nobody; dates
stay within 2000–2100."""
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.common.time import today_tokyo
from registry.extensions import db
from registry.needs.models import Application
from registry.notifications.models import Notification
from registry.organizations import neighbours
from tests.factories import CHIYODA, HIDA, NAHA, TAKAYAMA, days
from tests.needs.conftest import need_body

NAGANO_CITY, AKITA_CITY = "202011", "052019"  # Nagano borders Gifu; Akita does not


def _scout(api, signup, *, home, share=False, interests=(), skills=("農作業",)):
    user, token = signup(home=home, birth_year=1985, display_name="候補者")
    response = api.patch("/me", token=token, json={
        "skills": list(skills), "interests": list(interests),
        "consents": {"scouting": True, "share_profile": share}})
    assert response.status_code == 200, response.get_json()
    return user["id"], token


def _candidates(api, staff, need_id) -> dict:
    response = api.get(f"/needs/{need_id}/candidates?limit=50", token=staff)
    assert response.status_code == 200, response.get_json()
    return {c["registrant"]["id"]: c for c in response.get_json()}


def test_neighbours_are_symmetric_and_cover_the_47():
    assert set(neighbours.NEIGHBOURS) == set(range(1, 48))
    for number, others in neighbours.NEIGHBOURS.items():
        assert number not in others and all(number in neighbours.NEIGHBOURS[o] for o in others)
    assert neighbours.NEIGHBOURS[1] == neighbours.NEIGHBOURS[47] == frozenset()  # no land border
    assert neighbours.NEIGHBOURS[21] == {16, 17, 18, 20, 23, 24, 25}  # 岐阜県
    assert neighbours.band(TAKAYAMA, HIDA) == neighbours.SAME
    assert neighbours.band(NAGANO_CITY, HIDA) == neighbours.NEIGHBOURING
    assert neighbours.band(AKITA_CITY, HIDA) == neighbours.FAR
    assert neighbours.band(None, HIDA) is None


def test_interests_count_for_staff_only_with_consent_to_share(api, staff, signup, post_need):
    need = post_need(title="飛騨の棚田で稲刈り", skills=["農作業"])
    private, _ = _scout(api, signup, home=CHIYODA, interests=["稲刈り"])
    shared, _ = _scout(api, signup, home=CHIYODA, interests=["稲刈り"], share=True)
    found = _candidates(api, staff, need["id"])
    assert not any("稲刈り" in reason for reason in found[private]["reasons"])
    assert "関心: 稲刈り" in found[shared]["reasons"]
    assert found[private]["score"] < found[shared]["score"]
    # the private person scores exactly like one without interests at all
    plain, _ = _scout(api, signup, home=CHIYODA)
    assert _candidates(api, staff, need["id"])[plain]["score"] == found[private]["score"]


def test_where_a_candidate_lives_is_a_band_that_moving_the_need_does_not_change(api, staff, signup, post_need):
    need = post_need(skills=["農作業"])
    people = {band: _scout(api, signup, home=home)[0]
              for band, home in (("same", TAKAYAMA), ("neighbouring", NAGANO_CITY), ("far", AKITA_CITY))}
    before = _candidates(api, staff, need["id"])
    assert set(people.values()) <= set(before)
    scores = {band: before[person]["score"] for band, person in people.items()}
    assert scores["same"] > scores["neighbouring"] > scores["far"]
    assert not any("km" in reason for c in before.values() for reason in c["reasons"])
    for place in ({"name": "秋田駅前", "lat": 39.7170, "lng": 140.1290},  # next to the far candidate's home
                  {"name": "那覇", "lat": 26.2124, "lng": 127.6809}):
        assert api.patch(f"/needs/{need['id']}", token=staff, json={"place": place}).status_code == 200
        moved = _candidates(api, staff, need["id"])
        assert {i: (c["score"], c["reasons"]) for i, c in moved.items()} == \
            {i: (c["score"], c["reasons"]) for i, c in before.items()}


def test_a_need_becoming_a_side_job_declines_its_minors(api, staff, signup, post_need):
    need = post_need(kind="volunteer", capacity=1)
    minor, minor_token = signup(home=CHIYODA, birth_year=today_tokyo().year - 16)
    adult, adult_token = signup(home=CHIYODA)
    first = api.post(f"/needs/{need['id']}/applications", token=minor_token, json={}).get_json()
    api.post(f"/needs/{need['id']}/applications", token=adult_token, json={})
    assert api.post(f"/applications/{first['id']}/accept", token=staff).status_code == 200
    response = api.patch(f"/needs/{need['id']}", token=staff, json={"kind": "side_job"})
    assert response.status_code == 200 and response.get_json()["accepted_count"] == 0
    mine = {a["need_id"]: a for a in api.get("/me/applications", token=minor_token).get_json()}
    assert mine[need["id"]]["status"] == "declined"
    kinds = [n["kind"] for n in api.get("/me/notifications", token=minor_token).get_json()]
    assert "application_declined" in kinds
    theirs = {a["need_id"]: a for a in api.get("/me/applications", token=adult_token).get_json()}
    assert theirs[need["id"]]["status"] == "applied"  # the freed place's waitlist moved up


def test_a_minor_is_never_accepted_on_a_side_job(api, staff, signup, post_need):
    need = post_need(kind="volunteer")
    _, minor_token = signup(home=CHIYODA, birth_year=today_tokyo().year - 17)
    application = api.post(f"/needs/{need['id']}/applications", token=minor_token, json={}).get_json()
    row = db.session.get(Application, uuid.UUID(application["id"]))
    row.need.kind = "side_job"  # however the kind changed, the place is checked where it is granted
    db.session.commit()
    response = api.post(f"/applications/{application['id']}/accept", token=staff)
    assert response.status_code == 422 and response.get_json()["code"] == "age_restricted"


def test_withdrawing_from_a_cancelled_need_promotes_nobody(api, staff, signup, post_need):
    need = post_need(capacity=1)
    _, accepted_token = signup(home=CHIYODA)
    waiting_user, waiting_token = signup(home=CHIYODA)
    accepted = api.post(f"/needs/{need['id']}/applications", token=accepted_token, json={}).get_json()
    api.post(f"/applications/{accepted['id']}/accept", token=staff)
    waiting = api.post(f"/needs/{need['id']}/applications", token=waiting_token, json={}).get_json()
    assert waiting["status"] == "waitlisted"
    assert api.post(f"/needs/{need['id']}/cancel", token=staff).status_code == 200
    assert api.delete(f"/applications/{accepted['id']}", token=accepted_token).status_code == 204
    assert db.session.scalar(select(Application.status).where(Application.id == uuid.UUID(
        waiting["id"]))) == "waitlisted"
    assert db.session.scalar(select(Notification.id).where(
        Notification.user_id == uuid.UUID(waiting_user["id"]),
        Notification.kind == "waitlist_promoted")) is None


@pytest.mark.parametrize("field, value", [("starts_on", "9999-12-31"), ("ends_on", "9999-12-31"),
                                          ("apply_by", "1999-12-31"), ("starts_on", "0001-01-01")])
def test_need_dates_are_bounded(api, staff, field, value):
    body = need_body(**{field: value})
    response = api.post("/needs", token=staff, json=body)
    assert response.status_code == 422 and response.get_json()["code"] == "validation_error"
    assert field in response.get_json()["errors"]


def test_a_far_future_need_still_gives_a_calendar_entry(api, staff, signup, post_need):
    starts = "2100-12-31"
    need = post_need(starts_on=starts, ends_on=starts, apply_by=days(5))
    _, token = signup(home=CHIYODA)
    application = api.post(f"/needs/{need['id']}/applications", token=token, json={}).get_json()
    api.post(f"/applications/{application['id']}/accept", token=staff)
    response = api.get(f"/applications/{application['id']}/calendar.ics", token=token)
    assert response.status_code == 200 and "DTSTART;VALUE=DATE:21001231" in response.get_data(as_text=True)


def test_other_calendar_dates_are_bounded(api, staff, signup):
    response = api.post(f"/organizations/{HIDA}/benefits", token=staff, json={
        "title": "温泉の住民料金", "tier": "basic", "kind": "facility", "valid_until": "2101-01-01"})
    assert response.status_code == 422 and "valid_until" in response.get_json()["errors"]
    _, token = signup(home=NAHA)
    reg = api.post("/registrations", token=token, json={"organization_code": HIDA, "ties": ["volunteer"]}).get_json()
    response = api.post(f"/registrations/{reg['id']}/activity-evidence", token=token,
                        data={"kind": "volunteer", "done_on": "1999-12-31", "description": "清掃"})
    assert response.status_code == 422 and "done_on" in response.get_json()["errors"]
    assert api.get("/needs?starts_from=9999-01-01").status_code == 422
    assert (today_tokyo() + timedelta(days=1)).year <= 2100
