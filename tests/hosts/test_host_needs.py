"""Needs by hosts: drafts for their own 団体, publication by staff, trusted hosts, and a host managing
its own needs and nothing else."""
import pytest

from tests.factories import HIDA, TAKAYAMA, days
from tests.hosts.conftest import in_progress


def test_a_host_drafts_for_its_own_organization_only(api, make_host, post_need_today):
    host, token = make_host()
    response = post_need_today(token=token, host_name=None)
    assert response.status_code == 201
    need = response.get_json()
    assert need["status"] == "draft" and need["host_id"] == host["id"] and need["counts_as_activity"] is True
    assert need["host_name"] == host["host_name"]  # defaults to the host's own name
    other = api.post("/needs", token=token, json=in_progress(organization_code=TAKAYAMA))
    assert other.status_code == 403 and other.get_json()["code"] == "forbidden"


def test_drafts_are_seen_by_their_host_and_the_staff_only(api, staff, other_staff, make_host, post_need_today, signup):
    host, token = make_host()
    _, neighbour = make_host()
    need = post_need_today(token=token).get_json()
    _, resident = signup()
    assert api.get(f"/needs/{need['id']}", token=token).status_code == 200
    assert api.get(f"/needs/{need['id']}", token=staff).status_code == 200
    for who in (neighbour, other_staff, resident, None):
        response = api.get(f"/needs/{need['id']}", token=who)
        assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    listed = api.get("/needs", query_string={"organization": HIDA}).get_json()
    assert need["id"] not in [n["id"] for n in listed]
    assert api.get("/needs", query_string={"status": "draft"}).status_code == 422
    searched = api.get("/needs", query_string={"q": "雪かき"}).get_json()
    assert need["id"] not in [n["id"] for n in searched]
    recommended = api.get("/me/recommendations", token=resident).get_json()
    assert need["id"] not in [r["need"]["id"] for r in recommended]
    applied = api.post(f"/needs/{need['id']}/applications", token=resident, json={})
    assert applied.status_code == 404


def test_staff_publish_a_draft_and_its_designation_stands(api, staff, other_staff, make_host, post_need_today):
    _host, token = make_host()
    need = post_need_today(token=token).get_json()
    assert api.post(f"/needs/{need['id']}/publish", token=token).status_code == 403
    assert api.post(f"/needs/{need['id']}/publish", token=other_staff).status_code == 404
    published = api.post(f"/needs/{need['id']}/publish", token=staff)
    assert published.status_code == 200
    assert published.get_json()["status"] == "open" and published.get_json()["counts_as_activity"] is True
    again = api.post(f"/needs/{need['id']}/publish", token=staff)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    assert need["id"] in [n["id"] for n in api.get("/needs", query_string={"organization": HIDA}).get_json()]


def test_a_trusted_hosts_need_opens_but_designates_nothing(api, staff, make_host, post_need_today):
    _host, token = make_host(trusted=True)
    need = post_need_today(token=token, counts_as_activity=True).get_json()
    assert need["status"] == "open" and need["counts_as_activity"] is False
    refused = api.patch(f"/needs/{need['id']}", token=token, json={"counts_as_activity": True})
    assert refused.status_code == 403
    assert api.get(f"/needs/{need['id']}").get_json()["counts_as_activity"] is False
    unchanged = {"title": "新しい題", "counts_as_activity": False}  # the same designation: no staff needed
    assert api.patch(f"/needs/{need['id']}", token=token, json=unchanged).status_code == 200
    designated = api.patch(f"/needs/{need['id']}", token=staff, json={"counts_as_activity": True})
    assert designated.status_code == 200 and designated.get_json()["counts_as_activity"] is True
    assert api.patch(f"/needs/{need['id']}", token=token, json={"counts_as_activity": False}).status_code == 403


def test_an_untrusted_host_may_change_its_proposal_while_a_draft(api, make_host, post_need_today):
    _host, token = make_host()
    need = post_need_today(token=token, counts_as_activity=False).get_json()
    changed = api.patch(f"/needs/{need['id']}", token=token, json={"counts_as_activity": True})
    assert changed.status_code == 200 and changed.get_json()["counts_as_activity"] is True


