"""The demo's model of reality: who lives where, who registers where and how (all weights here).
`Model.load()` turns the weights into draws over the 団体 in the database; registry/demo/planner.py
draws people with it.

- Homes: prefectures by population (2020 census) with a boost for the big metropolitan areas
  (Tokyo, Kanagawa, Osaka, Saitama, Chiba, Aichi, Fukuoka, Hyogo, Kyoto); inside a prefecture,
  designated cities by their number of wards, Tokyo's 23 special wards, then 市 > 町 > 村.
- Registrations: 1–5 per person (45/25/15/9/6 %; minors 1–2), toward rural 団体: a prefecture weighs
  the inverse square root of its population times its appeal (Hokkaido, Okinawa, Nagano, …), a
  municipality its kind (村, 町 over 市 over designated cities and special wards), a stable
  per-municipality popularity and a boost for well-known furusato towns (都城市, 紋別市, 白糠町, 泉佐野市,
  飛騨市, 海士町, …). 8 % are directly with a prefecture. Never the home municipality nor the home
  prefecture directly; other municipalities of the home prefecture rarely.
- Ties: a birthplace (45 % of metropolitan residents, 25 % of others) registered first as
  `birthplace` (often with `family`); other registrations by a primary tie (ふるさと納税 first) and,
  one time in three, a plausible second one; minors have no ふるさと納税, side jobs or 二地域居住.
- Times over the last 365 days with growth (more recent, more sign-ups), in waking hours (JST).
- 5 % of registrations withdrawn, 0.6 % of people moved into a registered municipality (`moved_in`),
  ~5 % of people premium on 1–3 registrations with a verified identity (mostly マイナンバーカード), an
  approved premium request, 3–5 designated activities in the year before, `premium_valid_until`
  a year after the grant; a few more identity verifications (verified, pending, rejected).
- Birth years from 10 to 89 years old (3.5 % minors; under 16 with a guardian's consent);
  consents: announcements 60 %, sharing the profile 35 %, scouting 15 % of adults; 85 % verified e-mail.
"""
from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from sqlalchemy import func, select

from registry.extensions import db
from registry.organizations.models import MUNICIPALITY, PREFECTURE, Organization, Ward

# 2020 census population, in units of 10,000, by prefecture number (01 北海道 … 47 沖縄県).
POPULATION = dict(enumerate((
    522, 124, 121, 230, 96, 107, 183, 287, 193, 194, 734, 628, 1405, 924, 220, 103, 113, 77, 81, 205,
    198, 363, 754, 177, 141, 258, 884, 547, 132, 92, 55, 67, 189, 280, 134, 72, 95, 133, 69, 513,
    81, 131, 174, 112, 107, 159, 147), start=1))
# Where registrants live: the metropolitan areas more than their population share.
METROPOLITAN = {13: 1.5, 14: 1.3, 27: 1.3, 11: 1.25, 12: 1.25, 23: 1.2, 40: 1.15, 28: 1.1, 26: 1.1}
# Where they register: appeal of the prefecture as a destination (tourism, furusato nozei, support).
APPEAL = {1: 1.6, 47: 1.5, 20: 1.4, 45: 1.3, 26: 1.3, 17: 1.3, 32: 1.2, 46: 1.2, 44: 1.2, 21: 1.2,
          6: 1.2, 3: 1.1, 4: 1.1, 15: 1.1, 16: 1.1, 42: 1.1, 43: 1.1, 39: 1.1}
# Well-known furusato / relationship-population towns, by prefecture number and name.
FAMOUS = {(45, "都城市"), (1, "紋別市"), (1, "根室市"), (1, "白糠町"), (1, "上士幌町"), (1, "東川町"),
          (1, "ニセコ町"), (1, "富良野市"), (27, "泉佐野市"), (21, "飛騨市"), (21, "高山市"), (21, "白川村"),
          (6, "寒河江市"), (32, "海士町"), (36, "神山町"), (20, "軽井沢町"), (20, "小布施町"), (41, "上峰町"),
          (39, "奈半利町"), (47, "石垣市"), (47, "宮古島市"), (17, "輪島市"), (22, "焼津市"), (33, "西粟倉村"),
          (46, "大崎町"), (46, "屋久島町"), (44, "別府市"), (44, "由布市"), (43, "南小国町"), (4, "気仙沼市"),
          (3, "遠野市"), (42, "五島市"), (45, "高千穂町"), (34, "尾道市")}
