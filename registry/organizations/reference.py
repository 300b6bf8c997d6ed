"""Loads the 団体 reference data from the `japancode` package (not typed by hand).

Quirks of japancode 0.1.0 (DESIGN.md): 490 codes lack their leading zero, designated-city wards are
rows named like `札幌市 中央区`, kana is hiragana, and prefectures carry no coordinates (we use the
mean of their municipalities' offices). The load is idempotent and checks 47 + 1,741.
"""
import json
from importlib import resources

from sqlalchemy import select

from registry.extensions import db
from registry.organizations.codes import padded
from registry.organizations.models import MUNICIPALITY, PREFECTURE, Organization, Ward

EXPECTED_PREFECTURES = 47
EXPECTED_MUNICIPALITIES = 1741


def read_package_data() -> tuple[list[dict], list[dict], list[dict]]:
    """(prefectures, municipalities, wards) as plain dicts, validated."""
    data = resources.files("japancode") / "data"
    raw_prefs = json.loads((data / "prefectures.json").read_text("utf-8"))
    raw_munis = json.loads((data / "municipalities.json").read_text("utf-8"))

    pref_code_by_pid = {p["pid"]: padded(p["lgcode"]) for p in raw_prefs}
    municipalities, wards = [], []
    for row in raw_munis:
        code = padded(row["lgcode"])
        name, kana = row["city"], row["citykana"]
        if " " in name:  # `札幌市 中央区`: a ward of a designated city
            city_name = name.split(" ", 1)[0]
            wards.append({"code": code, "name": name.replace(" ", ""), "city_name": city_name,
                          "prefecture_code": pref_code_by_pid[row["pid"]]})
            continue
        municipalities.append({
            "code": code, "kind": MUNICIPALITY, "name": name, "kana": kana,
            "prefecture_code": pref_code_by_pid[row["pid"]],
            "lat": float(row["lat"]), "lng": float(row["lng"]),
        })

    prefectures = []
    for p in raw_prefs:
        code = pref_code_by_pid[p["pid"]]
        own = [m for m in municipalities if m["prefecture_code"] == code]
        prefectures.append({
            "code": code, "kind": PREFECTURE, "name": p["pref"], "kana": p["prefkana"],
            "prefecture_code": code,
            "lat": round(sum(m["lat"] for m in own) / len(own), 6),
            "lng": round(sum(m["lng"] for m in own) / len(own), 6),
        })

    city_code = {(m["prefecture_code"], m["name"]): m["code"] for m in municipalities}
    for ward in wards:
        ward["city_code"] = city_code[(ward.pop("prefecture_code"), ward.pop("city_name"))]

    if len(prefectures) != EXPECTED_PREFECTURES or len(municipalities) != EXPECTED_MUNICIPALITIES:
        raise RuntimeError(f"reference data has {len(prefectures)} prefectures and "
                           f"{len(municipalities)} municipalities, expected 47 and 1,741")
    return prefectures, municipalities, wards


def load_reference_data() -> dict:
    """Inserts or updates every 団体 and ward; returns counts of what changed. Flushes, no commit."""
    prefectures, municipalities, wards = read_package_data()
    existing = {o.code: o for o in db.session.scalars(select(Organization))}
    changed = {"organizations": 0, "wards": 0}
    for group in (prefectures, municipalities):  # prefectures first: municipalities refer to them
        for row in group:
            org = existing.get(row["code"])
            if org is None:
                db.session.add(Organization(**row))
                changed["organizations"] += 1
            elif any(getattr(org, k) != v for k, v in row.items()):
                for k, v in row.items():
                    setattr(org, k, v)
                changed["organizations"] += 1
        db.session.flush()
    existing_wards = {w.code: w for w in db.session.scalars(select(Ward))}
    for row in wards:
        ward = existing_wards.get(row["code"])
        if ward is None:
            db.session.add(Ward(**row))
            changed["wards"] += 1
        elif ward.name != row["name"] or ward.city_code != row["city_code"]:
            ward.name, ward.city_code = row["name"], row["city_code"]
            changed["wards"] += 1
    db.session.flush()
    return changed
