"""Needs and applications through the API (API.md "Needs and applications")."""
import uuid

import pytest

from registry.common.time import today_tokyo
from tests.factories import CHIYODA, GIFU, HIDA, TAKAYAMA, days
from tests.needs.conftest import need_body

NEED_FIELDS = {"id", "organization_code", "kind", "title", "description", "host_name", "skills", "remote", "place",
               "starts_on", "ends_on", "apply_by", "capacity", "reward", "counts_as_activity", "status",
               "accepted_count", "created_at", "host_id"}


def _code(response, status):
    assert response.status_code == status, response.get_json()
    return response.get_json()["code"] if status >= 400 else None


# --- needs ---------------------------------------------------------------------------------------------

def test_post_need_defaults_place_to_the_organization(api, post_need):
    need = post_need()
    assert NEED_FIELDS <= set(need)
    assert need["status"] == "open" and need["accepted_count"] == 0 and need["host_id"] is None
    assert need["place"] == {"name": "飛騨市", "lat": pytest.approx(36.2383, abs=1e-3),
                             "lng": pytest.approx(137.1861, abs=1e-3)}
    assert need["created_at"].endswith("+09:00")
    assert api.get(f"/needs/{need['id']}").get_json() == need


def test_post_need_with_place_or_remote(post_need):
    placed = post_need(place={"name": "古川町まつり会館", "lat": 36.2381, "lng": 137.1867})
    assert placed["place"]["name"] == "古川町まつり会館"
    remote = post_need(remote=True, kind="side_job", title="観光サイトの翻訳")
    assert remote["remote"] is True and remote["place"] is None


@pytest.mark.parametrize("change, field", [
    ({"ends_on": 9}, "ends_on"),  # whole numbers are days from today, worked out when the test runs
    ({"apply_by": 11}, "apply_by"),
    ({"capacity": 0}, "capacity"),
    ({"capacity": "3"}, "capacity"),
    ({"kind": "party"}, "kind"),
    ({"title": ""}, "title"),
    ({"starts_on": "2026-02-30"}, "starts_on"),
    ({"place": {"name": "x", "lat": 99, "lng": 0}}, "place"),
    ({"skills": ["x" * 51]}, "skills"),
])
def test_post_need_validation(api, staff, change, field):
    change = {k: days(v) if k in ("ends_on", "apply_by") else v for k, v in change.items()}
    response = api.post("/needs", token=staff, json=need_body(**change))
    assert _code(response, 422) == "validation_error"
    assert field in response.get_json()["errors"]


def test_post_need_for_another_organization_is_forbidden(api, staff):
    assert _code(api.post("/needs", token=staff, json=need_body(organization_code=TAKAYAMA)), 403) == "forbidden"
    assert _code(api.post("/needs", token=staff, json=need_body(organization_code="999999")), 422) \
        == "unknown_organization"


def test_patch_need(api, staff, post_need):
    need = post_need()
    response = api.patch(f"/needs/{need['id']}", token=staff, json={"title": "雪かきと除雪機の運転", "capacity": 5})
    assert response.status_code == 200 and response.get_json()["title"] == "雪かきと除雪機の運転"
    bad = api.patch(f"/needs/{need['id']}", token=staff, json={"starts_on": days(3)})  # after apply_by
    assert _code(bad, 422) == "validation_error" and "apply_by" in bad.get_json()["errors"]
    assert _code(api.patch(f"/needs/{need['id']}", token=staff, json={"organization_code": TAKAYAMA}), 422)
    # Back on site without a place: the 団体's office again.
    remote = api.patch(f"/needs/{need['id']}", token=staff, json={"remote": True, "place": None}).get_json()
    assert remote["place"] is None
    assert api.patch(f"/needs/{need['id']}", token=staff, json={"remote": False}).get_json()["place"]["name"] == "飛騨市"


