"""While an emergency is active: a proxy 団体's staff act for the affected ones (post and manage needs,
post announcements: registry/organizations/acting.py), and an affected 団体's needs may be urgent —
first in the recommendations of the people tied to it, with a reason that says so. Closing ends both."""
import pytest

from registry.organizations import acting
from tests.emergencies.conftest import emergency_body
from tests.factories import CHIYODA, GIFU, HIDA, NAHA, TAKAYAMA, register
from tests.needs.conftest import need_body


@pytest.fixture
def hida(api, make_account):
    """飛騨市's staff, an active emergency for 飛騨市, and 高山市 named its proxy: (staff, emergency, proxy staff)."""
    staff, proxy = make_account("staff", HIDA), make_account("staff", TAKAYAMA)
    emergency = api.post("/emergencies", token=staff, json=emergency_body(HIDA)).get_json()
    return staff, emergency, proxy


def _name(api, staff, emergency, code=TAKAYAMA):
    assert api.post(f"/emergencies/{emergency['id']}/proxies", token=staff,
                    json={"organization_code": code}).status_code == 201


def test_a_proxy_posts_and_manages_needs_for_the_affected_団体_until_the_emergency_closes(api, hida):
    staff, emergency, proxy = hida
    assert api.post("/needs", token=proxy, json=need_body()).status_code == 403  # not named yet
    _name(api, staff, emergency)
    posted = api.post("/needs", token=proxy, json=need_body(title="避難所の受付"))
    assert posted.status_code == 201 and posted.get_json()["organization_code"] == HIDA
    need = posted.get_json()
    assert api.patch(f"/needs/{need['id']}", token=proxy, json={"capacity": 10}).status_code == 200
    assert api.get(f"/needs/{need['id']}/applications", token=proxy).status_code == 200
    assert api.post("/needs", token=proxy, json=need_body(organization_code=GIFU)).status_code == 403  # not affected
    assert api.post(f"/emergencies/{emergency['id']}/close", token=staff).status_code == 200
    assert api.post("/needs", token=proxy, json=need_body()).status_code == 403
    assert api.patch(f"/needs/{need['id']}", token=proxy, json={"capacity": 5}).status_code == 403
    assert api.patch(f"/needs/{need['id']}", token=staff, json={"capacity": 5}).status_code == 200


def test_a_proxy_posts_announcements_for_the_affected_団体(api, signup, hida):
    staff, emergency, proxy = hida
    body = {"title": "給水所のお知らせ", "body": "古川町公民館で給水しています。"}
    assert api.post(f"/organizations/{HIDA}/announcements", token=proxy, json=body).status_code == 403
    _name(api, staff, emergency)
    _, reader = signup()
    register(api, reader, HIDA)
    api.patch("/me", token=reader, json={"consents": {"announcements": True}})
    posted = api.post(f"/organizations/{HIDA}/announcements", token=proxy, json=body)
    assert posted.status_code == 201 and posted.get_json()["organization_code"] == HIDA
    assert [a["id"] for a in api.get("/me/announcements", token=reader).get_json()] == [posted.get_json()["id"]]
    assert api.get(f"/organizations/{HIDA}/announcements/{posted.get_json()['id']}", token=proxy).status_code == 200
    assert api.post(f"/organizations/{GIFU}/announcements", token=proxy, json=body).status_code == 403
    api.post(f"/emergencies/{emergency['id']}/close", token=staff)
    assert api.post(f"/organizations/{HIDA}/announcements", token=proxy, json=body).status_code == 403


def test_the_rules_without_an_emergency_and_for_ones_own_団体():
    assert acting.acts_for(TAKAYAMA, HIDA) is False and acting.acts_for(None, HIDA) is False
    assert acting.acts_for(HIDA, HIDA) is False  # one's own 団体 is no acting for another
    assert acting.in_emergency(HIDA) is False


