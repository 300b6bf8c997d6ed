"""Synthetic demo residents: `flask --app wsgi seed-demo --people N --seed S` (API.md "Configuration").

What a run does
- It ADDS N residents and never deletes anything. Their e-mails are
  `demo-s<seed>-<index, 9 digits>@demo.example.jp`; a run continues the numbering after the highest
  index already present for that seed, so a second run with the same seed adds N more people (no
  collision), and different seeds never meet.
- Repeatable: every attribute of the people — home, birth year, consents, profile, registrations
  with their 団体, ties, status, tier, premium, verifications, activities, and all times *relative to
  `now`* — is drawn from `random.Random(seed)`, person by person, in a fixed order. The same seed
  therefore gives the same people (whatever the chunk size, and again on a second run, only under
  the next e-mail indexes); ids are time-ordered random UUIDs that differ per run.
- Every seeded account has the same password, `DEMO_PASSWORD`: ONE argon2 hash is computed per run
  and shared (hashing a million passwords would take hours).
- Fast: people are planned in plain Python a chunk at a time and written with COPY on PostgreSQL
  (executemany on SQLite), never as ORM objects. The ledger (`registration_events`) gets the rows a
  real history would have written, with exact `people_delta` / `registrations_delta`; afterwards
  `recount.rebuild()` replaces the maintained figures by a recount, so `verify-counts` finds no drift.
- One transaction: `SeedRun` flushes only; the caller commits (the CLI does). A failure leaves nothing.
  On PostgreSQL the recount runs under SHARE ROW EXCLUSIVE locks on the figures' tables, so
  registrations made by the live service meanwhile wait a moment instead of being miscounted.
- PostgreSQL, when the role may set `session_replication_role` (superuser, or
  `GRANT SET ON PARAMETER`): the per-row foreign-key triggers are off for this transaction and every
  foreign key of the rows written is checked set-wise before commit (`_check_references`) — about
  twice as fast; otherwise the triggers check row by row. `SeedRun(skip_fk_triggers=False)` keeps them.

How realistic (the "model", all weights in this file)
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

Extending it (needs, hosts, applications): add a `SeedStep` subclass to `EXTRA_STEPS`. A step gets
the run (its `now`, `model`, `bulk` writer, `rng(name)` for its own repeatable stream) in
`before_people()`, each chunk of `PlannedPerson`s in `after_chunk()` (ids, e-mails, home, consents,
skills and registrations with their ids set; their rows queued), and `after_people()` before the
recount. It writes with `run.bulk.write(table, columns, rows)` (same order guaranteed) and calls
`run.bulk.drain()` before reading through the session. It must not draw from the people's stream.
"""
from __future__ import annotations

import bisect
import functools
import json
import math
import os
import queue
import random
import sys
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Iterator

from sqlalchemy import func, literal, select, text
from sqlalchemy.exc import DBAPIError

from registry.common.time import one_year_after, utcnow
from registry.extensions import db, get_password_hasher
from registry.figures import recount
from registry.organizations.models import MUNICIPALITY, PREFECTURE, Organization, Ward
from registry.hosts.seed import DemoHosts
from registry.needs.seed import DemoNeeds

DEMO_PASSWORD = "furusato-demo-2026"
EMAIL_DOMAIN = "demo.example.jp"
CHUNK = 5_000
DAY_S = 86_400
WINDOW_DAYS = 365
JST = 9 * 3600

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

TABLE_COLUMNS = {
    "users": ("id", "email", "email_key", "password_hash", "display_name", "birth_year", "skills", "interests",
              "availability", "role", "home_municipality_code", "guardian_consent", "consent_share_profile",
              "consent_scouting", "consent_announcements", "email_verified_at", "session_nonce", "created_at"),
    "registrations": ("id", "user_id", "organization_code", "prefecture_code", "tier", "ties", "status",
                      "registered_at", "ended_at", "premium_valid_until"),
    "registration_events": ("id", "registration_id", "user_id", "organization_code", "kind", "occurred_at", "day",
                            "people_delta", "registrations_delta"),
    "identity_verifications": ("id", "user_id", "method", "status", "created_at", "decided_at"),
    "premium_requests": ("id", "registration_id", "user_id", "organization_code", "kind", "status", "created_at",
                         "decided_at"),
    "activities": ("id", "user_id", "organization_code", "source", "completed_on", "created_at"),
}