def test_capacity_cannot_drop_below_accepted(api, staff, post_need, resident, apply):
    need = post_need(capacity=2)
    for _ in range(2):
        application = apply(need, resident()).get_json()
        api.post(f"/applications/{application['id']}/accept", token=staff)
    response = api.patch(f"/needs/{need['id']}", token=staff, json={"capacity": 1})
    assert _code(response, 422) == "validation_error" and "capacity" in response.get_json()["errors"]


def test_close_and_cancel(api, staff, post_need, resident, apply):
    need = post_need()
    closed = api.post(f"/needs/{need['id']}/close", token=staff)
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert _code(apply(need, resident()), 409) == "need_closed"
    assert _code(api.post(f"/needs/{need['id']}/close", token=staff), 409) == "invalid_state"
    cancelled = api.post(f"/needs/{need['id']}/cancel", token=staff)
    assert cancelled.get_json()["status"] == "cancelled"
    assert _code(api.post(f"/needs/{need['id']}/cancel", token=staff), 409) == "invalid_state"
    assert _code(api.patch(f"/needs/{need['id']}", token=staff, json={"title": "x"}), 409) == "invalid_state"


def test_need_past_apply_by_closes_by_itself(api, post_need, resident, apply):
    need = post_need(starts_on=days(0), ends_on=days(1), apply_by=days(-1))
    assert api.get(f"/needs/{need['id']}").get_json()["status"] == "closed"
    assert _code(apply(need, resident()), 409) == "need_closed"
    open_ids = [n["id"] for n in api.get("/needs").get_json()]
    closed_ids = [n["id"] for n in api.get("/needs?status=closed").get_json()]
    assert need["id"] not in open_ids and need["id"] in closed_ids


def test_unknown_need_is_404(api, staff):
    missing = uuid.uuid4()
    assert _code(api.get(f"/needs/{missing}"), 404) == "not_found"
    assert _code(api.patch(f"/needs/{missing}", token=staff, json={"title": "x"}), 404) == "not_found"
    assert _code(api.get("/needs/not-a-uuid"), 404) == "not_found"


# --- search ------------------------------------------------------------------------------------------------

@pytest.fixture
def catalogue(post_need, make_account):
    takayama = make_account("staff", TAKAYAMA)
    gifu = make_account("staff", GIFU)
    chiyoda = make_account("staff", CHIYODA)
    return {
        "snow": post_need(starts_on=days(12), ends_on=days(12), apply_by=days(6)),
        "rice": post_need(kind="experience", title="棚田の田植え体験", skills=["農作業"], starts_on=days(20),
                          ends_on=days(21), apply_by=days(15)),
        "web": post_need(takayama, organization_code=TAKAYAMA, kind="side_job", title="旅館サイトの英訳",
                         description="英語でのウェブサイト翻訳 100% remote", skills=["英語", "翻訳"], remote=True,
                         starts_on=days(30), ends_on=days(60), apply_by=days(25)),
        "pref": post_need(gifu, organization_code=GIFU, title="清流の河川清掃", starts_on=days(12), ends_on=days(12),
                          apply_by=days(6)),
        "tokyo": post_need(chiyoda, organization_code=CHIYODA, title="神田祭の運営補助", starts_on=days(40),
                           ends_on=days(41), apply_by=days(30)),
    }


def _ids(api, query):
    response = api.get(f"/needs?{query}")
    assert response.status_code == 200, response.get_json()
    return [n["id"] for n in response.get_json()]


