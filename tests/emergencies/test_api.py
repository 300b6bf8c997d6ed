"""Emergencies through the API (API.md "Emergencies"): declaring within one's reach, the public list and
notice, offers from the people tied to an affected 団体 (one each, updated), the offers with e-mails for
the staff of affected and proxy 団体, counts for the national office, proxies, closing."""
import uuid

from sqlalchemy import select

from registry.audit.models import EMERGENCY_OFFERS, AuditEntry
from registry.extensions import db
from tests.emergencies.conftest import OFFER, emergency_body
from tests.factories import CHIYODA, GIFU, GIFU_CITY, HIDA, NAHA, TAKAYAMA, TOKYO


def test_staff_declare_for_their_own_団体_and_anyone_reads_it(api, staff, declare):
    emergency = declare(HIDA)
    assert set(emergency) >= {"id", "title", "message", "organization_codes", "status", "declared_at"}
    assert emergency["status"] == "active" and emergency["organization_codes"] == [HIDA]
    assert emergency["declared_at"].endswith("+09:00")
    listed = api.get("/emergencies?status=active")
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1"
    assert [e["id"] for e in listed.get_json()] == [emergency["id"]]
    assert api.get("/emergencies").get_json() == listed.get_json()  # active unless asked
    assert api.get("/emergencies?status=closed").get_json() == []
    public = api.get(f"/emergencies/{emergency['id']}").get_json()
    assert public["title"] == "飛騨地方で大雨災害" and public["status"] == "active"
    assert "recipients" not in public and "offers" not in public  # delivery is for staff


def test_reach_a_municipality_for_its_own_a_prefecture_for_its_municipalities_national_for_any(
        api, make_account, declare):
    hida, gifu, national = make_account("staff", HIDA), make_account("staff", GIFU), make_account("national")
    assert api.post("/emergencies", token=hida, json=emergency_body(TAKAYAMA)).status_code == 403
    assert api.post("/emergencies", token=hida, json=emergency_body(HIDA, GIFU)).status_code == 403
    assert declare(GIFU, HIDA, TAKAYAMA, token=gifu)["organization_codes"] == sorted([GIFU, HIDA, TAKAYAMA])
    assert api.post("/emergencies", token=gifu, json=emergency_body(CHIYODA)).status_code == 403
    assert declare(CHIYODA, HIDA, token=national)["organization_codes"] == [CHIYODA, HIDA]
    unknown = api.post("/emergencies", token=national, json=emergency_body("999999"))
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "unknown_organization"


def test_declaring_checks_its_input(api, staff, resident):
    assert api.post("/emergencies", token=resident(), json=emergency_body(HIDA)).status_code == 403
    empty = api.post("/emergencies", token=staff, json={**emergency_body(HIDA), "organization_codes": []})
    assert empty.status_code == 422 and "organization_codes" in empty.get_json()["errors"]
    number = api.post("/emergencies", token=staff, json={**emergency_body(HIDA), "message": "番号 123456789018"})
    assert number.status_code == 422 and "message" in number.get_json()["errors"]


def test_a_tied_resident_offers_help_once_and_updates_it(api, declare, tied):
    emergency = declare(HIDA)
    _, token = tied(HIDA)
    url = f"/emergencies/{emergency['id']}/offers"
    first = api.post(url, token=token, json=OFFER)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["kinds"] == ["on_site", "supplies"] and body["available_until"] == "2030-01-20"
    again = api.post(url, token=token, json={"kinds": ["remote"], "message": "遠隔で事務作業を手伝えます。"})
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert again.get_json()["kinds"] == ["remote"] and again.get_json()["skills"] == []
    mine = api.get(f"/emergencies/{emergency['id']}", token=token).get_json()
    assert mine["can_offer"] is True and mine["my_offer"]["id"] == body["id"]


