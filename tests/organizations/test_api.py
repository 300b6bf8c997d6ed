import pytest


def test_counts_pinned(api):
    municipalities = api.get("/organizations?kind=municipality&per_page=5")
    prefectures = api.get("/organizations?kind=prefecture")
    assert municipalities.headers["X-Total-Count"] == "1741"
    assert prefectures.headers["X-Total-Count"] == "47"
    assert len(municipalities.get_json()) == 5
    assert api.get("/organizations").headers["X-Total-Count"] == "1788"


@pytest.mark.parametrize("code, name, kana, kind, pref", [
    ("212172", "飛騨市", "ひだし", "municipality", "210005"),
    ("210005", "岐阜県", "ぎふけん", "prefecture", "210005"),
    ("131016", "千代田区", "ちよだく", "municipality", "130001"),
    ("011002", "札幌市", "さっぽろし", "municipality", "010006"),
    ("472018", "那覇市", "なはし", "municipality", "470007"),
])
def test_known_codes(api, code, name, kana, kind, pref):
    body = api.get(f"/organizations/{code}").get_json()
    assert (body["code"], body["name"], body["kana"], body["kind"], body["prefecture_code"]) == (code, name, kana, kind, pref)
    assert 24 < body["lat"] < 46 and 122 < body["lng"] < 154


@pytest.mark.parametrize("code", ["999999", "212171", "011011", "abc", "2121720"])
def test_unknown_code_is_404_problem(api, code):
    response = api.get(f"/organizations/{code}")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "unknown_organization"


@pytest.mark.parametrize("param", ["21", "210005", "1", "01"])
def test_prefecture_filter_forms(api, param):
    response = api.get(f"/organizations?prefecture={param}&per_page=200")
    codes = [o["prefecture_code"] for o in response.get_json()]
    assert codes and len(set(codes)) == 1
    assert codes[0] == ("210005" if param.startswith("21") else "010006")


def test_prefecture_filter_counts_gifu(api):
    # 岐阜県: 42 municipalities and the prefecture itself.
    assert api.get("/organizations?prefecture=21&kind=municipality").headers["X-Total-Count"] == "42"


@pytest.mark.parametrize("param", ["48", "0", "999999", "212172", "x"])
def test_bad_prefecture_is_422(api, param):
    response = api.get(f"/organizations?prefecture={param}")
    assert response.status_code == 422
    assert "prefecture" in response.get_json()["errors"]


@pytest.mark.parametrize("q", ["飛騨", "ひだし", "ヒダシ", "ﾋﾀﾞｼ"])
def test_search_by_name_or_kana(api, q):
    names = [o["name"] for o in api.get("/organizations", query_string={"q": q}).get_json()]
    assert "飛騨市" in names


def test_search_escapes_wildcards(api):
    assert api.get("/organizations", query_string={"q": "%"}).get_json() == []


def test_pagination_headers_and_past_end(api):
    first = api.get("/organizations?kind=prefecture&per_page=20&page=1")
    assert [o["code"] for o in first.get_json()][:2] == ["010006", "020001"]
    assert 'rel="next"' in first.headers["Link"] and 'rel="last"' in first.headers["Link"]
    third = api.get("/organizations?kind=prefecture&per_page=20&page=3").get_json()
    assert len(third) == 7
    past = api.get("/organizations?kind=prefecture&per_page=20&page=4")
    assert past.status_code == 200 and past.get_json() == []
    assert api.get("/organizations?per_page=201").status_code == 422
    assert api.get("/organizations?page=0").status_code == 422
