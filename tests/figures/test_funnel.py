"""The relationship funnel (API.md "Relationship funnel"): kept as events happen, through the services
that make them (registrations, needs, evidence), read back through GET /stats/funnel, recounted by
verify-counts.

Times are given to the services (`now=`), a few months back from today, so that cohorts are months
apart; what the rules check against today (activities in the last 12 months) stays true."""
import csv
import io
from datetime import datetime, time, timedelta, timezone

import pytest
from flask import current_app
from sqlalchemy import select, update

from registry.common.time import today_tokyo, utcnow
from registry.evidence import files, service as evidence
from registry.extensions import db
from registry.figures import recount
from registry.figures.models import FigureCounter, FunnelCell, FunnelMark, PersonTally
from registry.figures.stages import month_of
from registry.needs import service as needs
from registry.needs.models import ACCEPTED, COMPLETED
from registry.organizations import service as organizations
from registry.registrations import service as registrations
from registry.workflows import erasure
from tests.factories import (
    GIFU, HIDA, PREMIUM_SETTINGS, TAKAYAMA, account, add_activities, funnel_counters, person, verify_identity,
)

NOW = utcnow().replace(microsecond=0)
JANUARY = NOW - timedelta(days=150)  # "January": the first cohort; "March": the second
MARCH = NOW - timedelta(days=90)
STAGES = ("registered", "applied", "completed_activity", "premium", "renewed", "moved_in")


def need_at(staff, when, organization=HIDA):
    """An open need of `organization` taking place on `when`'s day (applications until then)."""
    day = today_tokyo(when)
    return needs.create_need(staff, {"organization_code": organization, "kind": "volunteer", "title": "雪かき",
                                     "description": "", "host_name": "町内会", "skills": [], "remote": True,
                                     "starts_on": day, "ends_on": day, "apply_by": day, "capacity": 5,
                                     "reward": "", "counts_as_activity": False}, now=when)


def apply_and_complete(user, staff, when, organization=HIDA):
    need = need_at(staff, when, organization)
    application = needs.apply(user, need.id, now=when)
    needs.decide(staff, application.id, ACCEPTED, now=when)
    needs.decide(staff, application.id, COMPLETED, now=when)
    return application


def approved_evidence(user, registration, staff, when):
    item = evidence.submit(user, registration.id, {"kind": "volunteer", "done_on": today_tokyo(when),
                                                  "description": "雪かき"}, None,
                           store=files.store_for(current_app.config), now=when)
    return evidence.approve(staff, item.id, now=when)


def premium(user, registration, staff, when, *, renewal=False):
    request = registrations.request_premium(user, registration.id, settings=PREMIUM_SETTINGS, now=when,
                                            renewal=renewal)
    return registrations.approve_premium(staff, request.id, settings=PREMIUM_SETTINGS, now=when)


@pytest.fixture
def hida_staff():
    return account("staff", HIDA)


def cell(cohort_when, scope):
    return funnel_counters().get((month_of(cohort_when), scope), {})


# --- kept as it happens ------------------------------------------------------------------------------------

def test_every_stage_counts_a_person_once_in_the_cohort_of_their_first_registration(hida_staff):
    user = person()
    reg = registrations.register(user, HIDA, ["volunteer"], now=JANUARY)
    for i in range(2):  # applying twice, completing twice: once each
        apply_and_complete(user, hida_staff, JANUARY + timedelta(days=1 + i))
    approved_evidence(user, reg, hida_staff, JANUARY + timedelta(days=3))
    verify_identity(user)
    add_activities(user, HIDA, today=today_tokyo(MARCH))
    premium(user, reg, hida_staff, MARCH)
    db.session.refresh(reg)
    renewal = datetime.combine(reg.premium_valid_until - timedelta(days=30), time(3), timezone.utc)
    premium(user, reg, hida_staff, renewal, renewal=True)
    registrations.move_home(user, organizations.get(HIDA), now=NOW)
    everything = dict.fromkeys(STAGES, 1)
    assert cell(JANUARY, HIDA) == everything
    assert cell(JANUARY, "*") == everything and cell(JANUARY, "+") == everything
    assert db.session.scalar(select(FunnelMark.stage).where(FunnelMark.scope == HIDA, FunnelMark.stage == "registered")) \
        is None  # a registration needs no mark with its 団体: the registrations say it
    assert recount.verify() == []