FAMOUS_BOOST = 6.0
PREFECTURE_SHARE = 0.08        # registrations directly with a prefecture
SAME_PREFECTURE_ACCEPT = 0.25  # how often a draw in the home prefecture is kept

AGES = ((10, 15, 2.0), (16, 17, 1.5), (18, 29, 15), (30, 39, 18), (40, 49, 22), (50, 59, 20),
        (60, 69, 14), (70, 89, 7.5))
COUNTS_ADULT = (45, 25, 15, 9, 6)  # 1–5 registrations
COUNTS_MINOR = (75, 25)
PRIMARY_TIES = {"furusato_nozei": 30, "repeat_visit": 22, "product_purchase": 12, "family": 8, "volunteer": 7,
                "side_job": 5, "two_region_living": 4, "work_or_study": 4, "other": 5}
MINOR_TIES = {"repeat_visit": 35, "family": 30, "volunteer": 10, "work_or_study": 10, "product_purchase": 5,
              "other": 10}
ADULT_ONLY_TIES = {"furusato_nozei", "side_job", "two_region_living"}
PREFECTURE_TIES = {"repeat_visit": 35, "furusato_nozei": 20, "other": 15, "product_purchase": 10,
                   "two_region_living": 8, "volunteer": 7, "family": 5}
SECOND_TIES = {
    "furusato_nozei": {"product_purchase": 5, "repeat_visit": 3, "volunteer": 1},
    "repeat_visit": {"product_purchase": 3, "furusato_nozei": 3, "volunteer": 2, "two_region_living": 1},
    "product_purchase": {"furusato_nozei": 3, "repeat_visit": 2},
    "family": {"repeat_visit": 3, "furusato_nozei": 2},
    "volunteer": {"repeat_visit": 3, "side_job": 1},
    "side_job": {"two_region_living": 2, "work_or_study": 2, "repeat_visit": 1},
    "two_region_living": {"side_job": 2, "repeat_visit": 2, "work_or_study": 1},
    "work_or_study": {"side_job": 1, "repeat_visit": 1},
    "other": {"repeat_visit": 1},
}
SECOND_TIE_SHARE = 0.35
WITHDRAWN_SHARE = 0.05
MOVED_IN_SHARE = 0.006
PREMIUM_SHARE = 0.05
PREMIUM_COUNTS = (80, 16, 4)
VERIFICATION_METHODS = {"mynumber_card": 85, "in_person": 10, "document": 5}

SURNAMES = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木",
            "山口", "松本", "井上", "木村", "林", "斎藤", "清水", "山崎", "森", "池田", "橋本", "阿部", "石川", "山下",
            "中島", "石井", "小川", "前田", "岡田", "長谷川", "藤田", "後藤", "近藤", "村上", "遠藤", "青木", "坂本")
GIVEN_NAMES = ("翔太", "大輔", "健太", "拓也", "直樹", "陽菜", "結衣", "美咲", "さくら", "葵", "蓮", "悠真", "湊",
               "陽翔", "花子", "太郎", "一郎", "恵子", "裕子", "由美", "真由美", "和子", "誠", "浩", "大樹", "優子",
               "彩", "愛", "舞", "千尋", "翼", "颯太", "芽依", "凛", "悠斗", "菜々子", "智子", "修", "健一", "明美")
SKILLS = ("農作業", "草刈り", "運転", "接客", "料理", "写真", "動画編集", "デザイン", "ウェブ制作", "プログラミング",
          "英語", "中国語", "マーケティング", "SNS運用", "経理", "介護", "子育て支援", "大工仕事", "イベント運営", "教育")
