"""Demo hosts for `seed-demo`: several per active 団体, in proportion to its registrations.

`seed-demo` takes it as one more step (`EXTRA_STEPS` in registry/demo/people.py). The step counts the active registrations each 団体 gets in the run (`after_chunk`) and, after the
people, writes the hosts with the run's bulk writer (`write_demo_hosts`: COPY on PostgreSQL,
executemany on SQLite; never ORM objects). A later needs step reads `step.hosts` (団体 code → list of
`DemoHost`) to give needs a `host_id` and `host_name`. Repeatable for a seed (its own random stream,
団体 in code order); e-mails `demo-host-s<seed>-<run's first person index>-<code>-<n>@demo.example.jp`
are unique per run and never match the people's `demo-s<seed>-` prefix. Hosts sign in with the
run's demo password.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from registry.accounts.models import User
from registry.common.bulk import BulkWriter
from registry.demo.steps import SeedStep
from registry.hosts.models import Host

ACTIVE_AT = 10  # a 団体 with at least this many active registrations in the run gets hosts
BASE, PER_REGISTRATIONS, MOST = 2, 500, 8  # 2 hosts, one more per 500 registrations, at most 8
TRUSTED_SHARE = 0.3
PLACES = ("山あいの", "川辺の", "里山の", "朝市の", "森の", "湖畔の", "棚田の", "古い町並みの", "海辺の", "峠の")
KINDS = ("農園", "旅館", "民宿", "神社", "NPO", "商店", "酒蔵", "牧場", "漁協", "工房", "観光協会", "町内会")
SURNAMES = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田")
GIVEN = ("花子", "太郎", "明美", "健一", "由美", "誠", "幸子", "浩", "恵子", "翔太")


@dataclass(frozen=True)
class DemoHost:
    id: str  # as written (the bulk writer's text form of the UUID)
    organization_code: str
    host_name: str
    trusted: bool


def host_counts(active_registrations: dict[str, int]) -> dict[str, int]:
    """How many hosts each 団体 gets: none below ACTIVE_AT registrations, else BASE plus one per
    PER_REGISTRATIONS, at most MOST."""
    return {code: min(MOST, BASE + n // PER_REGISTRATIONS)
            for code, n in sorted(active_registrations.items()) if n >= ACTIVE_AT}


def write_demo_hosts(bulk: BulkWriter, rng: random.Random, counts: dict[str, int], *, email_prefix: str,
                     password_hash: str, now_ts: int) -> dict[str, list[DemoHost]]:
    """Writes `counts[code]` host accounts per 団体 (users + hosts rows) through the run's bulk
    writer, in code order; returns them by 団体. `now_ts` is Unix seconds: hosts were invited
    1–12 months before it."""
    bulk.new_chunk()
    true, false = bulk.true, bulk.false
    user_layout = bulk.layout(User, {
        "birth_year": None, "skills": "[]", "interests": "[]", "availability": None, "role": "host",
        "home_municipality_code": None, "guardian_consent": false, "consent_share_profile": false,
        "consent_scouting": false, "consent_announcements": false, "deactivated_at": None, "erased_at": None})
    host_layout = bulk.layout(Host, {"invited_by": None})
    user, host = user_layout.row, host_layout.row
    users, hosts, out = [], [], {}
    for code in sorted(counts):
        for n in range(1, counts[code] + 1):
            uid = bulk.id()
            host_name = f"{rng.choice(PLACES)}{rng.choice(KINDS)}"
            trusted = rng.random() < TRUSTED_SHARE
            created = now_ts - rng.randrange(30 * 86400, 365 * 86400)
            email = f"{email_prefix}{code}-{n}@demo.example.jp"
            users.append(user(id=uid, email=email, email_key=email, password_hash=password_hash,
                              display_name=bulk.text(f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}"),
                              organization_code=code, email_verified_at=bulk.ts(created), session_nonce=bulk.nonce(),
                              created_at=bulk.ts(created)))
            hosts.append(host(user_id=uid, organization_code=code, host_name=bulk.text(host_name),
                              trusted=true if trusted else false, created_at=bulk.ts(created)))
            out.setdefault(code, []).append(DemoHost(uid, code, host_name, trusted))
    bulk.write(user_layout, users)
    bulk.write(host_layout, hosts)
    return out


class DemoHosts(SeedStep):
    """The seed-demo step (see the module docstring)."""

    def before_people(self) -> None:
        self.active: Counter = Counter()
        self.hosts: dict[str, list[DemoHost]] = {}

    def after_chunk(self, people) -> None:
        for person in people:
            for reg in person.registrations:
                if reg.status == "active":
                    self.active[reg.organization_code] += 1

    def after_people(self) -> None:
        run = self.run
        self.hosts = write_demo_hosts(
            run.bulk, run.rng("hosts"), host_counts(self.active),
            email_prefix=f"demo-host-s{run.seed}-{run.report.first_index:09d}-", password_hash=run.password_hash,
            now_ts=int(run.now.timestamp()))