def test_urgent_only_while_an_emergency_names_the_団体(api, make_account, hida):
    staff, emergency, proxy = hida
    urgent = api.post("/needs", token=staff, json=need_body(urgent=True, title="土のう積み"))
    assert urgent.status_code == 201 and urgent.get_json()["urgent"] is True
    takayama_staff = make_account("staff", TAKAYAMA)
    refused = api.post("/needs", token=takayama_staff, json=need_body(organization_code=TAKAYAMA, urgent=True))
    assert refused.status_code == 422 and "urgent" in refused.get_json()["errors"]
    calm = api.post("/needs", token=staff, json=need_body()).get_json()
    assert calm["urgent"] is False
    assert api.patch(f"/needs/{calm['id']}", token=staff, json={"urgent": True}).get_json()["urgent"] is True
    second = api.post("/emergencies", token=staff, json=emergency_body(HIDA)).get_json()  # another, still active
    api.post(f"/emergencies/{emergency['id']}/close", token=staff)
    assert api.get(f"/needs/{calm['id']}").get_json()["urgent"] is True  # the second one still names 飛騨市
    api.post(f"/emergencies/{second['id']}/close", token=staff)
    assert api.get(f"/needs/{calm['id']}").get_json()["urgent"] is False
    assert api.get(f"/needs/{urgent.get_json()['id']}").get_json()["urgent"] is False
    late = api.patch(f"/needs/{calm['id']}", token=staff, json={"urgent": True},
                     headers={"Accept-Language": "en"})
    assert late.status_code == 422
    assert late.get_json()["errors"]["urgent"] == ["Only while an emergency is declared for this 団体."]
    assert api.patch(f"/needs/{calm['id']}", token=staff, json={"urgent": False}).status_code == 200


def test_urgent_needs_come_first_for_the_people_tied_to_the_団体_with_a_reason(api, signup, make_account):
    gifu_staff, hida_staff, chiyoda_staff = (make_account("staff", code) for code in (GIFU, HIDA, CHIYODA))
    api.post("/emergencies", token=gifu_staff, json=emergency_body(GIFU, HIDA))
    # A need the person would otherwise prefer (remote, their skill, a 団体 they are registered with) …
    favourite = api.post("/needs", token=make_account("staff", TAKAYAMA), json=need_body(
        organization_code=TAKAYAMA, title="観光サイトの英訳", skills=["翻訳"], remote=True)).get_json()
    # … and urgent needs of 飛騨市 and of 岐阜県 itself, with nothing else in their favour.
    urgent = api.post("/needs", token=hida_staff, json=need_body(title="土砂の片付け", skills=[], urgent=True)).get_json()
    by_prefecture = api.post("/needs", token=gifu_staff, json=need_body(
        organization_code=GIFU, title="県の物資仕分け", skills=[], urgent=True)).get_json()
    calm = api.post("/needs", token=hida_staff, json=need_body(title="棚田の草刈り", skills=[])).get_json()
    tokyo = api.post("/needs", token=chiyoda_staff, json=need_body(organization_code=CHIYODA, title="区民まつり",
                                                                 skills=[])).get_json()

    _, tied = signup(home=CHIYODA)
    register(api, tied, TAKAYAMA)  # tied to 岐阜県 through 高山市, not to 飛騨市
    register(api, tied, NAHA)
    api.patch("/me", token=tied, json={"skills": ["翻訳"]})
    ranked = api.get("/me/recommendations?limit=10", token=tied).get_json()
    ids = [r["need"]["id"] for r in ranked]
    assert ids[0] == by_prefecture["id"]  # urgent, of a 団体 they are tied to
    assert ids.index(favourite["id"]) < ids.index(urgent["id"])  # 飛騨市's urgent need is not theirs to come first
    [reason] = [r for r in ranked[0]["reasons"] if "岐阜県" in r and "緊急" in r]
    english = api.get("/me/recommendations?limit=10", token=tied, headers={"Accept-Language": "en"}).get_json()
    assert "Urgent: 岐阜県 needs help in an emergency" in english[0]["reasons"]

    _, of_hida = signup(home=CHIYODA)
    register(api, of_hida, HIDA)
    api.patch("/me", token=of_hida, json={"skills": ["翻訳"]})
    ranked = [r["need"]["id"] for r in api.get("/me/recommendations?limit=10", token=of_hida).get_json()]
    assert set(ranked[:2]) == {urgent["id"], by_prefecture["id"]}  # both: 飛騨市, and 岐阜県 through it
    assert ranked.index(favourite["id"]) > 1 and calm["id"] in ranked and tokyo["id"] in ranked

    _, stranger = signup(home=CHIYODA)
    register(api, stranger, NAHA)
    api.patch("/me", token=stranger, json={"skills": ["翻訳"]})
    ranked = api.get("/me/recommendations?limit=10", token=stranger).get_json()
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True)  # urgent needs are not first for everyone: by score alone
    assert ranked[0]["need"]["id"] not in (urgent["id"], by_prefecture["id"])
    assert not any("Urgent" in reason or "緊急" in reason for r in ranked for reason in r["reasons"])