def test_a_registration_again_after_withdrawing_stays_in_the_first_cohort():
    user = person()
    first = registrations.register(user, HIDA, ["family"], now=JANUARY)
    registrations.withdraw(user, first.id, now=JANUARY + timedelta(days=1))
    registrations.register(user, HIDA, ["family"], now=MARCH)
    assert cell(JANUARY, HIDA) == {"registered": 1} and cell(MARCH, HIDA) == {}
    assert cell(JANUARY, "*") == {"registered": 1} and cell(MARCH, "*") == {}
    assert recount.verify() == []


def test_the_country_counts_a_person_once_in_the_month_of_their_first_registration_anywhere(hida_staff):
    takayama_staff = account("staff", TAKAYAMA)
    user = person()
    registrations.register(user, HIDA, ["family"], now=JANUARY)
    registrations.register(user, TAKAYAMA, ["family"], now=MARCH)
    registrations.register(user, GIFU, ["family"], now=MARCH)
    apply_and_complete(user, hida_staff, MARCH + timedelta(days=1))
    apply_and_complete(user, takayama_staff, MARCH + timedelta(days=2), TAKAYAMA)
    assert cell(JANUARY, HIDA) == {"registered": 1, "applied": 1, "completed_activity": 1}
    assert cell(MARCH, TAKAYAMA) == {"registered": 1, "applied": 1, "completed_activity": 1}
    assert cell(MARCH, GIFU) == {"registered": 1}  # a need of 高山市 is not one of 岐阜県's
    assert cell(JANUARY, "*") == {"registered": 1, "applied": 1, "completed_activity": 1}
    assert cell(MARCH, "*") == {}
    assert cell(MARCH, "+") == {"registered": 2, "applied": 1, "completed_activity": 1}  # Σ over the 団体
    assert recount.verify() == []


def test_what_happened_before_registering_there_is_not_the_cohorts(hida_staff):
    user = person()
    registrations.register(user, TAKAYAMA, ["family"], now=JANUARY)
    need = need_at(hida_staff, JANUARY + timedelta(days=5))
    needs.apply(user, need.id, now=JANUARY + timedelta(days=1))  # before registering with 飛騨市
    registrations.register(user, HIDA, ["family"], now=JANUARY + timedelta(days=2))
    assert cell(JANUARY, HIDA) == {"registered": 1}
    assert cell(JANUARY, "*") == {"registered": 1, "applied": 1}  # registered anywhere before: the country's
    apply_and_complete(user, hida_staff, MARCH)  # since: counted
    assert cell(JANUARY, HIDA) == {"registered": 1, "applied": 1, "completed_activity": 1}
    assert recount.verify() == []


def test_someone_never_registered_counts_nowhere(hida_staff):
    user = person()
    apply_and_complete(user, hida_staff, JANUARY)
    assert funnel_counters() == {} and recount.verify() == []


def test_withdrawn_moved_in_and_erased_people_stay_in_their_cohort(hida_staff):
    a, b = person(), person()
    reg = registrations.register(a, HIDA, ["family"], now=JANUARY)
    registrations.register(b, HIDA, ["family"], now=JANUARY)
    apply_and_complete(a, hida_staff, JANUARY + timedelta(days=1))
    registrations.withdraw(a, reg.id, now=MARCH)
    assert db.session.scalars(select(FunnelMark).where(FunnelMark.user_id == a.id)).all()
    erasure.erase(a, now=MARCH)
    assert db.session.scalars(select(FunnelMark).where(FunnelMark.user_id == a.id)).all() == []  # the marks go
    registrations.move_home(b, organizations.get(HIDA), now=MARCH)
    assert cell(JANUARY, HIDA) == {"registered": 2, "applied": 1, "completed_activity": 1, "moved_in": 1}
    assert recount.verify() == []


# --- verify-counts and the rebuild ---------------------------------------------------------------------------

