"""The needs domain's notices: the one-call helpers its service calls at each event."""
import uuid
from datetime import timedelta

import pytest

from registry.common.time import today_tokyo
from registry.extensions import db
from registry.needs import notices as events
from registry.notifications.service import notify
from tests.factories import HIDA
from tests.needs.conftest import need_body


@pytest.fixture
def need(api, make_account):
    staff = make_account("staff", HIDA)
    start = today_tokyo() + timedelta(days=7)
    response = api.post("/needs", token=staff, json=need_body(
        title="古川祭の片付け", description="翌朝の清掃", host_name="古川町", skills=[], starts_on=start.isoformat(),
        ends_on=start.isoformat(), apply_by=start.isoformat(), capacity=1, reward="", counts_as_activity=False))
    assert response.status_code == 201, response.get_json()
    from registry.needs.models import Need
    return db.session.get(Need, uuid.UUID(response.get_json()["id"])), staff


def _apply(api, need, token):
    from registry.needs.models import Application
    made = api.post(f"/needs/{need.id}/applications", token=token, json={}).get_json()
    return db.session.get(Application, uuid.UUID(made["id"]))


def _inbox(api, token, lang="ja", kind=None):
    items = api.get("/me/notifications", token=token, headers={"Accept-Language": lang}).get_json()
    return [i for i in items if kind is None or i["kind"] == kind]


def test_application_decided_and_waitlist_promoted(api, need, verified_resident):
    need, staff = need
    (_, first_token), (_, second_token) = verified_resident(), verified_resident()
    first, second = _apply(api, need, first_token), _apply(api, need, second_token)
    api.post(f"/applications/{first.id}/accept", token=staff)
    db.session.refresh(first)
    events.application_decided(first, need)  # (once more, should needs.service call it already)
    item = _inbox(api, first_token, kind="application_accepted")[0]
    assert item["title"] == "応募が承認されました"
    assert "古川祭の片付け" in item["body"] and item["link"] == f"/needs/{need.id}"
    events.waitlist_promoted(second, need)
    [item] = _inbox(api, second_token, "en", kind="waitlist_promoted")
    assert item["title"] == "A place has opened up"
    assert events.application_decided(second, need) is None  # not a decision


def test_need_cancelled_tells_every_applicant_in_play(api, need, verified_resident):
    need, staff = need
    (_, a), (_, b), (_, c) = verified_resident(), verified_resident(), verified_resident()
    _apply(api, need, a)
    _apply(api, need, b)
    withdrawn = _apply(api, need, c)
    api.delete(f"/applications/{withdrawn.id}", token=c)
    assert events.need_cancelled(need) == 2
    assert len(_inbox(api, a, kind="need_cancelled")) == 1
    assert _inbox(api, c, kind="need_cancelled") == []


def test_literal_text_is_shown_as_written(api, verified_resident):
    user, token = verified_resident()
    notify(user, "announcement", "雪下ろし講習会", "1月20日 13時から", "/my")
    [item] = _inbox(api, token, "en")
    assert (item["kind"], item["title"], item["body"]) == ("announcement", "雪下ろし講習会", "1月20日 13時から")