def test_search_filters(api, catalogue):
    c = {name: need["id"] for name, need in catalogue.items()}
    in_order = sorted(catalogue.values(), key=lambda n: (n["starts_on"], n["id"]))
    assert _ids(api, "") == [n["id"] for n in in_order]
    assert set(_ids(api, f"organization={HIDA}")) == {c["snow"], c["rice"]}
    for prefecture in ("21", "210005"):
        assert set(_ids(api, f"prefecture={prefecture}")) == {c["snow"], c["rice"], c["web"], c["pref"]}
    assert _ids(api, "kind=side_job") == [c["web"]]
    assert _ids(api, "skill=農作業") == [c["rice"]]
    assert _ids(api, "remote=true") == [c["web"]]
    assert c["web"] not in _ids(api, "remote=false")
    assert _ids(api, "q=田植え") == [c["rice"]]
    assert _ids(api, "q=翻訳") == [c["web"]]  # in the description
    assert _ids(api, "q=ENGLISH") == [] and _ids(api, "q=REMOTE") == [c["web"]]  # case-insensitive
    assert _ids(api, "q=棚田　体験") == [c["rice"]]  # every word, ideographic space too
    assert _ids(api, "q=100%25") == [c["web"]] and _ids(api, "q=%25_") == []  # wildcards are literal
    assert set(_ids(api, f"starts_from={days(13)}&starts_until={days(30)}")) == {c["rice"], c["web"]}


def test_search_order_and_pagination(api, catalogue):
    response = api.get("/needs?per_page=2&page=2")
    assert response.status_code == 200 and response.headers["X-Total-Count"] == "5"
    assert 'rel="next"' in response.headers["Link"]
    everything = api.get("/needs").get_json()
    keys = [(n["starts_on"], n["id"]) for n in everything]
    assert keys == sorted(keys)
    assert [n["id"] for n in response.get_json()] == [n["id"] for n in everything[2:4]]
    assert api.get("/needs?page=9").get_json() == []


@pytest.mark.parametrize("query", ["prefecture=48", "prefecture=212172", "kind=x", "status=draft", "remote=maybe",
                                   "starts_from=yesterday", "q=" + "あ" * 101, "per_page=201", "organization=1234567"])
def test_search_bad_parameters_are_422(api, query):
    assert _code(api.get(f"/needs?{query}"), 422) == "validation_error"


def test_search_by_status(api, staff, catalogue):
    api.post(f"/needs/{catalogue['snow']['id']}/close", token=staff)
    api.post(f"/needs/{catalogue['rice']['id']}/cancel", token=staff)
    assert catalogue["snow"]["id"] in _ids(api, "status=closed")
    assert _ids(api, "status=cancelled") == [catalogue["rice"]["id"]]
    assert not {catalogue["snow"]["id"], catalogue["rice"]["id"]} & set(_ids(api, "status=open"))


# --- applications --------------------------------------------------------------------------------------------

def test_apply_twice_and_again_after_cancelling(api, post_need, resident, apply):
    need, token = post_need(), resident()
    first = apply(need, token, message="雪国育ちです")
    assert first.status_code == 201
    body = first.get_json()
    assert body["status"] == "applied" and body["need_id"] == need["id"] and body["message"] == "雪国育ちです"
    assert body["created_at"].endswith("+09:00") and body["checked_in_at"] is None
    assert _code(apply(need, token), 409) == "already_applied"
    assert api.delete(f"/applications/{body['id']}", token=token).status_code == 204
    again = apply(need, token)
    assert again.status_code == 201 and again.get_json()["id"] != body["id"]


def test_declined_cannot_apply_again(api, staff, post_need, resident, apply):
    need, token = post_need(), resident()
    application = apply(need, token).get_json()
    assert api.post(f"/applications/{application['id']}/decline", token=staff).get_json()["status"] == "declined"
    assert _code(apply(need, token), 409) == "already_applied"


def test_apply_without_body_and_bad_message(api, post_need, resident):
    need, token = post_need(), resident()
    assert api.post(f"/needs/{need['id']}/applications", token=token).status_code == 201  # the body is optional
    response = api.post(f"/needs/{need['id']}/applications", token=resident(), json={"message": "x" * 2001})
    assert _code(response, 422) == "validation_error"


def test_minors_cannot_apply_to_side_jobs(post_need, resident, apply):
    minor = resident(birth_year=today_tokyo().year - 17)
    side_job = post_need(kind="side_job")
    assert _code(apply(side_job, minor), 422) == "age_restricted"
    assert apply(post_need(kind="volunteer"), minor).status_code == 201