def test_verify_counts_recounts_the_funnel_and_its_marks(hida_staff):
    user = person()
    registrations.register(user, HIDA, ["family"], now=JANUARY)
    apply_and_complete(user, hida_staff, MARCH)
    assert recount.verify() == []
    before = funnel_counters()
    recount.rebuild()
    assert funnel_counters() == before and recount.verify() == []
    db.session.execute(update(FigureCounter).where(FigureCounter.metric == f"funnel:{month_of(JANUARY)}",
                                                   FigureCounter.key == HIDA).values(people=FigureCounter.people + 1))
    drift = recount.verify()
    assert any(line.startswith(f"funnel:{month_of(JANUARY)}[{HIDA}].people") for line in drift), drift
    db.session.execute(update(FigureCounter).where(FigureCounter.metric == f"funnel:{month_of(JANUARY)}",
                                                   FigureCounter.key == HIDA).values(people=FigureCounter.people - 1))
    db.session.execute(FunnelMark.__table__.delete().where(FunnelMark.stage == "applied", FunnelMark.scope == ""))
    assert [line for line in recount.verify() if line.startswith("funnel marks: 1 differ")]


def test_the_cells_in_value_order_are_kept_with_the_counters_and_checked_by_verify_counts(hida_staff):
    """`funnel_cells` (the blocks' order: funnel_blocks.py) moves with the counters at every stage,
    verify-counts compares the two, and rebuild-counts makes it again from the counters."""
    user, other = person(), person()
    registrations.register(user, HIDA, ["family"], now=JANUARY)
    registrations.register(other, HIDA, ["family"], now=JANUARY)
    registrations.register(other, TAKAYAMA, ["family"], now=JANUARY)
    apply_and_complete(user, hida_staff, MARCH)
    cells = {(m, stage, key): value for m, stage, key, value in db.session.execute(
        select(FunnelCell.metric, FunnelCell.stage, FunnelCell.key, FunnelCell.value))}
    january = f"funnel:{month_of(JANUARY)}"
    assert cells == {(january, "registered", HIDA): 2, (january, "registered", TAKAYAMA): 1,
                     (january, "applied", HIDA): 1, (january, "completed_activity", HIDA): 1}
    assert recount.verify() == []
    db.session.execute(update(FunnelCell).where(FunnelCell.key == TAKAYAMA).values(value=FunnelCell.value + 1))
    assert [line for line in recount.verify() if line.startswith("funnel cells: 2 differ from the counters")]
    recount.rebuild()
    assert recount.verify() == []


def test_rebuild_counts_gives_an_upgraded_deployment_its_type_and_funnel_figures(app, hida_staff):
    """Before the upgrade that added them, a deployment has registrations but no "type" counters,
    type tallies, funnel counters or marks: `flask rebuild-counts` (docs/operations.md) makes them."""
    user = person()
    reg = registrations.register(user, HIDA, ["family", "volunteer"], now=JANUARY)
    registrations.register(person(), TAKAYAMA, ["other"], now=MARCH)
    apply_and_complete(user, hida_staff, MARCH)
    verify_identity(user)
    add_activities(user, HIDA, today=today_tokyo(MARCH))
    premium(user, reg, hida_staff, MARCH)
    db.session.commit()
    types_before = set(db.session.execute(select(FigureCounter.metric, FigureCounter.key)
                                          .where(FigureCounter.metric == "type")).all())
    db.session.execute(FigureCounter.__table__.delete().where(
        (FigureCounter.metric == "type") | FigureCounter.metric.like("funnel:%")))
    db.session.execute(PersonTally.__table__.delete().where(PersonTally.dimension == "type"))
    db.session.execute(FunnelMark.__table__.delete())
    db.session.commit()
    drift = recount.verify()
    assert any(line.startswith("type[kinship]") for line in drift) and any("funnel" in line for line in drift), drift
    result = app.test_cli_runner().invoke(args=["rebuild-counts"])
    assert result.exit_code == 0, result.output
    assert "figures rebuilt" in result.output and recount.verify() == []
    assert funnel_counters()[(month_of(JANUARY), HIDA)] == {"registered": 1, "applied": 1, "completed_activity": 1,
                                                            "premium": 1}
    after = set(db.session.execute(select(FigureCounter.metric, FigureCounter.key)).all())
    assert types_before and types_before <= after


# --- through the API -------------------------------------------------------------------------------------------