# --- the model: weights over the 団体 in the database -----------------------------------------------

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


def _pref_number(code: str) -> int:
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
            n = _pref_number(code)
            share = size(code, name) / pref_size[pref]
            homes.append((code, POPULATION[n] * METROPOLITAN.get(n, 1.0) * share))
            origins.append((code, math.sqrt(POPULATION[n]) * share))
            popularity = random.Random(f"popularity:{code}").lognormvariate(0, 0.8)
            boost = FAMOUS_BOOST if (n, name) in FAMOUS else 1.0
            targets.append((code, _destination(n) * kind_appeal(code, name) * popularity * boost))
        prefectures = [(code, _destination(_pref_number(code))) for code, kind, _, _ in orgs if kind == PREFECTURE]
        return cls(homes=Weighted(homes), origins=Weighted(origins), municipalities=Weighted(targets),
                   prefectures=Weighted(prefectures), prefecture_of={code: pref for code, _, _, pref in orgs})


def _destination(n: int) -> float:
    return math.sqrt(150 / POPULATION[n]) * APPEAL.get(n, 1.0)


# --- planning people (pure Python, repeatable) -------------------------------------------------------

class PlannedRegistration:
    __slots__ = ("id", "organization_code", "prefecture_code", "ties", "registered_at", "status", "ended_at",
                 "premium_at", "premium_requested_at", "premium_valid_until", "activities")

    def __init__(self, organization_code: str, prefecture_code: str, ties: tuple, registered_at: int):
        self.id = None
        self.organization_code, self.prefecture_code = organization_code, prefecture_code
        self.ties, self.registered_at = ties, registered_at
        self.status, self.ended_at = "active", None
        self.premium_at = self.premium_requested_at = self.premium_valid_until = None
        self.activities: list[date] = []

    @property
    def tier(self) -> str:
        return "premium" if self.premium_at is not None else "basic"

    def signature(self) -> tuple:
        return (self.organization_code, self.ties, self.status, self.tier, self.registered_at, self.ended_at,
                self.premium_valid_until)


class PlannedPerson:
    """One synthetic resident; times are Unix seconds (UTC). `id` and `email` are set when written."""

    __slots__ = ("index", "id", "email", "display_name", "birth_year", "home", "created_at", "email_verified_at",
                 "guardian_consent", "consent_share_profile", "consent_scouting", "consent_announcements",
                 "skills", "interests", "availability", "registrations", "verification")

    def signature(self) -> tuple:
        """Everything the seed decides about the person (not ids or e-mails): equal for equal seeds."""
        return (self.display_name, self.birth_year, self.home, self.created_at, self.email_verified_at,
                self.guardian_consent, self.consent_share_profile, self.consent_scouting,
                self.consent_announcements, self.skills, self.interests, self.availability, self.verification,
                tuple(r.signature() for r in self.registrations))

    @property
    def active_registrations(self) -> list[PlannedRegistration]:
        return [r for r in self.registrations if r.status == "active"]