def test_full_need_waitlists_and_accept_into_full_is_409(api, staff, post_need, resident, apply):
    need = post_need(capacity=1)
    first = apply(need, resident()).get_json()
    second = apply(need, resident()).get_json()
    assert second["status"] == "applied"  # not full until someone is accepted
    assert api.post(f"/applications/{first['id']}/accept", token=staff).get_json()["status"] == "accepted"
    third = apply(need, resident()).get_json()
    assert third["status"] == "waitlisted"
    assert _code(api.post(f"/applications/{second['id']}/accept", token=staff), 409) == "need_full"
    assert _code(api.post(f"/applications/{third['id']}/accept", token=staff), 409) == "need_full"
    assert api.get(f"/needs/{need['id']}").get_json()["accepted_count"] == 1


@pytest.mark.parametrize("free", ["cancel", "decline"])
def test_freed_place_promotes_the_earliest_waitlisted(api, staff, post_need, resident, apply, free):
    need = post_need(capacity=1)
    holder = resident()
    accepted = apply(need, holder).get_json()
    api.post(f"/applications/{accepted['id']}/accept", token=staff)
    early, late = apply(need, resident()).get_json(), apply(need, resident()).get_json()
    assert early["status"] == late["status"] == "waitlisted"
    if free == "cancel":
        assert api.delete(f"/applications/{accepted['id']}", token=holder).status_code == 204
    else:
        api.post(f"/applications/{accepted['id']}/decline", token=staff)
    statuses = {a["id"]: a["status"] for a in api.get(f"/needs/{need['id']}/applications", token=staff).get_json()}
    assert statuses[early["id"]] == "applied" and statuses[late["id"]] == "waitlisted"
    assert api.get(f"/needs/{need['id']}").get_json()["accepted_count"] == 0
    assert api.post(f"/applications/{early['id']}/accept", token=staff).status_code == 200


def test_cancelling_a_not_accepted_application_promotes_nobody(api, staff, post_need, resident, apply):
    need = post_need(capacity=1)
    api.post(f"/applications/{apply(need, resident()).get_json()['id']}/accept", token=staff)
    token = resident()
    pending = apply(need, token).get_json()
    waiting = apply(need, resident()).get_json()
    api.delete(f"/applications/{pending['id']}", token=token)
    statuses = {a["id"]: a["status"] for a in api.get(f"/needs/{need['id']}/applications", token=staff).get_json()}
    assert statuses == {**statuses, pending["id"]: "cancelled", waiting["id"]: "waitlisted"}


def test_application_transitions(api, staff, post_need, resident, apply):
    need = post_need(starts_on=days(0), ends_on=days(0), apply_by=days(0))
    application = apply(need, resident()).get_json()
    path = f"/applications/{application['id']}"
    assert _code(api.post(path + "/complete", token=staff), 409) == "invalid_state"  # not accepted
    assert _code(api.post(path + "/no-show", token=staff), 409) == "invalid_state"
    assert api.post(path + "/accept", token=staff).status_code == 200
    assert _code(api.post(path + "/accept", token=staff), 409) == "invalid_state"
    completed = api.post(path + "/complete", token=staff)
    assert completed.status_code == 200
    assert completed.get_json()["status"] == "completed" and completed.get_json()["completed_on"] == days(0)
    for action in ("accept", "decline", "complete", "no-show"):
        assert _code(api.post(f"{path}/{action}", token=staff), 409) == "invalid_state"


def test_complete_and_no_show_wait_for_the_start(api, staff, post_need, resident, apply):
    need = post_need()  # starts in 10 days
    application = apply(need, resident()).get_json()
    api.post(f"/applications/{application['id']}/accept", token=staff)
    for action in ("complete", "no-show"):
        response = api.post(f"/applications/{application['id']}/{action}", token=staff)
        assert _code(response, 409) == "invalid_state"