INTERESTS = ("農業", "漁業", "林業", "観光", "祭り", "食", "酒蔵", "温泉", "自然", "伝統工芸", "移住", "空き家",
             "地域おこし", "子ども", "防災", "スポーツ", "アート", "歴史", "二拠点生活", "ワーケーション")
AVAILABILITY = {None: 50, "any": 20, "weekends": 22, "weekdays": 8}
# Relative sign-up activity by hour of the day in Japan (max 1: used for rejection sampling).
HOURS_JST = (0.35, 0.15, 0.08, 0.05, 0.05, 0.08, 0.2, 0.45, 0.6, 0.7, 0.75, 0.8,
             0.95, 0.85, 0.75, 0.7, 0.7, 0.75, 0.85, 0.95, 1.0, 1.0, 0.9, 0.6)


class Weighted:
    """A weighted choice by bisection over cumulative weights: one `rng.random()` per draw."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, pairs):
        pairs = [(item, w) for item, w in pairs if w > 0]
        self.items = [item for item, _ in pairs]
        self.cum, running = [], 0.0
        for _, w in pairs:
            running += w
            self.cum.append(running)
        self.total = running

    def draw(self, rng: random.Random):
        i = bisect.bisect_right(self.cum, rng.random() * self.total)
        return self.items[min(i, len(self.items) - 1)]


def pref_number(code: str) -> int:
    return int(code[:2])


@dataclass
class Model:
    """Who lives where and who registers where, built once per run from the reference data."""

    homes: Weighted
    origins: Weighted
    municipalities: Weighted
    prefectures: Weighted
    prefecture_of: dict

    @classmethod
    def load(cls) -> "Model":
        orgs = list(db.session.execute(select(Organization.code, Organization.kind, Organization.name,
                                              Organization.prefecture_code).order_by(Organization.code)))
        if not any(kind == MUNICIPALITY for _, kind, _, _ in orgs):
            raise RuntimeError("no 団体 in the database: run `flask --app wsgi load-reference-data` first")
        wards = dict(db.session.execute(select(Ward.city_code, func.count()).group_by(Ward.city_code)).all())
        munis = [(code, name, pref) for code, kind, name, pref in orgs if kind == MUNICIPALITY]

        def size(code: str, name: str) -> float:  # how many people live there, roughly, inside its prefecture
            if code in wards:
                return 15 + 3 * wards[code]
            if code.startswith("13") and name.endswith("区"):
                return 12
            return 4 if name.endswith("市") else 1 if name.endswith("町") else 0.3

        def kind_appeal(code: str, name: str) -> float:  # as a destination
            if code in wards:
                return 0.5
            if code.startswith("13") and name.endswith("区"):
                return 0.08
            return 0.9 if name.endswith("市") else 1.0 if name.endswith("町") else 1.2

        pref_size: dict = {}
        for code, name, pref in munis:
            pref_size[pref] = pref_size.get(pref, 0) + size(code, name)
        homes, origins, targets = [], [], []
        for code, name, pref in munis:
            n = pref_number(code)
            share = size(code, name) / pref_size[pref]
            homes.append((code, POPULATION[n] * METROPOLITAN.get(n, 1.0) * share))
            origins.append((code, math.sqrt(POPULATION[n]) * share))
            popularity = random.Random(f"popularity:{code}").lognormvariate(0, 0.8)
            boost = FAMOUS_BOOST if (n, name) in FAMOUS else 1.0
            targets.append((code, _destination(n) * kind_appeal(code, name) * popularity * boost))
        prefectures = [(code, _destination(pref_number(code))) for code, kind, _, _ in orgs if kind == PREFECTURE]
        return cls(homes=Weighted(homes), origins=Weighted(origins), municipalities=Weighted(targets),
                   prefectures=Weighted(prefectures), prefecture_of={code: pref for code, _, _, pref in orgs})


def _destination(n: int) -> float:
    return math.sqrt(150 / POPULATION[n]) * APPEAL.get(n, 1.0)