def test_who_may_offer_follows_the_notice(api, make_account, declare, tied):
    """A prefecture named reaches its municipalities' registrants; a municipality named does not reach
    people registered only with its prefecture."""
    gifu_staff = make_account("staff", GIFU)
    by_prefecture = declare(GIFU, token=gifu_staff)
    by_town = declare(HIDA)
    _, of_town = tied(HIDA)
    _, of_prefecture = tied(GIFU)
    _, living_there = tied(TAKAYAMA, home=GIFU_CITY)  # living in the prefecture is no reason to be left out
    _, elsewhere = tied(TAKAYAMA)
    _, unregistered = tied(NAHA)
    for token, prefecture_ok, town_ok in ((of_town, True, True), (of_prefecture, True, False),
                                          (living_there, True, False), (elsewhere, True, False),
                                          (unregistered, False, False)):
        for emergency, ok in ((by_prefecture, prefecture_ok), (by_town, town_ok)):
            response = api.post(f"/emergencies/{emergency['id']}/offers", token=token, json=OFFER)
            assert response.status_code == (201 if ok else 403), (response.get_json(), ok)
            assert api.get(f"/emergencies/{emergency['id']}", token=token).get_json()["can_offer"] is ok


def test_offers_check_their_input(api, declare, tied):
    emergency = declare(HIDA)
    _, token = tied(HIDA)
    url = f"/emergencies/{emergency['id']}/offers"
    for body, field in (({"kinds": []}, "kinds"), ({"kinds": ["money"]}, "kinds"), ({}, "kinds"),
                        ({**OFFER, "available_from": "2030-02-01"}, "available_until"),
                        ({**OFFER, "available_from": "1999-12-31"}, "available_from"),
                        ({**OFFER, "available_until": "2030-02-30"}, "available_until"),
                        ({**OFFER, "message": "マイナンバーは123456789018です"}, "message"),
                        ({**OFFER, "skills": ["x" * 51]}, "skills")):
        response = api.post(url, token=token, json=body)
        assert response.status_code == 422 and field in response.get_json()["errors"], (body, response.get_json())
    assert api.post(f"/emergencies/{uuid.uuid4()}/offers", token=token, json=OFFER).status_code == 404


def test_staff_of_affected_and_proxy_団体_read_offers_with_e_mail_national_counts(api, make_account, declare, tied):
    staff = make_account("staff", HIDA)
    emergency = declare(HIDA, token=staff)
    user, token = tied(HIDA, display_name="支援 一郎", birth_year=1980)
    api.post(f"/emergencies/{emergency['id']}/offers", token=token, json=OFFER)
    url = f"/emergencies/{emergency['id']}/offers"

    offers = api.get(url, token=staff)
    assert offers.status_code == 200 and offers.headers["X-Total-Count"] == "1"
    [offer] = offers.get_json()
    assert offer["email"] == user["email"] and offer["display_name"] == "支援 一郎"
    assert offer["age_band"] in ("40_49", "50_59") and offer["skills"] == ["重機の運転", "看護"]
    assert set(offer) >= {"id", "display_name", "age_band", "skills", "kinds", "available_from", "available_until",
                          "message", "email"}
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == EMERGENCY_OFFERS))
    assert entry.subject_ids == [user["id"]] and entry.organization_code == HIDA

    takayama, national = make_account("staff", TAKAYAMA), make_account("national")
    assert api.get(url, token=takayama).status_code == 403
    assert api.get(url, token=national).status_code == 403
    counted = api.get(f"/emergencies/{emergency['id']}", token=national).get_json()
    assert counted["offers"] == 1 and counted["recipients"] is None and counted["notified"] == 0
    assert "offers" not in api.get(f"/emergencies/{emergency['id']}", token=takayama).get_json()

    named = api.post(f"/emergencies/{emergency['id']}/proxies", token=staff, json={"organization_code": TAKAYAMA})
    assert named.status_code == 201 and named.get_json()["organization_code"] == TAKAYAMA
    assert api.get(url, token=takayama).get_json()[0]["email"] == user["email"]
    assert api.get(f"/emergencies/{emergency['id']}", token=takayama).get_json()["offers"] == 1
    assert api.get(f"/emergencies/{emergency['id']}").get_json()["proxy_codes"] == [TAKAYAMA]


