"""Announcement services without HTTP: audiences and read marks."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from registry.accounts import service as accounts
from registry.announcements import service
from registry.errors import Problem
from registry.extensions import db
from registry.registrations import service as registrations

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)


def _resident(home="131016", consent=True):
    user = accounts.create_resident(email=f"a-{uuid.uuid4().hex[:8]}@example.jp", password="password-123",
                              display_name="住民", home_municipality_code=home, birth_year=1980)
    user.consent_announcements = consent
    return user


def _staff(code):
    return accounts.create_user(email=f"s-{uuid.uuid4().hex[:8]}@example.jp", password="password-123",
                                role="staff", organization_code=code)


def test_audience_is_registrations_and_their_prefectures_but_home():
    user = _resident()
    registrations.register(user, "212172", ["family"])  # 飛騨市 → 岐阜県 as well
    registrations.register(user, "200000", ["other"])  # 長野県 directly
    assert service.audience_codes(user) == {"212172", "210005", "200000"}
    local = _resident(home="212016")  # lives in 岐阜市
    registrations.register(local, "212172", ["family"])
    assert service.audience_codes(local) == {"212172"}


def test_only_own_organization_staff_post():
    with pytest.raises(Problem) as refused:
        service.post(_staff("212032"), "212172", "t", "b", now=NOW)
    assert refused.value.status == 403
    with pytest.raises(Problem) as unknown:
        service.post(_staff("212172"), "000000", "t", "b", now=NOW)
    assert unknown.value.status == 404


def test_read_once_keeps_the_first_time():
    user = _resident()
    registrations.register(user, "212172", ["family"])
    announcement = service.post(_staff("212172"), "212172", "t", "b", now=NOW)
    _, first = service.mark_read(user, announcement.id, now=NOW)
    _, again = service.mark_read(user, announcement.id, now=NOW + timedelta(hours=1))
    assert first == again == NOW
    rows = db.session.execute(service.inbox(user)).all()
    assert [(a.id, read_at) for a, read_at in rows] == [(announcement.id, NOW)]
