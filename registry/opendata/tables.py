"""What a release holds (API.md "Open data"): the tables, their files and `metadata.json`.

Every table is cut from the figures as they stood at the end of the month (figures/month_end.py),
published through the same suppression as the national figures: the geography (per 団体, per
prefecture, flows) through `figures.service.Geography`, the typology through its release
(figures/typology.py); a suppressed count is an empty CSV cell and a JSON null. CSV files are UTF-8
with a byte-order mark and CRLF line ends, identifier columns first, as Excel on Japanese Windows
opens them; the JSON files hold the same rows. Column names are given in Japanese and English in
`metadata.json`, with each file's sha256.
"""
import hashlib
import json
from collections import Counter
from datetime import date, datetime

from registry.figures.export import spreadsheet_csv
from registry.figures.service import Geography
from registry.figures.sums import CounterSums
from registry.figures.typology import TYPES, typology_rows
from registry.registrations.models import TIES

LICENSE, LICENSE_URL = "CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/"
CSV, JSON = "text/csv", "application/json"

# Column → (Japanese, English).
COLUMNS = {
    "organization_code": ("団体コード", "Organization code (全国地方公共団体コード)"),
    "prefecture_code": ("都道府県コード", "Prefecture code"),
    "home_prefecture_code": ("居住地の都道府県コード", "Home prefecture code"),
    "name": ("名称", "Name"),
    "type": ("類型", "Type"),
    "actual_people": ("実人数", "Actual people"),
    "cumulative_registrations": ("延べ人数（登録数）", "Cumulative registrations"),
    "premium_registrations": ("プレミアム登録数", "Premium registrations"),
    "moved_in": ("移住（転入）した登録", "Registrations ended by moving in"),
    "people": ("実人数", "People"),
}
TYPE_NAMES = {"kinship": "地縁・血縁型", "leisure": "趣味・消費型", "participation": "参加・交流型", "work": "就労型",
              "two_region": "二地域居住型", "contribution": "直接寄与型", "other": "その他"}
COUNTS = ["actual_people", "cumulative_registrations", "premium_registrations", "moved_in"]

# Table → (its columns, what it holds in Japanese and English).
TABLES = {
    "by-organization": (["organization_code", "prefecture_code", "name", *COUNTS],
                        "団体（都道府県・市区町村）ごとの登録者数。都道府県の行はその都道府県への直接の登録です。",
                        "Registrants per 団体 (prefectures and municipalities); a prefecture's row counts the "
                        "registrations made directly with it."),
    "by-prefecture": (["prefecture_code", "name", *COUNTS],
                      "都道府県ごとの登録者数。実人数はその都道府県と市区町村に登録した人（県内在住者を除く）。",
                      "Registrants per prefecture: its actual people are those registered with it or its "
                      "municipalities who live elsewhere."),
    "flows": (["home_prefecture_code", "prefecture_code", "people"],
              "居住地の都道府県から登録先の都道府県への人数（同じ都道府県内を含む）。",
              "People per home prefecture and prefecture they are registered with (within a prefecture included)."),
    "by-type": (["type", "name", "actual_people", "cumulative_registrations"],
                "国土交通省の関係人口調査の類型ごとの全国の人数。一人は関わりのある類型それぞれに一度数えます。",
                "The country's registrants per type of 国土交通省's 関係人口 surveys; a person counts once in "
                "each type their ties fall in."),
}


def build_tables(sums: CounterSums, organizations: list[tuple[str, str, str, str]], *, min_cell: int) -> dict:
    """{table: rows} from the counters at the month's end. `organizations`: every 団体 as
    (code, kind, prefecture_code, name), by code."""
    geography = Geography(sums, tuple(v for code, kind, pref, _ in organizations for v in (code, kind, pref)),
                          {code: name for code, _, _, name in organizations}, min_cell)
    by_organization = [{k: row[k] for k in TABLES["by-organization"][0]} for row in geography.by_organization()]
    by_prefecture = [{k: row[k] for k in TABLES["by-prefecture"][0]} for row in geography.by_prefecture()]
    by_prefecture.sort(key=lambda row: row["prefecture_code"])
    def pairs(metric, keys):
        return {key: Counter({f: sums.get(metric, key, f) for f in ("people", "registrations")}) for key in keys}

    # The types through the release /stats/by-type and /stats/by-tie share (the ties with them): the same
    # counters give the same suppression as the live figures had at the month's end.
    total = Counter({f: sums.get("total", "", f) for f in ("people", "registrations")})
    typology = typology_rows(pairs("type", TYPES), total, min_cell=min_cell, ties=pairs("tie", TIES), tie_order=TIES)
    by_type = [{"type": row["type"], "name": TYPE_NAMES[row["type"]], "actual_people": row["actual_people"],
                "cumulative_registrations": row["cumulative_registrations"]} for row in typology["types"]]
    return {"by-organization": by_organization, "by-prefecture": by_prefecture, "flows": geography.flows(),
            "by-type": by_type}


def render(tables: dict, *, month: str, as_of: date, issued: datetime, min_cell: int, publisher: str) -> list[tuple]:
    """[(name, media_type, content)] of every file of the release, metadata.json last."""
    files = []
    for table, rows in tables.items():
        columns = TABLES[table][0]
        files.append((f"{table}.csv", CSV, spreadsheet_csv(rows, columns)))
        files.append((f"{table}.json", JSON, _json(rows)))
    described = []
    for name, media_type, content in files:
        table = name.rsplit(".", 1)[0]
        columns, ja, en = TABLES[table]
        described.append({"name": name, "media_type": media_type, "bytes": len(content), "sha256": sha256(content),
                          "description": {"ja": ja, "en": en},
                          "columns": [{"name": c, "ja": COLUMNS[c][0], "en": COLUMNS[c][1]} for c in columns]})
    year, number = month.split("-")
    metadata = {
        "title": f"ふるさと住民登録 オープンデータ {int(year)}年{int(number)}月",
        "title_en": f"Furusato resident registration (ふるさと住民登録) open data, {month}",
        "publisher": publisher, "license": LICENSE, "license_url": LICENSE_URL,
        "issued": issued.isoformat(), "month": month, "as_of": as_of.isoformat(),
        "description": {
            "ja": f"{as_of.isoformat()}（日本時間）終了時点の数値。{min_cell}未満の数と、他の公表値との差から"
                  "それを求められる数は空欄（JSONではnull）です。0はそのまま公表します。",
            "en": f"Figures as they stood at the end of {as_of.isoformat()} (Asia/Tokyo). Counts under {min_cell}, "
                  "and those that would let one be worked out from other published figures, are empty (null "
                  "in JSON); 0 is published as 0."},
        "min_cell": min_cell,
        "files": described,
    }
    return files + [("metadata.json", JSON, _json(metadata))]


def _json(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
