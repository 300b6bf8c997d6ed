"""Benefits: staff publish per tier, anyone reads the current ones, the certificate check lists them."""
import uuid
from datetime import timedelta

import pytest

from registry.benefits import service
from registry.common.time import today_tokyo
from registry.extensions import db
from registry.registrations.models import Registration
from tests.factories import GIFU, HIDA, TAKAYAMA, days


def benefit(**fields) -> dict:
    body = {"title": "市営温泉の住民料金", "description": "飛騨市民と同じ料金で入浴できます。", "tier": "basic",
            "kind": "facility"}
    body.update(fields)
    return body


@pytest.fixture
def publish(api, staff):
    def make(code=HIDA, token=None, **fields):
        response = api.post(f"/organizations/{code}/benefits", token=token or staff, json=benefit(**fields))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


def test_publish_and_read(api, publish):
    created = publish(valid_until=days(30))
    assert created["organization_code"] == HIDA and created["tier"] == "basic" and created["kind"] == "facility"
    assert created["valid_from"] is None and created["valid_until"] == days(30)
    listed = api.get(f"/organizations/{HIDA}/benefits")
    assert listed.status_code == 200 and [b["id"] for b in listed.get_json()] == [created["id"]]
    assert listed.headers["X-Total-Count"] == "1"


def test_only_current_benefits_are_listed(api, publish, staff):
    current = [publish(title="今日から", valid_from=days(0)), publish(title="今日まで", valid_until=days(0)),
               publish(title="期限なし")]
    publish(title="来月から", valid_from=days(30))
    publish(title="終了", valid_from=days(-60), valid_until=days(-1))
    titles = [b["title"] for b in api.get(f"/organizations/{HIDA}/benefits").get_json()]
    assert titles == [b["title"] for b in current]
    everything = api.get(f"/organizations/{HIDA}/benefits?all=true", token=staff)
    assert everything.status_code == 200 and len(everything.get_json()) == 5


def test_all_is_for_the_organizations_own_staff(api, publish, make_account, signup):
    publish()
    assert api.get(f"/organizations/{HIDA}/benefits?all=true").status_code == 401
    assert api.get(f"/organizations/{HIDA}/benefits?all=true", token=signup()[1]).status_code == 403
    assert api.get(f"/organizations/{HIDA}/benefits?all=true", token=make_account("staff", TAKAYAMA)).status_code == 403


def test_premium_includes_basic(api, publish):
    publish(title="住民料金", tier="basic")
    publish(title="コワーキング無料", tier="premium", kind="workspace")
    assert [b["title"] for b in api.get(f"/organizations/{HIDA}/benefits?tier=basic").get_json()] == ["住民料金"]
    assert [b["title"] for b in api.get(f"/organizations/{HIDA}/benefits?tier=premium").get_json()] == \
        ["住民料金", "コワーキング無料"]
    assert service.benefits_for(HIDA, "premium") == [{"title": "住民料金", "kind": "facility"},
                                                     {"title": "コワーキング無料", "kind": "workspace"}]
    assert service.benefits_for(HIDA, "basic") == [{"title": "住民料金", "kind": "facility"}]
    assert service.benefits_for(TAKAYAMA, "premium") == []


def test_who_may_publish(api, make_account, signup):
    body = benefit()
    assert api.post(f"/organizations/{HIDA}/benefits", json=body).status_code == 401
    assert api.post(f"/organizations/{HIDA}/benefits", token=signup()[1], json=body).status_code == 403
    other = make_account("staff", TAKAYAMA)
    forbidden = api.post(f"/organizations/{HIDA}/benefits", token=other, json=body)
    assert forbidden.status_code == 403 and forbidden.get_json()["code"] == "forbidden"
    for role in ("national", "admin"):
        assert api.post(f"/organizations/{HIDA}/benefits", token=make_account(role), json=body).status_code == 403
    unknown = api.post("/organizations/999999/benefits", token=other, json=body)
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "unknown_organization"
    assert api.get("/organizations/999999/benefits").get_json()["code"] == "unknown_organization"


@pytest.mark.parametrize("fields, field", [
    ({"tier": "gold"}, "tier"), ({"kind": "money"}, "kind"), ({"title": ""}, "title"), ({"title": "x" * 201}, "title"),
    ({"description": "x" * 4001}, "description"), ({"valid_from": "tomorrow"}, "valid_from"),
    ({"valid_from": days(10), "valid_until": days(9)}, "valid_until"), ({"extra": 1}, "extra"),
    ({"title": "a\u0000b"}, "title"), ({"description": "\u0000"}, "description"),
])
def test_bad_benefits_are_422(api, staff, fields, field):
    response = api.post(f"/organizations/{HIDA}/benefits", token=staff, json=benefit(**fields))
    assert response.status_code == 422 and field in response.get_json()["errors"]


def test_delete(api, publish, staff, make_account, signup):
    created = publish()
    assert api.delete(f"/benefits/{created['id']}").status_code == 401
    assert api.delete(f"/benefits/{created['id']}", token=signup()[1]).status_code == 403
    assert api.delete(f"/benefits/{created['id']}", token=make_account("staff", TAKAYAMA)).status_code == 404
    assert api.delete(f"/benefits/{created['id']}", token=staff).status_code == 204
    assert api.delete(f"/benefits/{created['id']}", token=staff).status_code == 404
    assert api.get(f"/organizations/{HIDA}/benefits").get_json() == []


def test_the_certificate_check_lists_the_holders_benefits(api, publish, signup):
    publish(title="住民料金", tier="basic")
    publish(title="宿泊補助", tier="premium", kind="lodging")
    publish(title="終了した施策", tier="basic", valid_until=days(-1))
    publish(code=HIDA, title="来年から", tier="basic", valid_from=days(365))
    _, token = signup()
    reg = api.post("/registrations", token=token, json={"organization_code": HIDA, "ties": ["birthplace"]}).get_json()

    def verified():
        token_ = api.get(f"/registrations/{reg['id']}/certificate", token=token).get_json()["token"]
        return api.get(f"/certificates/verify?token={token_}").get_json()

    answer = verified()
    assert answer["valid"] is True and answer["tier"] == "basic"
    assert answer["benefits"] == [{"title": "住民料金", "kind": "facility"}]
    row = db.session.get(Registration, uuid.UUID(reg["id"]))
    row.tier, row.premium_valid_until = "premium", today_tokyo() + timedelta(days=100)
    db.session.commit()
    assert verified()["benefits"] == [{"title": "住民料金", "kind": "facility"}, {"title": "宿泊補助", "kind": "lodging"}]
    assert api.get("/certificates/verify?token=forged").get_json()["benefits"] == []


def test_benefits_of_several_organizations_in_one_query(publish, make_account):
    publish(title="飛騨")
    publish(code=TAKAYAMA, token=make_account("staff", TAKAYAMA), title="高山")
    found = service.current_by_organization([HIDA, TAKAYAMA, GIFU])
    assert {code: [b.title for b in items] for code, items in found.items()} == \
        {HIDA: ["飛騨"], TAKAYAMA: ["高山"], GIFU: []}
