"""Announcements through the API: staff post to their registrants, residents who consented read them."""
import uuid

import pytest

from tests.factories import GIFU, GIFU_CITY, HIDA, TAKAYAMA, register


def _post(api, token, code, title="雪まつりのお知らせ"):
    response = api.post(f"/organizations/{code}/announcements", token=token,
                        json={"title": title, "body": "2月に古川町で雪まつりを開きます。"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def reader(api, signup):
    """A consenting resident of 千代田区 registered with 飛騨市."""
    _, token = signup()
    register(api, token, HIDA)
    api.patch("/me", token=token, json={"consents": {"announcements": True}})
    return token


def test_post_and_read(api, make_account, reader):
    staff = make_account("staff", HIDA)
    posted = _post(api, staff, HIDA)
    assert set(posted) >= {"id", "organization_code", "title", "body", "created_at"}
    assert posted["organization_code"] == HIDA and posted["created_at"].endswith("+09:00")
    inbox = api.get("/me/announcements", token=reader)
    assert inbox.status_code == 200 and inbox.headers["X-Total-Count"] == "1"
    [item] = inbox.get_json()
    assert item["id"] == posted["id"] and item["read"] is False and item["read_at"] is None
    read = api.post(f"/me/announcements/{posted['id']}/read", token=reader)
    assert read.status_code == 200 and read.get_json()["read"] is True
    first_read = read.get_json()["read_at"]
    assert api.post(f"/me/announcements/{posted['id']}/read", token=reader).get_json()["read_at"] == first_read
    assert api.get("/me/announcements", token=reader).get_json()[0]["read_at"] == first_read
    assert api.get(f"/organizations/{HIDA}/announcements", token=staff).get_json()[0]["id"] == posted["id"]


def test_inbox_holds_registered_organizations_and_their_prefectures_newest_first(api, make_account, reader):
    hida = _post(api, make_account("staff", HIDA), HIDA, "飛騨市から")
    gifu = _post(api, make_account("staff", GIFU), GIFU, "岐阜県から")  # the derived link
    _post(api, make_account("staff", TAKAYAMA), TAKAYAMA, "高山市から")  # not registered there
    assert [a["id"] for a in api.get("/me/announcements", token=reader).get_json()] == [gifu["id"], hida["id"]]
    page = api.get("/me/announcements?per_page=1&page=2", token=reader)
    assert [a["id"] for a in page.get_json()] == [hida["id"]] and page.headers["X-Total-Count"] == "2"


def test_no_consent_no_announcements(api, make_account, signup):
    _, token = signup()
    register(api, token, HIDA)
    posted = _post(api, make_account("staff", HIDA), HIDA)
    assert api.get("/me/announcements", token=token).get_json() == []
    assert api.post(f"/me/announcements/{posted['id']}/read", token=token).status_code == 404


def test_living_in_the_prefecture_is_no_tie_to_it(api, make_account, signup):
    _, token = signup(home=GIFU_CITY)
    register(api, token, HIDA)  # another municipality of one's own prefecture
    api.patch("/me", token=token, json={"consents": {"announcements": True}})
    _post(api, make_account("staff", GIFU), GIFU)
    hida = _post(api, make_account("staff", HIDA), HIDA)
    assert [a["id"] for a in api.get("/me/announcements", token=token).get_json()] == [hida["id"]]


def test_withdrawn_registration_stops_announcements(api, make_account, reader):
    posted = _post(api, make_account("staff", HIDA), HIDA)
    [registration] = api.get("/registrations", token=reader).get_json()
    api.delete(f"/registrations/{registration['id']}", token=reader)
    assert api.get("/me/announcements", token=reader).get_json() == []
    assert api.post(f"/me/announcements/{posted['id']}/read", token=reader).status_code == 404


def test_validation(api, make_account):
    staff = make_account("staff", HIDA)
    for body, field in (({"title": "", "body": "x"}, "title"), ({"title": "x"}, "body"),
                        ({"title": "x" * 201, "body": "x"}, "title"), ({"title": "x", "body": "x" * 10_001}, "body")):
        response = api.post(f"/organizations/{HIDA}/announcements", token=staff, json=body)
        assert response.status_code == 422 and field in response.get_json()["errors"]


def test_authorization(api, make_account, reader, signup):
    staff, other = make_account("staff", HIDA), make_account("staff", TAKAYAMA)
    posted = _post(api, staff, HIDA)
    body = {"title": "t", "body": "b"}
    path = f"/organizations/{HIDA}/announcements"
    assert api.post(path, json=body).status_code == 401
    for token in (reader, make_account("national"), make_account("admin"), other):
        response = api.post(path, token=token, json=body)
        assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
        assert api.get(path, token=token).status_code == 403
    assert api.post("/organizations/999999/announcements", token=staff, json=body).status_code == 404
    for path in ("/me/announcements",):
        assert api.get(path).status_code == 401
        for token in (staff, make_account("national"), make_account("admin")):
            assert api.get(path, token=token).status_code == 403
    read = f"/me/announcements/{posted['id']}/read"
    assert api.post(read).status_code == 401
    assert api.post(read, token=staff).status_code == 403
    _, stranger = signup()
    assert api.post(read, token=stranger).status_code == 404  # not their 団体
    assert api.post(f"/me/announcements/{uuid.uuid4()}/read", token=reader).status_code == 404