def test_completion_records_one_activity(api, staff, post_need, resident, apply):
    need = post_need(starts_on=days(0), ends_on=days(2), apply_by=days(0))
    token = resident()
    application = apply(need, token).get_json()
    api.post(f"/applications/{application['id']}/accept", token=staff)
    api.post(f"/applications/{application['id']}/complete", token=staff)
    activities = api.get("/me/activities", token=token).get_json()
    assert activities == [{"organization_code": HIDA, "source": "need", "need_id": need["id"],
                           "evidence_id": None, "completed_on": days(0)}]
    other = post_need(starts_on=days(0), ends_on=days(0), apply_by=days(0), counts_as_activity=False)
    application = apply(other, token).get_json()
    api.post(f"/applications/{application['id']}/accept", token=staff)
    api.post(f"/applications/{application['id']}/no-show", token=staff)
    assert len(api.get("/me/activities", token=token).get_json()) == 1


def test_no_show_records_nothing(api, staff, post_need, resident, apply):
    need = post_need(starts_on=days(0), ends_on=days(0), apply_by=days(0))
    token = resident()
    application = apply(need, token).get_json()
    api.post(f"/applications/{application['id']}/accept", token=staff)
    assert api.post(f"/applications/{application['id']}/no-show", token=staff).get_json()["status"] == "no_show"
    assert api.get("/me/activities", token=token).get_json() == []


def test_staff_list_shows_applicant_and_message(api, staff, post_need, resident, apply, signup):
    need = post_need()
    user, token = signup(display_name="飛騨太郎")
    apply(need, token, message="よろしくお願いします")
    listed = api.get(f"/needs/{need['id']}/applications", token=staff)
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1"
    [item] = listed.get_json()
    assert item["applicant"] == {"id": user["id"], "display_name": "飛騨太郎"}
    assert item["message"] == "よろしくお願いします"
    assert api.get(f"/needs/{need['id']}/applications?status=accepted", token=staff).get_json() == []


def test_my_applications_in_order(api, post_need, resident, apply):
    token = resident()
    first, second = post_need(), post_need(title="二件目")
    a, b = apply(first, token).get_json(), apply(second, token).get_json()
    mine = api.get("/me/applications", token=token).get_json()
    assert [m["id"] for m in mine] == [a["id"], b["id"]]
    assert mine[1]["need"]["title"] == "二件目" and mine[1]["need"]["status"] == "open"


def test_only_the_applicant_cancels(api, post_need, resident, apply):
    need, token = post_need(), resident()
    application = apply(need, token).get_json()
    assert _code(api.delete(f"/applications/{application['id']}", token=resident()), 404) == "not_found"
    assert api.delete(f"/applications/{application['id']}", token=token).status_code == 204
    assert _code(api.delete(f"/applications/{application['id']}", token=token), 409) == "invalid_state"


def test_nothing_is_decided_on_a_cancelled_need(api, staff, post_need, resident, apply):
    need = post_need()
    application = apply(need, resident()).get_json()
    api.post(f"/needs/{need['id']}/cancel", token=staff)
    assert _code(api.post(f"/applications/{application['id']}/accept", token=staff), 409) == "invalid_state"


