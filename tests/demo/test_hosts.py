"""Demo hosts: several per active 団体, repeatable by seed, able to sign in."""
from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import select

from registry.accounts import service as accounts
from registry.accounts.models import User
from registry.extensions import db
from registry.demo import hosts as host_seed, people as demo_people
from registry.figures.recount import verify
from registry.hosts.models import Host
from registry.registrations.models import Registration

NOW = datetime(2026, 1, 15, 3, 0, tzinfo=timezone.utc)


def _run(monkeypatch, people, seed_value):
    steps = []

    class Recorded(host_seed.DemoHosts):
        def after_people(self):
            super().after_people()
            steps.append(self)

    monkeypatch.setattr(demo_people, "EXTRA_STEPS", [Recorded])
    demo_people.seed_demo(people, seed_value, now=NOW)
    return steps[0]


def test_host_counts_follow_registrations():
    assert host_seed.host_counts({"212172": 9, "011002": 10, "131016": 1_200, "472018": 100_000}) == \
        {"011002": 2, "131016": 4, "472018": 8}


def test_seed_demo_adds_hosts_in_proportion(monkeypatch):
    step = _run(monkeypatch, 600, 11)
    hosts = list(db.session.scalars(select(Host).order_by(Host.organization_code)))
    assert hosts and sum(len(v) for v in step.hosts.values()) == len(hosts)
    active = Counter(db.session.scalars(select(Registration.organization_code).where(Registration.status == "active")))
    per_org = Counter(h.organization_code for h in hosts)
    assert per_org == Counter(host_seed.host_counts(active))
    assert all(2 <= n <= 8 for n in per_org.values())
    for host in hosts:
        assert host.user.role == "host" and host.user.organization_code == host.organization_code
        assert host.user.email.startswith("demo-host-s11-") and host.host_name
    assert 0 < sum(h.trusted for h in hosts) < len(hosts)
    # A demo host signs in with the demo password; the figures stay exact.
    assert accounts.authenticate(hosts[0].user.email, demo_people.DEMO_PASSWORD).id == hosts[0].user_id
    assert verify() == []


def test_same_seed_same_hosts_and_a_second_run_adds(monkeypatch):
    first = _run(monkeypatch, 300, 12)
    names = [(h.organization_code, h.host_name, h.trusted) for v in first.hosts.values() for h in v]
    second = _run(monkeypatch, 300, 12)
    again = [(h.organization_code, h.host_name, h.trusted) for v in second.hosts.values() for h in v]
    emails = set(db.session.scalars(select(User.email).where(User.role == "host")))
    assert len(emails) == len(names) + len(again)  # new e-mails, no collision
    assert names == again  # the same people plan the same hosts
