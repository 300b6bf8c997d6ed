"""Demo needs and applications for `seed-demo`, in proportion to the people seeded.

`seed-demo` takes it as one more step, after `DemoHosts` (`EXTRA_STEPS` in registry/demo/people.py).

What it writes (all through the run's bulk writer: COPY on PostgreSQL, executemany on SQLite)
- Needs: OPEN_PER_PERSON (1 in 10) open needs per person seeded — 100,000 for 1,000,000 people —
  plus PAST_PER_PERSON (1 in 20) past ones (ended; stored `open` past apply-by, `closed` by hand or
  `cancelled`). Only 団体 with active registrants in the run get needs, weighted by those
  registrations and toward rural 団体 (村 > 町 > 市 > wards and prefectures). Kinds, titles and skills
  come from TEMPLATES, whose skills are the residents' own vocabulary (`SKILLS` in the model), so
  skill matching finds something; ~15 % are remote (no place), the others sit near the 団体's
  office. Capacities 1–20; dates around the run's `now` (open: starting in 3–120 days; past: ended
  in the last 300 days). DemoHosts' hosts post HOSTED_SHARE of the needs of their 団体 (`host_id`,
  `created_by`, their `host_name`).
- Applications: from the need's 団体's active registrants in the run (a reservoir of POOL per 団体;
  adults only for side jobs), one per person and need. POPULAR_SHARE of the needs are
  oversubscribed 3–5× (full, with the rest on the waitlist in order), the others get up to ~1.2×
  their capacity. Places taken (accepted, completed, no-show) never exceed the capacity and equal
  `accepted_count`; waitlisted applications exist only on full needs. Past needs' accepted
  applications are completed (or no-show); a completed application of a need that
  `counts_as_activity` has its `activities` row (source `need`), as the service writes it.

Repeatable for a seed: its own random stream (`run.rng("needs")`), 団体 in code order, people in
the seed's order; ids are time-ordered random UUIDs that differ per run.
"""
from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import select

from registry.demo.model import Weighted
from registry.demo.steps import SeedStep
from registry.extensions import db
from registry.needs.models import Application, Need, geo_cell
from registry.organizations.models import Organization
from registry.registrations.models import Activity

OPEN_PER_PERSON = 0.10
PAST_PER_PERSON = 0.05
POOL = 400  # applicants kept per 団体 (reservoir sample of its active registrants)
REMOTE_SHARE = 0.15
HOSTED_SHARE = 0.6
POPULAR_SHARE = 0.2
CAPACITIES = ((1, 3, 25), (4, 8, 40), (9, 14, 22), (15, 20, 13))  # (low, high, weight)
KIND_WEIGHTS = {"volunteer": 55, "experience": 25, "side_job": 20}
COUNTS_AS_ACTIVITY = {"volunteer": 0.8, "experience": 0.4, "side_job": 0.3}
PAST_STATUS = (("open", 0.5), ("closed", 0.4), ("cancelled", 0.1))
JST = 9 * 3600
DAY_S = 86_400