def test_calendar_entry(api, staff, post_need, resident, apply):
    need = post_need(title="古川町の雪かき, 屋根; 玄関", place={"name": "古川町まつり会館", "lat": 36.2381, "lng": 137.1867})
    token = resident()
    application = apply(need, token).get_json()
    path = f"/applications/{application['id']}/calendar.ics"
    assert _code(api.get(path, token=token), 409) == "invalid_state"
    api.post(f"/applications/{application['id']}/accept", token=staff)
    assert _code(api.get(path, token=resident()), 404) == "not_found"
    response = api.get(path, token=token)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    text = response.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    unfolded = text.replace("\r\n ", "")
    assert f"DTSTART;VALUE=DATE:{days(10).replace('-', '')}" in unfolded
    assert f"DTEND;VALUE=DATE:{days(11).replace('-', '')}" in unfolded
    assert "SUMMARY:古川町の雪かき\\, 屋根\\; 玄関" in unfolded
    assert "LOCATION:古川町まつり会館" in unfolded and "GEO:36.238100;137.186700" in unfolded
    assert "古川町内会" in unfolded  # the host
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_erasure_cancels_applications_and_promotes(api, staff, post_need, resident, apply):
    need = post_need(capacity=1)
    leaving = resident()
    accepted = apply(need, leaving).get_json()
    api.post(f"/applications/{accepted['id']}/accept", token=staff)
    waiting = apply(need, resident()).get_json()
    assert api.delete("/me", token=leaving).status_code == 204
    statuses = {a["id"]: a["status"] for a in api.get(f"/needs/{need['id']}/applications", token=staff).get_json()}
    assert statuses == {accepted["id"]: "cancelled", waiting["id"]: "applied"}


# --- who may call what ---------------------------------------------------------------------------------------

@pytest.fixture
def world(api, staff, post_need, resident, apply, make_account):
    need = post_need(starts_on=days(0), ends_on=days(0), apply_by=days(0))
    applicant = resident()
    application = apply(need, applicant).get_json()
    return {"need": need["id"], "application": application["id"], "applicant": applicant,
            "staff": staff, "other_staff": make_account("staff", TAKAYAMA), "resident": resident(),
            "national": make_account("national"), "admin": make_account("admin")}


ENDPOINTS = [  # method, path, body, the caller allowed, what a staff of another 団体 gets
    ("POST", "/needs", need_body(), "staff", 403),
    ("PATCH", "/needs/{need}", {"title": "改題"}, "staff", 403),
    ("POST", "/needs/{need}/close", None, "staff", 403),
    ("POST", "/needs/{need}/applications", {}, "resident", 403),
    ("GET", "/needs/{need}/applications", None, "staff", 403),
    ("GET", "/needs/{need}/candidates", None, "staff", 403),
    ("POST", "/applications/{application}/accept", None, "staff", 404),
    ("POST", "/applications/{application}/decline", None, "staff", 404),
    ("GET", "/applications/{application}/calendar.ics", None, "applicant", 403),
    ("DELETE", "/applications/{application}", None, "applicant", 403),
    ("GET", "/me/applications", None, "resident", 403),
    ("GET", "/me/activities", None, "resident", 403),
    ("GET", "/me/recommendations", None, "resident", 403),
    ("POST", "/needs/{need}/cancel", None, "staff", 403),
]


@pytest.mark.parametrize("method, path, body, allowed, other_staff", ENDPOINTS)
def test_authorization_matrix(api, world, method, path, body, allowed, other_staff):
    url = path.format(**world)
    kwargs = {"json": body} if body is not None else {}
    assert _code(api.call(method, url, **kwargs), 401) == "unauthorized"
    for caller in ("resident", "national", "admin", "staff"):
        if caller == allowed or (allowed == "applicant" and caller == "resident"):
            continue
        assert _code(api.call(method, url, token=world[caller], **kwargs), 403) == "forbidden", caller
    if allowed == "applicant":  # another resident: the application is not theirs to see
        assert _code(api.call(method, url, token=world["resident"], **kwargs), 404) == "not_found"
    if allowed == "staff":
        response = api.call(method, url, token=world["other_staff"], **kwargs)
        assert response.status_code == other_staff, response.get_json()
    response = api.call(method, url, token=world["applicant" if allowed == "applicant" else allowed], **kwargs)
    assert response.status_code < 500 and response.status_code not in (401, 403), (allowed, response.get_json())


def test_public_endpoints(api, world):
    assert api.get("/needs").status_code == 200
    assert api.get(f"/needs/{world['need']}").status_code == 200
    assert api.get(f"/needs/{world['need']}", token=world["national"]).status_code == 200
