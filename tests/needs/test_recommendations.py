"""GET /me/recommendations and GET /needs/{id}/candidates: scores, reasons, who is left out."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from registry.common.time import today_tokyo
from registry.extensions import db
from registry.registrations.models import Registration
from tests.factories import CHIYODA, HIDA, TAKAYAMA, register


def _weekend(weeks: int = 1) -> tuple[str, str]:
    """A Saturday and Sunday at least `weeks` weeks away."""
    today = today_tokyo()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 + 7 * weeks)
    return saturday.isoformat(), (saturday + timedelta(days=1)).isoformat()


def _weekdays(weeks: int = 1) -> tuple[str, str]:
    today = today_tokyo()
    monday = today + timedelta(days=(0 - today.weekday()) % 7 + 7 * weeks)
    return monday.isoformat(), (monday + timedelta(days=2)).isoformat()


def _dates(pair, apply_days_before: int = 3) -> dict:
    starts = date.fromisoformat(pair[0])
    apply_by = starts - timedelta(days=apply_days_before)
    return {"starts_on": pair[0], "ends_on": pair[1], "apply_by": apply_by.isoformat()}


def _profile(api, token, **changes):
    response = api.patch("/me", token=token, json=changes)
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def needs(post_need, make_account):
    chiyoda = make_account("staff", CHIYODA)
    takayama = make_account("staff", TAKAYAMA)
    return {
        "hida_weekend": post_need(title="飛騨の棚田で稲刈り", skills=["農作業"], **_dates(_weekend())),
        "hida_weekday": post_need(title="古民家の片付け", skills=["片付け"], **_dates(_weekdays())),
        "tokyo": post_need(chiyoda, organization_code=CHIYODA, title="区民まつりの受付", skills=[],
                           **_dates(_weekdays(2))),
        "remote": post_need(takayama, organization_code=TAKAYAMA, kind="side_job", title="観光サイトの英訳",
                            skills=["翻訳"], remote=True, **_dates(_weekdays(3))),
    }


def test_recommendations_rank_ties_first_with_reasons(api, signup, needs):
    _, token = signup(home=CHIYODA)
    register(api, token, HIDA)
    _profile(api, token, skills=["農作業", "翻訳"], availability="weekends")
    response = api.get("/me/recommendations?limit=10", token=token)
    assert response.status_code == 200
    ranked = response.get_json()
    assert {r["need"]["id"] for r in ranked} == {n["id"] for n in needs.values()}
    top = ranked[0]
    assert top["need"]["id"] == needs["hida_weekend"]["id"]
    assert top["reasons"][:2] == ["飛騨市にふるさと住民登録済み", "スキル一致: 農作業"]
    assert "週末の募集" in top["reasons"]
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True) and all(isinstance(s, (int, float)) for s in scores)
    by_id = {r["need"]["id"]: r for r in ranked}
    assert "自宅から0 km" in by_id[needs["tokyo"]["id"]]["reasons"]
    assert {"スキル一致: 翻訳", "リモート"} <= set(by_id[needs["remote"]["id"]]["reasons"])
    english = api.get("/me/recommendations", token=token, headers={"Accept-Language": "en"}).get_json()
    assert english[0]["reasons"][:2] == ["Registered with 飛騨市", "Skill match: 農作業"]


def test_recommendations_leave_out_applied_closed_and_side_jobs_for_minors(api, signup, needs, apply, staff):
    _, token = signup(birth_year=today_tokyo().year - 16)
    apply(needs["hida_weekday"], token)
    ids = {r["need"]["id"] for r in api.get("/me/recommendations", token=token).get_json()}
    assert needs["hida_weekday"]["id"] not in ids  # applied
    assert needs["remote"]["id"] not in ids  # a side job, and the person is 16
    api.post(f"/needs/{needs['hida_weekend']['id']}/close", token=staff)
    ids = {r["need"]["id"] for r in api.get("/me/recommendations", token=token).get_json()}
    assert ids == {needs["tokyo"]["id"]}


def test_recommendations_limit(api, resident, needs):
    token = resident()
    assert len(api.get("/me/recommendations?limit=2", token=token).get_json()) == 2
    for limit in (0, 101, "x"):
        assert api.get(f"/me/recommendations?limit={limit}", token=token).status_code == 422


def test_premium_and_prefecture_ties_score_in_order(api, signup, post_need):
    """Premium above basic above a prefecture registration (a bit) above nothing."""
    need = post_need(title="祭り屋台の準備")
    scores = {}
    for label, code in (("premium", HIDA), ("basic", HIDA), ("prefecture", "210005"), ("none", None)):
        _, token = signup(home=CHIYODA)
        if code:
            register(api, token, code)
        if label == "premium":
            reg = db.session.scalars(select(Registration).order_by(Registration.registered_at.desc())).first()
            reg.tier, reg.premium_valid_until = "premium", today_tokyo() + timedelta(days=100)
            db.session.commit()
        [item] = [r for r in api.get("/me/recommendations", token=token).get_json() if r["need"]["id"] == need["id"]]
        scores[label] = item["score"]
        if label == "premium":
            assert "飛騨市の担い手（プレミアム登録）" in item["reasons"]
        if label == "prefecture":
            assert "岐阜県にふるさと住民登録済み" in item["reasons"]
    assert scores["premium"] > scores["basic"] > scores["prefecture"] > scores["none"]


# --- candidates ------------------------------------------------------------------------------------------------

def _scout(api, signup, *, home=CHIYODA, birth_year=1985, consent=True, skills=(), name="候補者"):
    user, token = signup(home=home, birth_year=birth_year, display_name=name)
    _profile(api, token, skills=list(skills), consents={"scouting": consent} if consent else {})
    return user, token


def test_candidates_are_adults_who_consented_and_did_not_apply(api, staff, signup, post_need, apply):
    need = post_need(skills=["農作業"], **_dates(_weekdays()))
    registered, token = _scout(api, signup, skills=["農作業"], name="登録者")
    register(api, token, HIDA)
    neighbour, _ = _scout(api, signup, home=TAKAYAMA, name="高山の人")
    skilled, _ = _scout(api, signup, home="472018", skills=["農作業"], name="那覇の農家")
    _scout(api, signup, home=TAKAYAMA, consent=False, skills=["農作業"])  # not consented
    minor, _ = signup(home=TAKAYAMA, birth_year=today_tokyo().year - 17)  # may not consent at all
    applied, applied_token = _scout(api, signup, home=TAKAYAMA, skills=["農作業"])
    apply(need, applied_token)

    response = api.get(f"/needs/{need['id']}/candidates?limit=10", token=staff)
    assert response.status_code == 200
    ranked = response.get_json()
    ids = [c["registrant"]["id"] for c in ranked]
    assert set(ids) == {registered["id"], neighbour["id"], skilled["id"]}
    assert ids[0] == registered["id"]
    top = ranked[0]
    assert top["registrant"] == {"id": registered["id"], "display_name": "登録者", "age_band": "40_49",
                                 "skills": ["農作業"]}
    assert top["reasons"][:2] == ["飛騨市にふるさと住民登録済み", "スキル一致: 農作業"]
    by_id = {c["registrant"]["id"]: c for c in ranked}
    assert "同じ都道府県にお住まい" in by_id[neighbour["id"]]["reasons"]  # a band, never kilometres
    assert not any("km" in r for c in ranked for r in c["reasons"])
    assert by_id[skilled["id"]]["reasons"] == ["スキル一致: 農作業"]
    assert len(api.get(f"/needs/{need['id']}/candidates?limit=1", token=staff).get_json()) == 1
    assert api.get(f"/needs/{need['id']}/candidates?limit=101", token=staff).status_code == 422