# (kind, title after "<団体名>の", skills from the residents' vocabulary, may be remote)
TEMPLATES = (
    ("volunteer", "棚田の草刈りボランティア", ("草刈り", "農作業"), False),
    ("volunteer", "秋祭りの運営スタッフ", ("イベント運営", "接客"), False),
    ("volunteer", "田植えと稲刈りのお手伝い", ("農作業",), False),
    ("volunteer", "空き家の片付けと修繕", ("大工仕事", "運転"), False),
    ("volunteer", "子ども食堂のお手伝い", ("料理", "子育て支援"), False),
    ("volunteer", "高齢者の買い物・通院の送迎", ("運転", "介護"), False),
    ("volunteer", "外国人観光客の観光案内", ("英語", "中国語", "接客"), False),
    ("volunteer", "防災訓練の運営サポート", ("イベント運営",), False),
    ("volunteer", "放課後の学習支援", ("教育", "子育て支援"), True),
    ("volunteer", "観光情報の翻訳", ("英語", "中国語"), True),
    ("side_job", "観光パンフレットのデザイン", ("デザイン",), True),
    ("side_job", "ふるさと納税返礼品の写真撮影", ("写真",), False),
    ("side_job", "特産品オンラインショップの改修", ("ウェブ制作", "プログラミング"), True),
    ("side_job", "観光協会のSNS運用代行", ("SNS運用", "マーケティング"), True),
    ("side_job", "移住PR動画の編集", ("動画編集",), True),
    ("side_job", "道の駅の繁忙期スタッフ", ("接客", "料理"), False),
    ("side_job", "農業法人の経理サポート", ("経理",), True),
    ("side_job", "収穫期の農作業アルバイト", ("農作業", "運転"), False),
    ("experience", "酒蔵の仕込み体験", ("料理",), False),
    ("experience", "漁師の一日体験", (), False),
    ("experience", "林業と森づくり体験", ("草刈り",), False),
    ("experience", "伝統工芸のワークショップ", ("デザイン",), False),
    ("experience", "農家民泊と収穫体験", ("農作業", "料理"), False),
    ("experience", "温泉街でワーケーション体験", ("プログラミング", "ウェブ制作"), False),
)
DESCRIPTIONS = {
    "volunteer": "地域の皆さんと一緒に活動します。初めての方も歓迎です。集合場所と持ち物は採用後にお知らせします。",
    "side_job": "地域の事業者からのお仕事です。経験を活かして関わってください。詳細は面談で相談します。",
    "experience": "地元の人の暮らしと仕事を体験するプログラムです。ご家族やお友だちとの参加も歓迎です。",
}
REWARDS = {
    "volunteer": ("昼食付き", "地元野菜のお土産", "温泉入浴券", "交通費の一部補助", "地域通貨 1,000 pt"),
    "side_job": ("時給 1,200 円", "1 件 30,000 円", "報酬 50,000 円（成果物納品時）", "日給 9,000 円", "時給 1,500 円"),
    "experience": ("参加費 3,000 円", "無料", "参加費 8,000 円（宿泊込み）", "参加費 1,500 円（昼食付き）"),
}
GENERIC_HOSTS = ("地域振興課", "観光協会", "まちづくり協議会", "地区公民館", "移住定住センター")



def need_counts(people: int) -> tuple[int, int]:
    """(open, past) needs for a run of `people`: at least one open need for any run."""
    return max(1, round(people * OPEN_PER_PERSON)), round(people * PAST_PER_PERSON)


def rural_weight(kind: str, name: str) -> float:
    if kind == "prefecture":
        return 0.4
    if name.endswith("区"):
        return 0.3
    return 1.6 if name.endswith("村") else 1.3 if name.endswith("町") else 1.0


def plan_applications(rng: random.Random, capacity: int, pool: list, *, popular: bool, past: bool,
                      cancelled_need: bool) -> list[tuple[str, str]]:
    """(user id, status) in application order for one need, from `pool` (distinct user ids).
    Places taken never exceed `capacity`; waitlisted only once the need is full."""
    if popular:
        n = round(capacity * (3 + 2 * rng.random()))
    else:
        n = int(capacity * 1.2 * rng.random() ** 1.5 + rng.random())
    n = min(n, len(pool))
    if n == 0:
        return []
    applicants = rng.sample(pool, n)
    statuses = ["applied"] * n
    if popular and n >= capacity:
        # The first ones applied while places were free: `capacity` accepted, a few declined; every
        # later applicant joined the waitlist.
        declined = min(n - capacity, int(capacity * 0.3 * rng.random()))
        first = capacity + declined
        chosen = set(rng.sample(range(first), capacity))
        for i in range(n):
            statuses[i] = "accepted" if i in chosen else "declined" if i < first else "waitlisted"
    else:
        accept = min(capacity, round(n * (0.3 + 0.7 * rng.random())))
        chosen = set(rng.sample(range(n), accept))
        for i in range(n):
            if i in chosen:
                statuses[i] = "accepted"
            elif rng.random() < 0.1:
                statuses[i] = "declined"
    for i in range(n):  # a few applicants withdrew
        if statuses[i] in ("applied", "waitlisted") and rng.random() < 0.05:
            statuses[i] = "cancelled"
    if cancelled_need:
        statuses = ["cancelled"] * n
    elif past:
        statuses = [("completed" if rng.random() < 0.88 else "no_show") if s == "accepted"
                    else "declined" if s in ("applied", "waitlisted") else s for s in statuses]
    return list(zip(applicants, statuses))