class Planner:
    """Draws people one by one from `random.Random(seed)`; `now` anchors every time."""

    def __init__(self, model: Model, seed: int, now: datetime, *, premium_limit: int = 3):
        self.model, self.rng = model, random.Random(seed)
        self.now = int(now.timestamp())
        self.start = self.now - WINDOW_DAYS * DAY_S
        self.premium_limit = premium_limit
        self.this_year = _tokyo_date(self.now).year
        self.ages = Weighted(((lo, hi), w) for lo, hi, w in AGES)
        self.adult_ties, self.minor_ties = Weighted(PRIMARY_TIES.items()), Weighted(MINOR_TIES.items())
        self.prefecture_ties = Weighted(PREFECTURE_TIES.items())
        self.second_ties = {k: Weighted(v.items()) for k, v in SECOND_TIES.items()}
        self.counts_adult = Weighted(enumerate(COUNTS_ADULT, start=1))
        self.counts_minor = Weighted(enumerate(COUNTS_MINOR, start=1))
        self.premium_counts = Weighted(enumerate(PREMIUM_COUNTS, start=1))
        self.methods = Weighted(VERIFICATION_METHODS.items())
        self.availability = Weighted(AVAILABILITY.items())
        self._json_lists: dict = {}

    def people(self, n: int) -> Iterator[PlannedPerson]:
        for _ in range(n):
            yield self.person()

    def person(self) -> PlannedPerson:
        rng, model = self.rng, self.model
        p = PlannedPerson()
        p.index = p.id = p.email = None
        p.home = model.homes.draw(rng)
        home_pref = model.prefecture_of[p.home]
        lo, hi = self.ages.draw(rng)
        age = lo + int(rng.random() * (hi - lo + 1))
        adult = age >= 18
        p.birth_year = self.this_year - age
        p.guardian_consent = age < 16
        p.display_name = f"{SURNAMES[int(rng.random() * len(SURNAMES))]}\u3000" \
                         f"{GIVEN_NAMES[int(rng.random() * len(GIVEN_NAMES))]}"
        p.consent_announcements = rng.random() < 0.60
        p.consent_share_profile = rng.random() < 0.35
        p.consent_scouting = adult and rng.random() < 0.15
        p.skills = self._some(SKILLS, 3 if adult else 1)
        p.interests = self._some(INTERESTS, 3)
        p.availability = self.availability.draw(rng)

        # Which 団体, with which ties.
        count = (self.counts_adult if adult else self.counts_minor).draw(rng)
        metropolitan = _pref_number(p.home) in METROPOLITAN
        targets: list[tuple[str, tuple]] = []
        taken = {p.home, home_pref}
        if rng.random() < (0.45 if metropolitan else 0.25):
            origin = self._target(model.origins, home_pref, taken)
            ties = {"birthplace"}
            if rng.random() < 0.55:
                ties.add("family")
            if adult and rng.random() < 0.2:
                ties.add("furusato_nozei")
            targets.append((origin, tuple(sorted(ties))))
        while len(targets) < count:
            if rng.random() < PREFECTURE_SHARE:
                code = self._target(model.prefectures, home_pref, taken)
                ties = self._ties(self.prefecture_ties, adult)
            else:
                code = self._target(model.municipalities, home_pref, taken)
                ties = self._ties(self.adult_ties if adult else self.minor_ties, adult)
            targets.append((code, ties))

        # When: the first registration over the year (growing), the next ones after it.
        first = self._when(self.start + int(WINDOW_DAYS * DAY_S * math.sqrt(rng.random())))
        times = sorted([first] + [self._when(first + int((self.now - first) * rng.random() ** 1.5))
                                  for _ in targets[1:]])
        p.created_at = times[0] - 30 - int(rng.random() * 1800)
        p.email_verified_at = p.created_at + 20 + int(rng.random() * 600) if rng.random() < 0.85 else None
        p.registrations = [PlannedRegistration(code, model.prefecture_of[code], ties, at)
                           for (code, ties), at in zip(targets, times)]

        for reg in p.registrations:
            if rng.random() < WITHDRAWN_SHARE and self.now - reg.registered_at > 3600:
                reg.status = "withdrawn"
                reg.ended_at = reg.registered_at + 3600 + int((self.now - reg.registered_at - 3601) * rng.random())
        if rng.random() < MOVED_IN_SHARE:
            self._move(p)
        p.verification = None
        if adult and rng.random() < PREMIUM_SHARE:
            self._premium(p)
        if p.verification is None:
            roll = rng.random()
            if roll < 0.037:
                status = "verified" if roll < 0.03 else "pending" if roll < 0.035 else "rejected"
                at = p.created_at + 60 + int((self.now - p.created_at - 60) * rng.random())
                decided = None if status == "pending" else min(self.now - 1, at + int(3 * DAY_S * rng.random()))
                p.verification = (self.methods.draw(rng), status, at, decided)
        return p

    def _some(self, vocabulary: tuple, most: int) -> tuple:
        rng = self.rng
        k = int(rng.random() * (most + 1))
        return tuple(sorted({vocabulary[int(rng.random() * len(vocabulary))] for _ in range(k)}))

    def _target(self, weighted: Weighted, home_pref: str, taken: set) -> str:
        """A 団体 the person may register with: never home nor home prefecture, not twice; rarely
        another municipality of the home prefecture."""
        while True:
            code = weighted.draw(self.rng)
            if code in taken:
                continue
            if self.model.prefecture_of[code] == home_pref and self.rng.random() >= SAME_PREFECTURE_ACCEPT:
                continue
            taken.add(code)
            return code

    def _ties(self, primary: Weighted, adult: bool) -> tuple:
        rng = self.rng
        tie = primary.draw(rng)
        while not adult and tie in ADULT_ONLY_TIES:
            tie = primary.draw(rng)
        ties = {tie}
        if rng.random() < SECOND_TIE_SHARE and tie in self.second_ties:
            second = self.second_ties[tie].draw(rng)
            if adult or second not in ADULT_ONLY_TIES:
                ties.add(second)
        return tuple(sorted(ties))

    def _when(self, t: int) -> int:
        """`t` moved to a waking hour in Japan (same day), never after now."""
        rng = self.rng
        day_start = (t + JST) // DAY_S * DAY_S - JST
        while True:
            second = int(rng.random() * DAY_S)
            if rng.random() < HOURS_JST[second // 3600]:
                break
        t = day_start + second
        if t >= self.now:
            t = self.now - 1 - int(rng.random() * 3600)
        return max(t, self.start)

    def _move(self, p: PlannedPerson) -> None:
        """The person moved into a municipality they were registered with: a 移住 conversion."""
        candidates = [r for r in p.registrations if r.status == "active" and r.organization_code != r.prefecture_code]
        last = max(max(r.registered_at, r.ended_at or 0) for r in p.registrations)
        if not candidates or self.now - last < 2 * DAY_S:
            return
        target = candidates[0]
        moved_at = last + DAY_S + int((self.now - last - DAY_S - 1) * self.rng.random())
        p.home = target.organization_code
        for reg in p.registrations:
            if reg.status == "active" and reg.organization_code in (target.organization_code, target.prefecture_code):
                reg.status, reg.ended_at = "moved_in", moved_at

    def _premium(self, p: PlannedPerson) -> None:
        rng = self.rng
        eligible = [r for r in p.active_registrations if self.now - r.registered_at > 14 * DAY_S]
        if not eligible:
            return
        wanted = min(self.premium_counts.draw(rng), len(eligible), self.premium_limit)
        chosen = eligible[:wanted]
        for reg in chosen:
            lo = max(reg.registered_at + 7 * DAY_S, self.now - 360 * DAY_S)
            reg.premium_at = lo + int((self.now - 3600 - lo) * rng.random())
            granted_on = _tokyo_date(reg.premium_at)
            reg.premium_valid_until = one_year_after(granted_on) - timedelta(days=1)
            reg.premium_requested_at = max(reg.registered_at + 60, reg.premium_at - int(10 * DAY_S * rng.random()) - 60)
            done = 3 if rng.random() < 0.75 else 4 if rng.random() < 0.8 else 5
            reg.activities = sorted(granted_on - timedelta(days=1 + int(300 * rng.random())) for _ in range(done))
        first_request = min(r.premium_requested_at for r in chosen)
        verified_at = max(p.created_at + 60, first_request - int(30 * DAY_S * rng.random()) - 3600)
        decided_at = verified_at + int((first_request - verified_at) * 0.3 * rng.random())
        p.verification = (self.methods.draw(rng), "verified", verified_at, decided_at)

    def json_list(self, values: tuple) -> str:
        """A JSON list (ties, skills, interests) as text, cached: there are few distinct ones."""
        cached = self._json_lists.get(values)
        if cached is None:
            cached = self._json_lists[values] = json.dumps(list(values), ensure_ascii=False)
        return cached


def _tokyo_date(t: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + (t + JST) // DAY_S)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def ledger(p: PlannedPerson) -> list[tuple]:
    """The person's history in time order: (time, kind, registration, people_delta, registrations_delta),
    exactly as the service would have written it (DESIGN.md "Counting": 実人数 moves on 0↔1)."""
    changes = []
    for reg in p.registrations:
        changes.append((reg.registered_at, 0, "registered", reg))
        if reg.premium_at is not None:
            changes.append((reg.premium_at, 1, "premium_granted", reg))
        if reg.ended_at is not None:
            changes.append((reg.ended_at, 2, reg.status, reg))
    changes.sort(key=lambda c: (c[0], c[1]))
    active, out = 0, []
    for at, _, kind, reg in changes:
        step = 1 if kind == "registered" else -1 if kind in ("withdrawn", "moved_in") else 0
        before, active = active, active + step
        out.append((at, kind, reg, (before == 0 and active > 0) - (before > 0 and active == 0), step))
    return out


# --- writing rows in bulk ----------------------------------------------------------------------------

class _QuickGilHandoffs:
    """A short interpreter switch interval while any `Bulk` writer thread runs. Each time the server
    answers the writer (a statement done, room in the socket for more COPY data), the writer needs
    the GIL back from the planning thread, which keeps it for up to the switch interval (5 ms by
    default) — the server idles meanwhile, for hundreds of answers per run. 0.5 ms cuts that wait."""

    INTERVAL = 0.0005

    def __init__(self):
        self._lock, self._writers, self._saved = threading.Lock(), 0, None

    def enter(self) -> None:
        with self._lock:
            if self._writers == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self.INTERVAL, self._saved))
            self._writers += 1

    def exit(self) -> None:
        with self._lock:
            self._writers -= 1
            if self._writers == 0:
                sys.setswitchinterval(self._saved)


