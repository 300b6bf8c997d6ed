"""Which prefectures share a land border (隣接都道府県), by JIS prefecture number. Used where a
person's place may be told only coarsely (scouting: same prefecture, neighbouring, far).

Land borders only: Hokkaido and Okinawa have none (the Seikan tunnel and ferries make no border);
Hyogo–Tokushima (the Naruto bridge) and Okayama–Kagawa (the Seto bridge) are sea, not land. Each
border is listed once; `NEIGHBOURS` holds both directions (tests/organizations check the 47 and the
symmetry)."""
from registry.organizations.codes import prefecture_code_of

_BORDERS = {
    2: (3, 5), 3: (4, 5), 4: (5, 6, 7), 5: (6,), 6: (7, 15), 7: (8, 9, 10, 15), 8: (9, 11, 12),
    9: (10, 11), 10: (11, 15, 20), 11: (12, 13, 19, 20), 12: (13,), 13: (14, 19), 14: (19, 22),
    15: (16, 20), 16: (17, 20, 21), 17: (18, 21), 18: (21, 25, 26), 19: (20, 22), 20: (21, 22, 23),
    21: (23, 24, 25), 22: (23,), 23: (24,), 24: (25, 26, 29, 30), 25: (26,), 26: (27, 28, 29),
    27: (28, 29, 30), 28: (31, 33), 29: (30,), 31: (32, 33, 34), 32: (34, 35), 33: (34,), 34: (35,),
    36: (37, 38, 39), 37: (38,), 38: (39,), 40: (41, 43, 44), 41: (42,), 43: (44, 45, 46), 44: (45,),
    45: (46,),
}
NEIGHBOURS: dict[int, frozenset[int]] = {number: frozenset() for number in range(1, 48)}
for _a, _bs in _BORDERS.items():
    for _b in _bs:
        NEIGHBOURS[_a] |= {_b}
        NEIGHBOURS[_b] |= {_a}

SAME, NEIGHBOURING, FAR = "same_prefecture", "neighbouring", "far"


def band(home_code: str | None, organization_code: str) -> str | None:
    """How far a home municipality is from a 団体, as coarsely as may be told: the same prefecture,
    a neighbouring one, or far (None when the home is unknown)."""
    if not home_code:
        return None
    home, there = int(prefecture_code_of(home_code)[:2]), int(prefecture_code_of(organization_code)[:2])
    if home == there:
        return SAME
    return NEIGHBOURING if there in NEIGHBOURS[home] else FAR


def prefecture_codes_near(organization_code: str) -> list[str]:
    """The 団体's own prefecture, then its neighbours (6-digit prefecture codes)."""
    number = int(prefecture_code_of(organization_code)[:2])
    return [prefecture_code_of(f"{n:02d}") for n in [number, *sorted(NEIGHBOURS[number])]]