def test_a_prefecture_s_staff_read_the_offers_of_its_municipality_s_emergency(api, make_account, declare, tied):
    """Staff of an affected 団体, as the reach rule reads it: 岐阜県's staff for 飛騨市; not 東京都's."""
    emergency = declare(HIDA)
    user, token = tied(HIDA)
    api.post(f"/emergencies/{emergency['id']}/offers", token=token, json=OFFER)
    gifu = make_account("staff", GIFU)
    assert [o["email"] for o in api.get(f"/emergencies/{emergency['id']}/offers", token=gifu).get_json()] == \
        [user["email"]]
    assert api.get(f"/emergencies/{emergency['id']}", token=gifu).get_json()["offers"] == 1
    assert api.get(f"/emergencies/{emergency['id']}/offers", token=make_account("staff", TOKYO)).status_code == 403


def test_proxies_are_named_by_affected_staff_and_national(api, make_account, declare):
    staff = make_account("staff", HIDA)
    emergency = declare(HIDA, token=staff)
    url = f"/emergencies/{emergency['id']}/proxies"
    assert api.post(url, token=make_account("staff", TAKAYAMA), json={"organization_code": TAKAYAMA}).status_code == 403
    assert api.post(url, token=make_account("national"), json={"organization_code": GIFU}).status_code == 201
    again = api.post(url, token=staff, json={"organization_code": GIFU})
    assert again.status_code == 200 and again.get_json()["organization_code"] == GIFU
    itself = api.post(url, token=staff, json={"organization_code": HIDA})
    assert itself.status_code == 422 and "organization_code" in itself.get_json()["errors"]
    unknown = api.post(url, token=staff, json={"organization_code": "000000"})
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "unknown_organization"


def test_closing_ends_offers_and_proxies(api, make_account, declare, tied):
    staff = make_account("staff", HIDA)
    emergency = declare(HIDA, token=staff)
    _, token = tied(HIDA)
    url = f"/emergencies/{emergency['id']}"
    api.post(f"{url}/proxies", token=staff, json={"organization_code": TAKAYAMA})
    proxy = make_account("staff", TAKAYAMA)
    assert api.post(f"{url}/close", token=proxy).status_code == 403  # a proxy may not
    assert api.get(f"{url}/offers", token=proxy).status_code == 200
    closed = api.post(f"{url}/close", token=staff)
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert closed.get_json()["closed_at"] is not None
    again = api.post(f"{url}/close", token=staff)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    late = api.post(f"{url}/offers", token=token, json=OFFER)
    assert late.status_code == 409 and late.get_json()["code"] == "invalid_state"
    assert api.post(f"{url}/proxies", token=staff, json={"organization_code": GIFU}).status_code == 409
    assert api.get("/emergencies").get_json() == []
    assert [e["id"] for e in api.get("/emergencies?status=closed").get_json()] == [emergency["id"]]
    assert api.get(f"{url}", token=token).get_json()["can_offer"] is False
    assert api.get(f"{url}/offers", token=proxy).status_code == 403  # a proxy acts only while it lasts
    assert "offers" not in api.get(url, token=proxy).get_json()
    assert api.get(f"{url}/offers", token=staff).status_code == 200  # the affected 団体's staff still read them


def test_a_prefecture_closes_an_emergency_of_its_municipality_national_any(api, make_account, declare):
    first, second = declare(HIDA), declare(HIDA)
    assert api.post(f"/emergencies/{first['id']}/close", token=make_account("staff", GIFU)).status_code == 200
    assert api.post(f"/emergencies/{second['id']}/close", token=make_account("national")).status_code == 200
    assert api.post(f"/emergencies/{uuid.uuid4()}/close", token=make_account("national")).status_code == 404


def test_english_messages(api, declare, tied):
    emergency = declare(HIDA)
    _, token = tied(TAKAYAMA)
    refused = api.post(f"/emergencies/{emergency['id']}/offers", token=token, json=OFFER,
                       headers={"Accept-Language": "en"})
    assert refused.get_json()["detail"] == "Only people registered with an affected 団体 can offer help here."
    ja = api.post(f"/emergencies/{emergency['id']}/offers", token=token, json=OFFER).get_json()
    assert ja["detail"] != refused.get_json()["detail"]