@pytest.fixture
def scene(hida_staff):
    """Three registrants of 飛騨市 in "January" (one applies and completes), two of 高山市 in "March"."""
    people = [person() for _ in range(5)]
    for user in people[:3]:
        registrations.register(user, HIDA, ["family"], now=JANUARY)
    apply_and_complete(people[0], hida_staff, JANUARY + timedelta(days=1))
    for user in people[3:]:
        registrations.register(user, TAKAYAMA, ["family"], now=MARCH)
    db.session.commit()
    return people


def test_staff_see_their_own_funnel_as_it_is(api, make_account, scene):
    staff = make_account("staff", HIDA)
    for query in ("", f"?organization={HIDA}"):
        rows = api.get(f"/stats/funnel{query}", token=staff).get_json()
        assert rows == [{"cohort": month_of(JANUARY), "registered": 3, "applied": 1, "completed_activity": 1,
                         "premium": 0, "renewed": 0, "moved_in": 0,
                         "conversion": {"applied": 0.3333, "completed_activity": 1.0, "premium": 0.0,
                                        "renewed": None, "moved_in": None}}]
    assert api.get(f"/stats/funnel?organization={TAKAYAMA}", token=staff).status_code == 403


def test_the_national_office_sees_every_organization_suppressed_and_the_country(api, make_account, scene):
    national = make_account("national")
    hida = api.get(f"/stats/funnel?organization={HIDA}", token=national).get_json()
    assert [(r["cohort"], r["registered"], r["applied"], r["premium"]) for r in hida] == \
        [(month_of(JANUARY), None, None, 0)]  # under MIN_CELL (10): suppressed; 0 stays 0
    country = api.get("/stats/funnel", token=national).get_json()
    assert [r["cohort"] for r in country] == sorted({month_of(JANUARY), month_of(MARCH)})
    assert all(r["registered"] is None for r in country)
    table = api.get("/stats/funnel", token=national, headers={"Accept": "text/csv"})
    assert table.mimetype == "text/csv"
    assert list(csv.DictReader(io.StringIO(table.get_data(as_text=True))))[0]["registered"] == ""
    assert api.get("/stats/funnel?organization=999999", token=national).get_json()["code"] == "unknown_organization"


def test_with_min_cell_1_the_national_office_reads_every_count(app, api, make_account, scene):
    national = make_account("national")
    app.config["MIN_CELL"] = 1
    try:
        country = {r["cohort"]: r for r in api.get("/stats/funnel", token=national).get_json()}
        hida = api.get(f"/stats/funnel?organization={HIDA}", token=national).get_json()
    finally:
        app.config["MIN_CELL"] = 10
    assert country[month_of(JANUARY)]["registered"] == 3 and country[month_of(MARCH)]["registered"] == 2
    assert hida[0]["registered"] == 3 and hida[0]["applied"] == 1


def test_the_moved_in_figures_are_worked_out_again_when_someone_moves_in(app, api, make_account, scene):
    """The moved-in system's publication is kept per process by everything it rests on
    (funnel_release.moved_in_system): a move-in changes that, so the next read has it."""
    national = make_account("national")
    app.config["MIN_CELL"] = 1
    try:
        def moved_in():
            hida = api.get(f"/stats/funnel?organization={HIDA}", token=national).get_json()
            country = api.get("/stats/funnel", token=national).get_json()
            return hida[0]["moved_in"], {r["cohort"]: r["moved_in"] for r in country}[month_of(JANUARY)]
        registrations.move_home(scene[1], organizations.get(HIDA))
        db.session.commit()
        assert moved_in() == (1, 1) == moved_in()  # the second read is the kept one
        registrations.move_home(scene[2], organizations.get(HIDA))
        db.session.commit()
        assert moved_in() == (2, 2)
    finally:
        app.config["MIN_CELL"] = 10


def test_who_may_read_the_funnel(api, make_account, signup, scene):
    assert api.get("/stats/funnel", token=signup()[1]).status_code == 403
    assert api.get("/stats/funnel", token=make_account("host", HIDA)).status_code == 403
    assert api.get("/stats/funnel").status_code == 401
    assert api.get("/stats/funnel", token=make_account("admin")).status_code == 200