class DemoNeeds(SeedStep):
    """The seed-demo step (see the module docstring): reads the run's `DemoHosts` step for hosts."""

    def before_people(self) -> None:
        self.rng = self.run.rng("needs")
        self.orgs = {code: (kind, name, lat, lng) for code, kind, name, lat, lng in db.session.execute(
            select(Organization.code, Organization.kind, Organization.name, Organization.lat, Organization.lng))}
        self.active: Counter = Counter()
        self.pools: dict[str, list] = {}  # 団体 → [(user id, adult)] reservoir of its active registrants
        self.report = Counter()

    def after_chunk(self, people) -> None:
        rng, active, pools = self.rng, self.active, self.pools
        adult_year = self.run.now.year - 18
        for person in people:
            adult = person.birth_year <= adult_year
            for reg in person.registrations:
                if reg.status != "active":
                    continue
                code = reg.organization_code
                active[code] += 1
                pool = pools.setdefault(code, [])
                if len(pool) < POOL:
                    pool.append((person.id, adult))
                else:
                    j = int(rng.random() * active[code])
                    if j < POOL:
                        pool[j] = (person.id, adult)

    def after_people(self) -> None:
        run, rng = self.run, self.rng
        hosts_step = next((s for s in run.steps if hasattr(s, "hosts") and s is not self), None)
        hosts = getattr(hosts_step, "hosts", {}) or {}
        weights = [(code, n * rural_weight(self.orgs[code][0], self.orgs[code][1]))
                   for code, n in sorted(self.active.items())]
        if not weights:
            return
        targets = Weighted(weights)
        open_n, past_n = need_counts(run.people)
        b = run.bulk
        b.new_chunk()
        now_ts = int(run.now.timestamp())
        today = date.fromordinal(date(1970, 1, 1).toordinal() + (now_ts + JST) // DAY_S)
        by_kind = {k: [t for t in TEMPLATES if t[0] == k] for k in KIND_WEIGHTS}
        remote_templates = [t for t in TEMPLATES if t[3]]
        kinds = Weighted(KIND_WEIGHTS.items())
        capacities = Weighted(((lo, hi), w) for lo, hi, w in CAPACITIES)
        adult_pools = {}
        need_layout = b.layout(Need)
        application_layout = b.layout(Application, {"message": None, "checked_in_at": None})
        activity_layout = b.layout(Activity, {"source": "need", "evidence_id": None})
        need, application, activity = need_layout.row, application_layout.row, activity_layout.row
        needs, applications, activities = [], [], []
        null, true, false = b.null, b.true, b.false
        num = (lambda x: repr(x)) if b.postgres else (lambda x: x)

        def ts_of(d: date, hour: int) -> int:  # a time in Japan on day d
            return (d.toordinal() - date(1970, 1, 1).toordinal()) * DAY_S + hour * 3600 - JST

        for i in range(open_n + past_n):
            past = i >= open_n
            code = targets.draw(rng)
            kind_, name, org_lat, org_lng = self.orgs[code]
            remote = rng.random() < REMOTE_SHARE
            template = rng.choice(remote_templates) if remote else rng.choice(by_kind[kinds.draw(rng)])
            kind, title, skills, _ = template
            lo, hi = capacities.draw(rng)
            capacity = lo + int(rng.random() * (hi - lo + 1))
            if past:
                starts = today - timedelta(days=5 + int(rng.random() * 295))
            else:
                starts = today + timedelta(days=3 + int(rng.random() * 118))
            length = 7 + int(rng.random() * 54) if kind == "side_job" else int(rng.random() * 3)
            ends = starts + timedelta(days=length)
            if past and ends >= today:
                ends = today - timedelta(days=1)
            apply_by = starts - timedelta(days=1 + int(rng.random() * 14))
            if not past and apply_by < today:
                apply_by = today
            created = ts_of(min(apply_by, today) - timedelta(days=int(rng.random() * 45)), 9 + int(rng.random() * 9))
            created = min(created, now_ts - 60)
            status = "open"
            if past:
                roll, status = rng.random(), PAST_STATUS[-1][0]
                for s, share in PAST_STATUS:
                    if roll < share:
                        status = s
                        break
                    roll -= share
            host = None
            if hosts.get(code) and rng.random() < HOSTED_SHARE:
                host = rng.choice(hosts[code])
            host_name = host.host_name if host else f"{name}{rng.choice(GENERIC_HOSTS)}"
            if remote:
                lat = lng = cell = None
                place_name = None
            else:
                lat = round(org_lat + (rng.random() - 0.5) * 0.1, 5)
                lng = round(org_lng + (rng.random() - 0.5) * 0.1, 5)
                cell, place_name = geo_cell(lat, lng), f"{name}内（詳細は採用後）"
            counts = rng.random() < COUNTS_AS_ACTIVITY[kind]
            need_id = b.id()
            pool = self.pools[code]
            if kind == "side_job":
                if code not in adult_pools:
                    adult_pools[code] = [uid for uid, adult in pool if adult]
                candidates = adult_pools[code]
            else:
                candidates = [uid for uid, _ in pool]
            planned = plan_applications(rng, capacity, candidates, popular=rng.random() < POPULAR_SHARE,
                                        past=past, cancelled_need=status == "cancelled")
            last_apply = min(ts_of(apply_by, 23), now_ts - 1)
            taken = 0
            host_id = host.id if host else null
            for order, (uid, app_status) in enumerate(planned):
                at = created + 600 + int((last_apply - created - 600) * (order + rng.random()) / len(planned))
                at = min(max(at, created + 60), now_ts - 1)
                decided = null
                if app_status in ("accepted", "declined", "completed", "no_show"):
                    decided = b.ts(min(at + 3600 + int(rng.random() * 3 * DAY_S), now_ts - 1))
                completed_on = b.day(ends) if app_status == "completed" else null
                if app_status in ("accepted", "completed", "no_show"):
                    taken += 1
                updated = decided if decided is not null else b.ts(at)
                applications.append(application(
                    id=b.id(), need_id=need_id, user_id=uid, status=app_status, created_at=b.ts(at), updated_at=updated,
                    decided_at=decided, decided_by=host_id if decided is not null else null, completed_on=completed_on))
                if app_status == "completed" and counts:
                    activities.append(activity(id=b.id(), user_id=uid, organization_code=code, need_id=need_id,
                                               completed_on=b.day(ends),
                                               created_at=b.ts(min(ts_of(ends, 18), now_ts - 1))))
            closed_at = b.ts(min(ts_of(apply_by, 18), now_ts - 1)) if status == "closed" else null
            cancelled_at = b.ts(min(ts_of(apply_by, 12), now_ts - 1)) if status == "cancelled" else null
            self.report[status if past else "open"] += 1
            self.report["remote"] += remote
            needs.append(need(
                id=need_id, organization_code=code, prefecture_code=run.model.prefecture_of[code], kind=kind,
                title=b.text(f"{name}の{title}"), description=b.text(DESCRIPTIONS[kind]), host_name=b.text(host_name),
                host_id=host_id, skills=run.planner.json_list(skills), remote=true if remote else false,
                place_name=b.text(place_name), lat=num(lat) if lat is not None else null,
                lng=num(lng) if lng is not None else null, geo_cell=b.int(cell) if cell is not None else null,
                starts_on=b.day(starts), ends_on=b.day(ends), apply_by=b.day(apply_by), capacity=b.int(capacity),
                accepted_count=b.int(taken), reward=b.text(rng.choice(REWARDS[kind])),
                counts_as_activity=true if counts else false, urgent=false, status=status, created_by=host_id,
                created_at=b.ts(created), updated_at=b.ts(created), closed_at=closed_at, cancelled_at=cancelled_at))
            if len(applications) >= 20_000:
                b.write(need_layout, needs)
                b.write(application_layout, applications)
                b.write(activity_layout, activities)
                self.report["applications"] += len(applications)
                self.report["activities"] += len(activities)
                needs, applications, activities = [], [], []
                b.new_chunk()
        b.write(need_layout, needs)
        b.write(application_layout, applications)
        b.write(activity_layout, activities)
        self.report["applications"] += len(applications)
        self.report["activities"] += len(activities)
