"""Demo needs and applications from seed-demo: in proportion, capacity respected, repeatable."""
from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import func, select

from registry.demo import model as demo_model, needs as need_seed, people as demo_people
from registry.demo.hosts import DemoHosts
from registry.extensions import db
from registry.figures.recount import verify
from registry.hosts.models import Host
from registry.needs.models import HOLDS_PLACE, Application, Need
from registry.registrations.models import Activity, Registration

NOW = datetime(2026, 1, 15, 3, 0, tzinfo=timezone.utc)
TODAY = datetime(2026, 1, 15).date()


def _run(monkeypatch, people, seed_value):
    steps = []

    class Recorded(need_seed.DemoNeeds):
        def after_people(self):
            super().after_people()
            steps.append(self)

    monkeypatch.setattr(demo_people, "EXTRA_STEPS", [DemoHosts, Recorded])
    demo_people.seed_demo(people, seed_value, now=NOW)
    return steps[0]


def test_demo_needs_is_registered_after_hosts():
    assert demo_people.EXTRA_STEPS.index(need_seed.DemoNeeds) > demo_people.EXTRA_STEPS.index(DemoHosts)


def test_templates_use_the_residents_skill_vocabulary():
    assert {s for *_, skills, _ in need_seed.TEMPLATES for s in skills} <= set(demo_model.SKILLS)
    assert any(remote for *_, remote in need_seed.TEMPLATES)


def test_seed_demo_adds_needs_and_applications_in_proportion(monkeypatch):
    step = _run(monkeypatch, 1_500, 21)
    needs = list(db.session.scalars(select(Need)))
    open_n, past_n = need_seed.need_counts(1_500)
    assert (open_n, past_n) == (150, 75) and len(needs) == open_n + past_n
    upcoming = [n for n in needs if n.effective_status(TODAY) == "open"]
    assert len(upcoming) == open_n and all(n.starts_on > TODAY for n in upcoming)
    assert all(n.ends_on < TODAY for n in needs if n not in upcoming)
    assert 0.05 < sum(n.remote for n in needs) / len(needs) < 0.3
    assert all(n.remote == (n.geo_cell is None) for n in needs)
    assert all(1 <= n.capacity <= 20 for n in needs)
    assert {n.kind for n in needs} == {"volunteer", "side_job", "experience"}
    # Only 団体 with active registrants in the run; their hosts post some of the needs.
    active = set(db.session.scalars(select(Registration.organization_code).where(Registration.status == "active")))
    assert {n.organization_code for n in needs} <= active
    hosts = {h.user_id: h for h in db.session.scalars(select(Host))}
    hosted = [n for n in needs if n.host_id is not None]
    assert hosted and all(hosts[n.host_id].organization_code == n.organization_code for n in hosted)
    assert all(hosts[n.host_id].host_name == n.host_name for n in hosted)

    # Applications in proportion; places taken never above capacity and equal to accepted_count.
    apps = list(db.session.scalars(select(Application)))
    assert len(apps) > len(needs) and step.report["applications"] == len(apps)
    by_need: dict = {}
    for a in apps:
        by_need.setdefault(a.need_id, []).append(a)
    for need in needs:
        mine = by_need.get(need.id, [])
        taken = sum(a.status in HOLDS_PLACE for a in mine)
        assert taken == need.accepted_count <= need.capacity
        assert len({a.user_id for a in mine}) == len(mine)  # once per person
        if any(a.status == "waitlisted" for a in mine):
            assert need.accepted_count == need.capacity  # a waitlist only on a full need
        if need.status == "cancelled":
            assert {a.status for a in mine} <= {"cancelled"}
        if need in upcoming:
            assert not {a.status for a in mine} & {"completed", "no_show"}
        else:
            assert not {a.status for a in mine} & {"applied", "waitlisted", "accepted"}
        if need.kind == "side_job":
            assert all(a.applicant.birth_year <= NOW.year - 18 for a in mine)
    oversubscribed = [n for n in needs if len(by_need.get(n.id, [])) >= 3 * n.capacity]
    assert oversubscribed
    assert sum(a.status == "waitlisted" for a in apps) > 0

    # Completed applications of needs that count as activities have their activity rows.
    completed = {(a.user_id, a.need_id) for a in apps if a.status == "completed" and a.need.counts_as_activity}
    recorded = {(a.user_id, a.need_id) for a in db.session.scalars(select(Activity).where(Activity.source == "need"))}
    assert completed and recorded == completed
    assert verify() == []


def test_same_seed_same_needs(monkeypatch):
    def plan():
        rows = sorted(db.session.execute(select(Need.organization_code, Need.kind, Need.title, Need.capacity,
                                                Need.accepted_count, Need.starts_on, Need.status)).all())
        statuses = Counter(db.session.scalars(select(Application.status)))
        return rows, statuses

    _run(monkeypatch, 400, 22)
    first_needs, first_apps = plan()
    db.session.execute(Activity.__table__.delete())
    db.session.execute(Application.__table__.delete())
    db.session.execute(Need.__table__.delete())
    _run(monkeypatch, 400, 22)  # the same seed again (next e-mail indexes): the same plan
    assert plan() == (first_needs, first_apps)
    assert db.session.scalar(select(func.count()).select_from(Need)) == sum(need_seed.need_counts(400))