_quick_gil_handoffs = _QuickGilHandoffs()


class Bulk:
    """Rows into tables inside the session's transaction: COPY on PostgreSQL, executemany on SQLite.

    Values are passed already in the database's text form, built with this object's helpers:
    `id()` a new time-ordered UUID, `ts(t)` a Unix time, `day(d)` a date, `true`/`false`, `int(n)`,
    `text(s)`, and `null`. On PostgreSQL a writer thread runs the COPYs while the caller plans the
    next chunk (the server's work and Python's overlap): `write()` only queues, `drain()` waits
    until everything queued is in the database — call it before reading with the session.
    `call(fn)` queues other work for that thread (statements, `insert()`s that depend on their
    results) and returns its future. While the thread runs an item it holds `lock`: the planning
    thread takes it around any use of the session before `drain()`.
    """

    def __init__(self):
        connection = db.session.connection()
        self.raw = connection.connection.driver_connection
        self.postgres = connection.dialect.name == "postgresql"
        self.null = "\\N" if self.postgres else None
        self.true, self.false = ("t", "f") if self.postgres else (1, 0)
        self.int = str if self.postgres else int
        self._random = random.Random(os.urandom(16))
        self._ms = ("", "")
        self._days: dict = {}
        self.rows_written = 0
        self._check_columns()
        self.lowest_id: str | None = None  # no id written by this run is below it
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.lock = threading.Lock()

    def _check_columns(self) -> None:
        """Fails early, by name, if a table gained a required column this seed does not fill."""
        for name, columns in TABLE_COLUMNS.items():
            table = db.metadata.tables[name]
            missing = [c.name for c in table.columns if not c.nullable and c.server_default is None
                       and c.name not in columns]
            if missing:
                raise RuntimeError(f"seed-demo does not fill {name}.{', '.join(missing)}: update registry/figures/seed.py")

    @functools.cached_property
    def _clock(self) -> list[str]:
        """Each second of a day as `ts()` ends it (built on first use: a roster import never needs it)."""
        suffix = "+00" if self.postgres else ".000000"
        return [f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(DAY_S)]

    def new_chunk(self) -> None:
        """Ids made from now on start with the current millisecond: time-ordered, chunk by chunk."""
        ms = f"{time.time_ns() // 1_000_000:012x}"
        self._ms = (f"{ms[:8]}-{ms[8:]}-7", f"{ms}7")
        if self.lowest_id is None:
            self.lowest_id = f"{ms[:8]}-{ms[8:]}-7000-8000-000000000000" if self.postgres else f"{ms}70008{'0' * 15}"

    def id(self) -> str:
        """A UUID version 7: the chunk's millisecond, then 72 random bits (variant nibble 8)."""
        r = f"{self._random.getrandbits(72):018x}"
        if self.postgres:
            return f"{self._ms[0]}{r[:3]}-8{r[3:6]}-{r[6:]}"
        return f"{self._ms[1]}{r[:3]}8{r[3:]}"

    def nonce(self) -> str:
        return f"{self._random.getrandbits(64):016x}"

    @staticmethod
    def day(d: date) -> str:
        return d.isoformat()

    def ts(self, t: int | None):
        """A Unix time (seconds, UTC) as a UTC timestamp."""
        if t is None:
            return self.null
        days, second = divmod(t, DAY_S)
        day = self._days.get(days)
        if day is None:
            day = self._days[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
        return day + self._clock[second]

    def tokyo_day(self, t: int) -> str:
        """The date in Japan at Unix time `t`."""
        days = (t + JST) // DAY_S
        day = self._days.get(days)
        if day is None:
            day = self._days[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
        return day

    def text(self, s: str | None):
        if s is None:
            return self.null
        if self.postgres and ("\\" in s or "\t" in s or "\n" in s or "\r" in s):
            s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return s

    def write(self, table: str, columns: tuple, rows: list[tuple]) -> None:
        if not rows:
            return
        self.rows_written += len(rows)
        if not self.postgres:
            self.insert(table, columns, rows)
            return
        self._enqueue(self._copy, (table, columns, rows), None)

    def insert(self, table: str, columns: tuple, rows: list[tuple]) -> None:
        """The rows in at once, on the calling thread: for work running on the writer thread."""
        if not self.postgres:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
            cursor = self.raw.cursor()
            try:
                cursor.executemany(sql, rows)
            finally:
                cursor.close()
        elif rows:
            self._copy(table, columns, rows)

    def call(self, fn: Callable, *args) -> Future:
        """`fn(*args)` after everything queued before it: on the writer thread on PostgreSQL, at
        once on SQLite. Its result or error is the future's; an error also stops the items after it."""
        future: Future = Future()
        if self.postgres:
            self._enqueue(fn, args, future)
        else:
            try:
                future.set_result(fn(*args))
            except BaseException as error:
                future.set_exception(error)
        return future

    def _enqueue(self, fn: Callable, args: tuple, future: Future | None) -> None:
        if self._thread is None:
            self._queue = queue.Queue(maxsize=8)
            self._thread = threading.Thread(target=self._work_forever, name="seed-copy", daemon=True)
            _quick_gil_handoffs.enter()
            self._thread.start()
        self._raise_error()
        self._queue.put((fn, args, future))

    def drain(self) -> None:
        """Waits until every queued row is in the database; re-raises the writer's error."""
        if self._queue is not None:
            self._queue.join()
        self._raise_error()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = self._queue = None
            _quick_gil_handoffs.exit()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work_forever(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                fn, args, future = item
                if self._error is not None:  # the transaction failed: nothing after it runs
                    if future is not None:
                        future.set_exception(self._error)
                    continue
                try:
                    with self.lock:
                        result = fn(*args)
                except BaseException as error:  # handed to the planning thread by drain() or write()
                    self._error = error
                    if future is not None:
                        future.set_exception(error)
                else:
                    if future is not None:
                        future.set_result(result)
            finally:
                self._queue.task_done()

    def _copy(self, table: str, columns: tuple, rows: list[tuple]) -> None:
        with self.raw.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for start in range(0, len(rows), 2000):
                    copy.write("".join(["\t".join(row) + "\n" for row in rows[start:start + 2000]]))


# --- a run -------------------------------------------------------------------------------------------

class SeedStep:
    """A later part of the demo data (needs, hosts, applications). See the module docstring."""

    def __init__(self, run: "SeedRun"):
        self.run = run

    def before_people(self) -> None:
        pass

    def after_chunk(self, people: list[PlannedPerson]) -> None:
        pass

    def after_people(self) -> None:
        pass


# Hosts (ヌシ) in proportion to each 団体's registrants, then needs and applications (which read the hosts).
EXTRA_STEPS: list[type[SeedStep]] = [DemoHosts, DemoNeeds]


@dataclass
class SeedReport:
    people: int = 0
    registrations: int = 0
    active_registrations: int = 0
    events: int = 0
    rows: int = 0
    first_index: int = 0
    load_seconds: float = 0.0
    recount_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.recount_seconds


@dataclass
class SeedRun:
    """`start()`, iterate `load()` (yields people written so far, chunk by chunk), then `finish()`.
    Flushes only: the caller commits."""

    people: int
    seed: int
    now: datetime = field(default_factory=utcnow)
    premium_limit: int = 3
    chunk_size: int = CHUNK
    # PostgreSQL: None skips the per-row foreign-key triggers when the role may (and checks the
    # references set-wise instead); False keeps them; True insists.
    skip_fk_triggers: bool | None = None

    def __post_init__(self):
        if self.people < 1:
            raise ValueError("people must be at least 1")
        if self.seed < 0:
            raise ValueError("seed must not be negative")
        self.report = SeedReport(people=self.people)
        self.model = Model.load()
        self.bulk = Bulk()
        self.fk_triggers_skipped = self.bulk.postgres and self.skip_fk_triggers is not False \
            and _skip_fk_triggers(required=bool(self.skip_fk_triggers))
        self.planner = Planner(self.model, self.seed, self.now, premium_limit=self.premium_limit)
        self.prefix = f"demo-s{self.seed}-"
        self.report.first_index = self._next_index()
        self.password_hash = get_password_hasher().hash(DEMO_PASSWORD)
        self.steps = [step(self) for step in EXTRA_STEPS]

    def rng(self, name: str) -> random.Random:
        """A repeatable random stream of its own for a later step."""
        return random.Random(f"{self.seed}:{name}")

    def _next_index(self) -> int:
        """After the highest index of this seed already present (indexes are zero-padded, so the
        greatest e-mail is the greatest index; an erased account's e-mail is gone, and its index
        may be given again without collision)."""
        last = db.session.scalar(text("SELECT MAX(email_key) FROM users WHERE email_key LIKE :p")
                                 .bindparams(p=self.prefix + "%"))
        return int(last[len(self.prefix):len(self.prefix) + 9]) + 1 if last else 0

    def load(self) -> Iterator[int]:
        """Plans and writes the people chunk by chunk; yields how many are done so far."""
        started = time.perf_counter()
        try:
            for step in self.steps:
                step.before_people()
            done = 0
            people = self.planner.people(self.people)
            while done < self.people:
                chunk = [next(people) for _ in range(min(self.chunk_size, self.people - done))]
                for i, person in enumerate(chunk):
                    person.index = self.report.first_index + done + i
                self._write(chunk)
                for step in self.steps:
                    step.after_chunk(chunk)
                done += len(chunk)
                yield done
            for step in self.steps:
                step.after_people()
            self.bulk.drain()
        finally:
            self.bulk.close()
        self.report.load_seconds = time.perf_counter() - started

    def finish(self) -> SeedReport:
        """Replaces the maintained figures by a recount, so they are exact with the new rows."""
        started = time.perf_counter()
        self.bulk.drain()
        if self.bulk.postgres:
            # Fresh planner statistics for the recount's joins (this transaction's rows count), then
            # hold off concurrent registration changes until the recount is in place.
            db.session.execute(text("ANALYZE users, registrations, registration_events"))
            db.session.execute(text("LOCK TABLE registrations, registration_events, person_tallies, figure_counters, "
                                    "users IN SHARE ROW EXCLUSIVE MODE"))
        recount.rebuild()
        if self.fk_triggers_skipped:
            _check_references(self.bulk.lowest_id)
            db.session.execute(text("SET LOCAL session_replication_role = origin"))
        self.report.rows = self.bulk.rows_written
        self.report.recount_seconds = time.perf_counter() - started
        return self.report

    def _write(self, chunk: list[PlannedPerson]) -> None:
        """The chunk's rows: users, registrations, their ledger, verifications, premium requests and
        activities (sets the people's and registrations' ids)."""
        b, json_list, report = self.bulk, self.planner.json_list, self.report
        b.new_chunk()
        new_id, ts, day, tokyo_day, int_ = b.id, b.ts, b.day, b.tokyo_day, b.int
        null, true, false = b.null, b.true, b.false
        users, regs, events, verifications, requests, activities = [], [], [], [], [], []
        prefix, password = self.prefix, self.password_hash
        for p in chunk:
            p.id = uid = new_id()
            p.email = email = f"{prefix}{p.index:09d}@{EMAIL_DOMAIN}"
            users.append((uid, email, email, password, b.text(p.display_name), int_(p.birth_year),
                          json_list(p.skills), json_list(p.interests), b.text(p.availability), "resident", p.home,
                          true if p.guardian_consent else false, true if p.consent_share_profile else false,
                          true if p.consent_scouting else false, true if p.consent_announcements else false,
                          ts(p.email_verified_at), b.nonce(), ts(p.created_at)))
            for reg in p.registrations:
                reg.id = rid = new_id()
                premium = reg.premium_at is not None
                regs.append((rid, uid, reg.organization_code, reg.prefecture_code, "premium" if premium else "basic",
                             json_list(reg.ties), reg.status, ts(reg.registered_at), ts(reg.ended_at),
                             day(reg.premium_valid_until) if premium else null))
                if premium:
                    requests.append((new_id(), rid, uid, reg.organization_code, "new", "approved",
                                     ts(reg.premium_requested_at), ts(reg.premium_at)))
                    for on in reg.activities:  # recorded at 18:00 in Japan that day
                        at = (on.toordinal() - _EPOCH_ORDINAL) * DAY_S + 18 * 3600 - JST
                        activities.append((new_id(), uid, reg.organization_code, "record", day(on), ts(at)))
            for at, kind, reg, people_delta, registrations_delta in ledger(p):
                events.append((new_id(), reg.id, uid, reg.organization_code, kind, ts(at), tokyo_day(at),
                               int_(people_delta), int_(registrations_delta)))
            if p.verification is not None:
                method, status, at, decided = p.verification
                verifications.append((new_id(), uid, method, status, ts(at), ts(decided)))
        report.registrations += len(regs)
        report.active_registrations += sum(r.status == "active" for p in chunk for r in p.registrations)
        report.events += len(events)
        for table, rows in (("users", users), ("registrations", regs), ("registration_events", events),
                            ("identity_verifications", verifications), ("premium_requests", requests),
                            ("activities", activities)):
            b.write(table, TABLE_COLUMNS[table], rows)


def _skip_fk_triggers(*, required: bool) -> bool:
    """Turns off PostgreSQL's per-row foreign-key triggers for this transaction, if the role may set
    `session_replication_role` (a superuser, or `GRANT SET ON PARAMETER session_replication_role`).

    Bulk loads do this (pg_restore --disable-triggers): a trigger runs one query per row and
    reference, about two thirds of the load's time here. The seed's rows refer only to its own rows
    and to the 団体, and `_check_references` checks every foreign key of the rows written, set-wise,
    before the transaction can commit — the same guarantee, once per table instead of once per row.
    """
    try:
        with db.session.begin_nested():
            db.session.execute(text("SET LOCAL session_replication_role = replica"))
        return True
    except DBAPIError:
        if required:
            raise
        return False


# The tables the seed writes. The recount's person tallies take their user ids from registrations,
# whose references are checked here, so they need no check of their own.
FK_CHECKED_TABLES = tuple(TABLE_COLUMNS) + ("hosts", "needs", "applications")  # and the extra steps' tables


def _check_references(lowest_id: str | None, tables: tuple = FK_CHECKED_TABLES, writer: str = "seed-demo") -> None:
    """Every foreign key of the tables the seed (or another bulk `writer`) wrote, for the rows of this
    run (ids from `lowest_id` on, which may include a few rows the service wrote meanwhile): the
    references must exist."""
    if lowest_id is None:
        return
    lowest = uuid.UUID(lowest_id)
    for name in tables:
        table = db.metadata.tables[name]
        key = next(iter(table.primary_key.columns))  # a time-ordered id the run made (hosts: user_id)
        for fk in table.foreign_keys:
            parent, column = fk.column.table, fk.parent
            orphans = db.session.scalar(
                select(func.count()).select_from(table).where(
                    key >= lowest, column.is_not(None),
                    ~select(literal(1)).where(fk.column == column).correlate(table).exists()))
            if orphans:
                raise RuntimeError(f"{writer} wrote {orphans} {name}.{column.name} that refer to no {parent.name} row")


def seed_demo(people: int, seed: int, *, now: datetime | None = None, premium_limit: int = 3,
              chunk_size: int = CHUNK, progress: Callable[[int], None] | None = None) -> SeedReport:
    """Adds `people` synthetic residents (see the module docstring) and recounts the figures.
    Flushes only: the caller commits."""
    run = SeedRun(people, seed, now=now or utcnow(), premium_limit=premium_limit, chunk_size=chunk_size)
    last = 0
    for done in run.load():
        if progress:
            progress(done - last)
        last = done
    return run.finish()
