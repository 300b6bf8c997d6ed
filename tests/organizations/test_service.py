import pytest

from registry.errors import Problem
from registry.organizations import service
from registry.organizations.codes import check_digit, is_well_formed, normalize_prefecture_param
from registry.organizations.reference import read_package_data


def test_check_digits():
    assert check_digit("21217") == "2"
    assert check_digit("11000") == "1"  # 埼玉県: remainder 0
    assert is_well_formed("131016") and not is_well_formed("131017") and not is_well_formed("13101")


def test_package_data_shape():
    prefectures, municipalities, wards = read_package_data()
    assert (len(prefectures), len(municipalities), len(wards)) == (47, 1741, 175)
    assert len({m["code"] for m in municipalities}) == 1741
    assert all(is_well_formed(o["code"]) for o in prefectures + municipalities + wards)


@pytest.mark.parametrize("home, stored", [
    ("131016", "131016"),   # 千代田区: a special ward is a municipality
    ("011011", "011002"),   # 札幌市中央区 → 札幌市
    ("141038", "141003"),   # 横浜市西区 → 横浜市
    ("221384", "221309"),   # 浜松市中央区 (2024, not in the package) → 浜松市
])
def test_home_municipality_maps_wards_to_city(home, stored):
    assert service.resolve_home_municipality(home).code == stored


@pytest.mark.parametrize("home", ["210005", "999999", "131017", "221309"[:5], None, 131016])
def test_home_municipality_refuses_non_municipalities(home):
    with pytest.raises(Problem) as refused:
        service.resolve_home_municipality(home)
    assert (refused.value.status, refused.value.code) == (422, "unknown_organization")


def test_prefecture_param_forms():
    assert normalize_prefecture_param("13") == normalize_prefecture_param("130001") == "130001"
    assert normalize_prefecture_param("47") == "470007"
    assert normalize_prefecture_param("131016") is None