def test_a_host_runs_its_own_needs(api, staff, make_host, post_need_today, accepted, signup):
    _host, token = make_host(trusted=True)
    need = post_need_today(token=token).get_json()
    _, applicant = signup()
    application = api.post(f"/needs/{need['id']}/applications", token=applicant, json={"message": "行きます"}).get_json()
    listed = api.get(f"/needs/{need['id']}/applications", token=token)
    assert listed.status_code == 200 and listed.get_json()[0]["message"] == "行きます"
    assert api.post(f"/applications/{application['id']}/accept", token=token).get_json()["status"] == "accepted"
    assert api.post(f"/applications/{application['id']}/complete", token=token).get_json()["status"] == "completed"
    _resident, second = accepted(need, decider=token)
    assert api.post(f"/applications/{second['id']}/no-show", token=token).get_json()["status"] == "no_show"
    _resident, third = accepted(need, decider=token)
    assert api.post(f"/applications/{third['id']}/decline", token=token).get_json()["status"] == "declined"
    assert api.get(f"/needs/{need['id']}/candidates", token=token).status_code == 200
    assert api.patch(f"/needs/{need['id']}", token=token, json={"capacity": 10}).status_code == 200
    assert api.post(f"/needs/{need['id']}/close", token=token).get_json()["status"] == "closed"
    assert api.post(f"/needs/{need['id']}/cancel", token=token).get_json()["status"] == "cancelled"


def test_a_host_touches_no_other_need(api, staff, make_host, post_need_today, signup):
    _host, token = make_host()
    _other, other_token = make_host(trusted=True)
    staff_need = post_need_today().get_json()
    others = post_need_today(token=other_token).get_json()
    others_draft = api.post("/needs", token=make_host()[1], json=in_progress()).get_json()
    _, applicant = signup()
    application = api.post(f"/needs/{others['id']}/applications", token=applicant, json={}).get_json()
    for need in (staff_need, others):
        assert api.get(f"/needs/{need['id']}/applications", token=token).status_code == 403
        assert api.get(f"/needs/{need['id']}/candidates", token=token).status_code == 403
        assert api.patch(f"/needs/{need['id']}", token=token, json={"title": "乗っ取り"}).status_code == 403
        assert api.post(f"/needs/{need['id']}/close", token=token).status_code == 403
        assert api.post(f"/needs/{need['id']}/cancel", token=token).status_code == 403
        assert api.get(f"/needs/{need['id']}/check-in-code", token=token).status_code == 403
        assert api.post(f"/needs/{need['id']}/complete-checked-in", token=token).status_code == 403
    assert api.get(f"/needs/{others_draft['id']}/applications", token=token).status_code == 404
    assert api.patch(f"/needs/{others_draft['id']}", token=token, json={"title": "x"}).status_code == 404
    for decision in ("accept", "decline", "complete", "no-show"):
        assert api.post(f"/applications/{application['id']}/{decision}", token=token).status_code == 404
    assert api.get(f"/needs/{others['id']}/applications", token=other_token).status_code == 200


@pytest.mark.parametrize("method, path", [
    ("GET", f"/organizations/{HIDA}/registrants"),
    ("GET", "/premium-requests?status=pending"),
    ("POST", f"/organizations/{HIDA}/announcements"),
    ("GET", "/stats/totals"),
    ("GET", f"/stats/totals?organization={HIDA}"),
    ("GET", "/stats/by-prefecture"),
    ("GET", "/identity-verifications?status=pending"),
    ("GET", "/activity-evidence?status=pending"),
    ("GET", f"/organizations/{HIDA}/hosts"),
    ("POST", f"/organizations/{HIDA}/hosts"),
])
def test_a_host_sees_nothing_else_of_its_organization(api, make_host, method, path):
    _host, token = make_host(trusted=True)
    body = {"json": {"title": "お知らせ", "body": "本文"}} if method == "POST" else {}
    response = api.call(method, path, token=token, **body)
    assert response.status_code == 403, (path, response.get_json())


def test_my_needs_lists_what_each_manages(api, staff, make_host, post_need_today):
    _host, token = make_host()
    _other, other_token = make_host(trusted=True)
    mine = post_need_today(token=token, starts_on=days(3), ends_on=days(3), apply_by=days(2)).get_json()
    theirs = post_need_today(token=other_token).get_json()
    staffs = post_need_today().get_json()
    assert [n["id"] for n in api.get("/me/needs", token=token).get_json()] == [mine["id"]]
    all_of_them = [n["id"] for n in api.get("/me/needs", token=staff).get_json()]
    assert all_of_them == [theirs["id"], staffs["id"], mine["id"]]  # by starts_on, then (time-ordered) id
    drafts = api.get("/me/needs", token=staff, query_string={"status": "draft"}).get_json()
    assert [n["id"] for n in drafts] == [mine["id"]]
    assert api.get("/me/needs", token=staff, query_string={"status": "nope"}).status_code == 422
