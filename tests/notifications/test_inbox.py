"""The in-app inbox: newest first, unread filter, marking read, translation, ownership."""
from datetime import timedelta

from sqlalchemy import func, select

from registry.common.time import utcnow
from registry.extensions import db
from registry.registrations import notices as registration_notices
from registry.notifications.models import Notification, OutboxMessage
from registry.notifications.service import notify


def _notify(user, n=0, **kwargs):
    title, body = registration_notices.PREMIUM_APPROVED
    kwargs.setdefault("params", {"organization": "飛騨市", "valid_until": "2027-03-31"})
    notification = notify(user, "premium_decided", title, body, "/my",
                          now=kwargs.pop("now", utcnow() + timedelta(seconds=n)), **kwargs)
    db.session.commit()
    return notification


def test_newest_first_and_unread_filter(api, verified_resident):
    user, token = verified_resident()
    first, second, third = (_notify(user, n) for n in range(3))
    listed = api.get("/me/notifications", token=token)
    assert listed.status_code == 200
    assert [n["id"] for n in listed.get_json()] == [str(third.id), str(second.id), str(first.id)]
    assert api.post(f"/me/notifications/{second.id}/read", token=token).status_code == 200
    unread = api.get("/me/notifications?unread=true", token=token)
    assert [n["id"] for n in unread.get_json()] == [str(third.id), str(first.id)]
    assert unread.headers["X-Total-Count"] == "2"
    read = api.get("/me/notifications?unread=false", token=token).get_json()
    assert [n["id"] for n in read] == [str(second.id)] and read[0]["read_at"].endswith("+09:00")


def test_shape_and_language(api, verified_resident):
    user, token = verified_resident()
    _notify(user)
    [ja] = api.get("/me/notifications", token=token).get_json()
    assert set(ja) == {"id", "kind", "title", "body", "link", "created_at", "read_at"}
    assert ja["kind"] == "premium_decided" and ja["link"] == "/my" and ja["read_at"] is None
    assert "飛騨市" in ja["body"] and "2027-03-31" in ja["body"] and "プレミアム" in ja["title"]
    [en] = api.get("/me/notifications", token=token, headers={"Accept-Language": "en"}).get_json()
    assert en["title"] == "Your premium registration was approved"
    assert en["body"] == "Your premium registration with 飛騨市 is valid until 2027-03-31."


def test_literal_text_is_shown_as_written(api, verified_resident):
    user, token = verified_resident()
    notify(user, "announcement", "雪まつりのお知らせ {not a field}", "2月に開催します。", None)
    db.session.commit()
    [item] = api.get("/me/notifications", token=token, headers={"Accept-Language": "en"}).get_json()
    assert item["title"] == "雪まつりのお知らせ {not a field}" and item["link"] is None


def test_read_keeps_the_first_time_and_is_owner_only(api, verified_resident, make_account):
    user, token = verified_resident()
    notification = _notify(user)
    first = api.post(f"/me/notifications/{notification.id}/read", token=token).get_json()["read_at"]
    again = api.post(f"/me/notifications/{notification.id}/read", token=token).get_json()["read_at"]
    assert first == again and first is not None
    _, other = verified_resident()
    assert api.post(f"/me/notifications/{notification.id}/read", token=other).status_code == 404
    assert api.post(f"/me/notifications/{notification.id}/read").status_code == 401
    assert api.get("/me/notifications").status_code == 401
    assert api.post("/me/notifications/0190a3c4-0000-7000-8000-000000000000/read", token=token).status_code == 404
    staff = make_account("staff", "212172")
    assert api.get("/me/notifications", token=staff).get_json() == []


def test_pagination(api, verified_resident):
    user, token = verified_resident()
    for n in range(5):
        _notify(user, n)
    page = api.get("/me/notifications?per_page=2&page=3", token=token)
    assert len(page.get_json()) == 1 and page.headers["X-Total-Count"] == "5"
    assert api.get("/me/notifications?per_page=2&page=9", token=token).get_json() == []
    for bad in ("per_page=0", "per_page=201", "page=0", "unread=maybe", "page=x"):
        response = api.get(f"/me/notifications?{bad}", token=token)
        assert response.status_code == 422, bad


def test_email_only_for_verified_addresses_and_announcements_only_with_consent(api, verified_resident):
    verified, _ = verified_resident()
    unverified, _ = verified_resident(verified=False)
    _notify(verified)
    _notify(unverified)
    outbox = lambda user: db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.user_id == user.id))
    assert (outbox(verified), outbox(unverified)) == (1, 0)
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == unverified.id)) == 1
    notify(verified, "announcement", "お知らせ", "本文", None)
    assert outbox(verified) == 1  # no consent to announcements
    verified.consent_announcements = True
    notify(verified, "announcement", "お知らせ", "本文", None)
    assert outbox(verified) == 2


def test_erasure_deletes_notifications_and_emails(api, verified_resident):
    user, token = verified_resident()
    _notify(user)
    assert api.delete("/me", token=token).status_code == 204
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == user.id)) == 0
    assert db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.user_id == user.id)) == 0


def test_unknown_kind_is_a_programming_error(verified_resident):
    import pytest
    user, _ = verified_resident()
    with pytest.raises(ValueError):
        notify(user, "birthday", "x", "y")
