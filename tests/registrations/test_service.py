"""The registration rules through the service functions, without HTTP (API.md "Registrations",
"Premium evidence, progress and benefits", "Identity verification", "Configuration"; DESIGN.md
"Registration rules", "Counting"). Where figures move, the maintained counters are checked against
values written out here and against a recount (`verify()`)."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from registry.audit.models import AuditEntry
from registry.common.time import TOKYO, today_tokyo
from registry.extensions import db
from registry.figures.models import PersonTally, RegistrationEvent
from registry.figures.recount import verify
from registry.notifications.models import Notification
from registry.organizations import service as organizations
from registry.registrations import service
from registry.registrations.models import (
    ACTIVE, BASIC, MOVED_IN, PREMIUM, WITHDRAWN, IdentityVerification, PremiumRequest, Registration,
)
from tests.factories import (
    CHIYODA, GIFU, HACHIOJI, HIDA, HOKKAIDO, PREMIUM_SETTINGS, SAPPORO, SAPPORO_CHUO, SEKI, TAJIMI,
    TAKAYAMA, TOKYO as TOKYO_PREF, account, add_activities, counters, flushed_not_committed, person, refused,
    verify_identity,
)

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)  # 2026-07-01 12:00 in Tokyo
TODAY = date(2026, 7, 1)


def at(day: date) -> datetime:
    """Noon in Tokyo on `day`."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=TOKYO)


def _events(user) -> list[str]:
    """The kinds of the person's ledger events, sorted (events of one moment have no order)."""
    return sorted(db.session.scalars(select(RegistrationEvent.kind).where(RegistrationEvent.user_id == user.id)))


def _ready(user, code, *, today=TODAY):
    """Identity verified and three designated activities for `code` in the window."""
    if not service.identity_verified(user.id):
        verify_identity(user)
    add_activities(user, code, today=today)


def _requested(user, code=HIDA, *, now=NOW, settings=PREMIUM_SETTINGS) -> tuple[Registration, PremiumRequest]:
    """A registration with a pending premium request, its requirements met on `now`'s day."""
    reg = service.register(user, code, ["family"], now=now)
    _ready(user, code, today=now.astimezone(TOKYO).date())
    return reg, service.request_premium(user, reg.id, settings=settings, now=now)


def _premium(user, code=HIDA, *, now=NOW, settings=PREMIUM_SETTINGS) -> Registration:
    """A registration made premium through request and approval on `now`'s day."""
    reg, request = _requested(user, code, now=now, settings=settings)
    service.approve_premium(account("staff", code), request.id, settings=settings, now=now)
    return reg


# --- registering --------------------------------------------------------------------------------------

def test_register_makes_an_active_basic_registration_and_counts_it():
    user = person(home=CHIYODA, birth_year=1990)
    reg = service.register(user, HIDA, ["volunteer", "family", "family"], now=NOW)
    assert (reg.status, reg.tier, reg.organization_code, reg.prefecture_code) == (ACTIVE, BASIC, HIDA, GIFU)
    assert reg.ties == ["family", "volunteer"] and reg.registered_at == NOW
    assert reg.ended_at is None and reg.premium_valid_until is None
    assert [r.id for r in service.active_registrations(user)] == [reg.id]
    assert counters() == {
        ("total", ""): {"people": 1, "registrations": 1},
        ("prefecture", GIFU): {"people": 1, "registrations": 1},
        ("organization", HIDA): {"people": 1, "registrations": 1},
        ("tier", "basic"): {"people": 1, "registrations": 1},
        ("birth_year", "1990"): {"people": 1, "registrations": 1},
        ("tie", "family"): {"people": 1, "registrations": 1},
        ("tie", "volunteer"): {"people": 1, "registrations": 1},
        ("type", "kinship"): {"people": 1, "registrations": 1},
        ("type", "participation"): {"people": 1, "registrations": 1},
        ("flow", f"{TOKYO_PREF}>{GIFU}"): {"people": 1},
        ("day", "2026-07-01"): {"people": 1, "registrations": 1, "registered": 1},
    }
    assert _events(user) == ["registered"]
    assert verify() == []


def test_register_flushes_and_never_commits():
    user = person()
    reg = service.register(user, HIDA, ["family"], now=NOW)
    assert flushed_not_committed(Registration, reg.id)


@pytest.mark.parametrize("home, target", [
    (CHIYODA, CHIYODA),          # the home municipality
    (CHIYODA, TOKYO_PREF),       # directly with the home prefecture
    (SAPPORO_CHUO, SAPPORO),     # a ward is stored as its city: the city is home
    (SAPPORO_CHUO, HOKKAIDO),
])
def test_nobody_registers_where_they_live(home, target):
    user = person(home=home)
    assert refused(service.register, user, target, ["family"], now=NOW) == (422, "home_municipality")
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 0
    assert counters() == {} and _events(user) == []


@pytest.mark.parametrize("code", ["999999", "212171", SAPPORO_CHUO])  # unknown, a wrong check digit, a ward
def test_unknown_organization(code):
    assert refused(service.register, person(), code, ["family"]) == (422, "unknown_organization")


def test_another_municipality_of_the_home_prefecture_counts_in_the_flows_not_the_prefecture():
    user = person(home=CHIYODA)
    service.register(user, HACHIOJI, ["family"], now=NOW)
    figures = counters()
    assert figures[("prefecture", TOKYO_PREF)] == {"registrations": 1}  # no 実人数: they live there
    assert figures[("flow", f"{TOKYO_PREF}>{TOKYO_PREF}")] == {"people": 1}
    assert figures[("total", "")] == {"people": 1, "registrations": 1}
    assert verify() == []


def test_the_derived_prefecture_link_is_no_registration_and_a_direct_one_may_stand_beside_it():
    user = person(home=CHIYODA)
    hida = service.register(user, HIDA, ["family"], now=NOW)
    assert [r.organization_code for r in service.active_registrations(user)] == [HIDA]  # no row for 岐阜県
    assert counters()[("prefecture", GIFU)] == {"people": 1, "registrations": 1}
    gifu = service.register(user, GIFU, ["family"], now=NOW + timedelta(minutes=1))
    assert gifu.prefecture_code == GIFU and gifu.id != hida.id
    figures = counters()
    assert figures[("prefecture", GIFU)] == {"people": 1, "registrations": 2}  # one person, two registrations
    assert figures[("organization", GIFU)] == {"people": 1, "registrations": 1}
    assert figures[("total", "")] == {"people": 1, "registrations": 2}
    assert figures[("flow", f"{TOKYO_PREF}>{GIFU}")] == {"people": 1}
    assert verify() == []


def test_already_registered_then_registering_again_after_withdrawal():
    user = person()
    first = service.register(user, HIDA, ["family"], now=NOW)
    before = counters()
    assert refused(service.register, user, HIDA, ["volunteer"], now=NOW) == (409, "already_registered")
    assert counters() == before and _events(user) == ["registered"]
    service.withdraw(user, first.id, now=NOW + timedelta(hours=1))
    again = service.register(user, HIDA, ["volunteer"], now=NOW + timedelta(hours=2))
    assert again.id != first.id and again.status == ACTIVE
    assert db.session.get(Registration, first.id).status == WITHDRAWN
    figures = counters()
    assert figures[("total", "")] == {"people": 1, "registrations": 1}
    assert figures[("day", "2026-07-01")] == {"people": 1, "registrations": 1, "registered": 2, "withdrawn": 1}
    assert ("tie", "family") not in figures and figures[("tie", "volunteer")] == {"people": 1, "registrations": 1}
    assert _events(user) == ["registered", "registered", "withdrawn"]
    assert verify() == []


# --- withdrawing, moving, restating, erasing ------------------------------------------------------------

def test_withdraw_ends_the_registration_and_its_pending_request_once():
    user = person()
    reg, request = _requested(user)
    later = NOW + timedelta(days=1)
    service.withdraw(user, reg.id, now=later)
    assert (reg.status, reg.ended_at) == (WITHDRAWN, later)
    assert (request.status, request.reason, request.decided_at) == ("rejected", "registration ended", later)
    assert refused(service.withdraw, user, reg.id, now=later) == (409, "invalid_state")
    assert counters() == {("day", "2026-07-01"): {"people": 1, "registrations": 1, "registered": 1},
                          ("day", "2026-07-02"): {"people": -1, "registrations": -1, "withdrawn": 1}}
    assert verify() == []


def test_only_the_owner_withdraws():
    owner, other = person(), person()
    reg = service.register(owner, HIDA, ["family"], now=NOW)
    assert refused(service.withdraw, other, reg.id) == (404, "not_found")
    assert reg.status == ACTIVE


def test_moving_home_ends_registrations_there_as_moved_in_and_restates_the_rest():
    user = person(home=CHIYODA, birth_year=1990)
    for i, code in enumerate((HIDA, GIFU, HACHIOJI, TAKAYAMA)):
        service.register(user, code, ["family"], now=NOW + timedelta(minutes=i))
    later = NOW + timedelta(days=1)
    service.move_home(user, organizations.get(HIDA), now=later)
    status = {r.organization_code: (r.status, r.ended_at) for r in db.session.scalars(service.registrations_of(user))}
    assert status == {HIDA: (MOVED_IN, later), GIFU: (MOVED_IN, later), HACHIOJI: (ACTIVE, None),
                      TAKAYAMA: (ACTIVE, None)}
    assert user.home_municipality_code == HIDA
    assert counters() == {
        ("total", ""): {"people": 1, "registrations": 2, "moved_in": 2},
        ("prefecture", GIFU): {"registrations": 1, "moved_in": 2},  # lives there now: no 実人数
        ("prefecture", TOKYO_PREF): {"people": 1, "registrations": 1},  # no longer lives there
        ("organization", HIDA): {"moved_in": 1},
        ("organization", GIFU): {"moved_in": 1},
        ("organization", TAKAYAMA): {"people": 1, "registrations": 1},
        ("organization", HACHIOJI): {"people": 1, "registrations": 1},
        ("tier", "basic"): {"people": 1, "registrations": 2},
        ("birth_year", "1990"): {"people": 1, "registrations": 2},
        ("tie", "family"): {"people": 1, "registrations": 2},
        ("type", "kinship"): {"people": 1, "registrations": 2},
        ("flow", f"{GIFU}>{GIFU}"): {"people": 1},
        ("flow", f"{GIFU}>{TOKYO_PREF}"): {"people": 1},
        ("day", "2026-07-01"): {"people": 1, "registrations": 4, "registered": 4},
        ("day", "2026-07-02"): {"registrations": -2, "moved_in": 2},
    }
    # the restatement is noted with the old home; it changes no count of its own
    assert _events(user) == ["moved_in"] * 2 + ["registered"] * 4 + ["restated"]
    assert verify() == []


def test_moving_home_without_registrations_there_only_restates():
    user = person(home=CHIYODA)
    reg = service.register(user, HIDA, ["family"], now=NOW)
    service.move_home(user, organizations.get(SAPPORO), now=NOW)
    assert reg.status == ACTIVE
    figures = counters()
    assert figures[("flow", f"{HOKKAIDO}>{GIFU}")] == {"people": 1}
    assert ("flow", f"{TOKYO_PREF}>{GIFU}") not in figures
    assert verify() == []


def test_restating_a_birth_year_moves_the_person_between_cells_and_is_noted():
    user = person(birth_year=1990)
    service.register(user, HIDA, ["family"], now=NOW)
    service.register(user, TAKAYAMA, ["family"], now=NOW)
    service.restate_person(user, lambda: setattr(user, "birth_year", 1980), now=NOW)
    figures = counters()
    assert ("birth_year", "1990") not in figures
    assert figures[("birth_year", "1980")] == {"people": 1, "registrations": 2}
    assert figures[("total", "")] == {"people": 1, "registrations": 2}
    assert _events(user) == ["registered", "registered", "restated"]
    assert verify() == []


def test_restating_a_person_without_active_registrations_changes_no_figure():
    user = person(birth_year=1990)
    service.restate_person(user, lambda: setattr(user, "birth_year", 1980), now=NOW)
    assert user.birth_year == 1980 and counters() == {}


def test_withdraw_all_for_erasure_ends_everything_and_forgets_the_tallies():
    user = person()
    hida = service.register(user, HIDA, ["family"], now=NOW)
    service.register(user, TAKAYAMA, ["volunteer"], now=NOW)
    _ready(user, HIDA)
    service.request_premium(user, hida.id, settings=PREMIUM_SETTINGS, now=NOW)
    rejected = service.request_identity_verification(user, "document", now=NOW)
    rejected.status, rejected.reason = "rejected", "写真が不鮮明です"
    pending = service.request_identity_verification(user, "in_person", now=NOW)
    later = NOW + timedelta(days=2)
    service.withdraw_all_for_erasure(user, now=later)
    assert {r.status for r in db.session.scalars(service.registrations_of(user))} == {WITHDRAWN}
    db.session.expire_all()
    assert db.session.scalars(select(PremiumRequest.status).where(PremiumRequest.user_id == user.id)).all() == \
        ["rejected"]
    assert db.session.get(IdentityVerification, rejected.id).reason is None  # staff's words about them
    assert (db.session.get(IdentityVerification, pending.id).status,
            db.session.get(IdentityVerification, pending.id).reason) == ("rejected", "account erased")
    assert _events(user) == ["erased", "registered", "registered", "withdrawn", "withdrawn"]
    assert db.session.scalar(select(func.count()).select_from(PersonTally).where(PersonTally.user_id == user.id)) == 0
    figures = counters()
    assert ("total", "") not in figures and figures[("day", "2026-07-03")] == \
        {"people": -1, "registrations": -2, "withdrawn": 2}
    assert verify() == []


# --- designated activities in the 12-month window ------------------------------------------------------

@pytest.mark.parametrize("today, counted, not_counted", [
    (date(2026, 7, 1), [date(2025, 7, 1), date(2026, 7, 1)], [date(2025, 6, 30), date(2026, 7, 2)]),
    (date(2028, 2, 29), [date(2027, 2, 28)], [date(2027, 2, 27)]),    # a year before 29 February: the 28th
    (date(2029, 2, 28), [date(2028, 2, 28), date(2028, 2, 29)], [date(2028, 2, 27)]),
    (date(2029, 3, 1), [date(2028, 3, 1)], [date(2028, 2, 29)]),
])
def test_the_window_is_the_last_12_months_inclusive(today, counted, not_counted):
    user = person()
    reg = service.register(user, HIDA, ["family"], now=NOW)
    for day in counted + not_counted:
        service.record_activity(user, HIDA, day)
    assert service.activities_in_window(user.id, reg, today) == len(counted)


def test_a_prefecture_registration_counts_its_municipalities_activities_and_a_municipality_only_its_own():
    user = person()
    hida = service.register(user, HIDA, ["family"], now=NOW)
    gifu = service.register(user, GIFU, ["family"], now=NOW)
    for code in (HIDA, TAKAYAMA, GIFU, CHIYODA):
        service.record_activity(user, code, TODAY - timedelta(days=3))
    assert service.activities_in_window(user.id, hida, TODAY) == 1
    assert service.activities_in_window(user.id, gifu, TODAY) == 3
    assert service.activities_in_window(person().id, gifu, TODAY) == 0  # the person's own only


def test_record_activity_refuses_an_unknown_organization():
    assert refused(service.record_activity, person(), "999999", TODAY) == (422, "unknown_organization")


# --- premium: requests, limit, approval, renewal, lapse --------------------------------------------------

def test_premium_request_rules_in_order():
    user = person()
    reg = service.register(user, HIDA, ["family"], now=NOW)
    request = lambda: service.request_premium(user, reg.id, settings=PREMIUM_SETTINGS, now=NOW)  # noqa: E731
    assert refused(request) == (422, "identity_unverified")
    verify_identity(user)
    add_activities(user, HIDA, n=2, today=TODAY)
    assert refused(request) == (422, "premium_requirements")
    assert service.premium_progress(user, reg, settings=PREMIUM_SETTINGS, today=TODAY)["missing"] == ["activities"]
    add_activities(user, HIDA, n=1, days_ago=1, today=TODAY)
    made = request()
    assert (made.kind, made.status, made.organization_code, made.created_at) == ("new", "pending", HIDA, NOW)
    assert refused(request) == (409, "invalid_state")  # one pending request per registration
    assert service.premium_progress(user, reg, settings=PREMIUM_SETTINGS, today=TODAY)["pending_request"] == "new"
    assert flushed_not_committed(PremiumRequest, made.id)


def test_a_request_for_someone_elses_or_an_ended_registration_is_refused():
    user, other = person(), person()
    reg = service.register(user, HIDA, ["family"], now=NOW)
    assert refused(service.request_premium, other, reg.id, settings=PREMIUM_SETTINGS, now=NOW) == (404, "not_found")
    service.withdraw(user, reg.id, now=NOW)
    _ready(user, HIDA)
    assert refused(service.request_premium, user, reg.id, settings=PREMIUM_SETTINGS, now=NOW) == \
        (409, "invalid_state")


def test_the_limit_counts_pending_requests_at_request_and_premium_ones_again_at_approval():
    user = person()
    regs = [service.register(user, code, ["family"], now=NOW) for code in (HIDA, TAKAYAMA, TAJIMI, SEKI)]
    for reg in regs:
        _ready(user, reg.organization_code)
    two = {"PREMIUM_LIMIT": 2, "PREMIUM_ACTIVITIES_REQUIRED": 3}
    first, second = (service.request_premium(user, r.id, settings=two, now=NOW) for r in regs[:2])
    assert refused(service.request_premium, user, regs[2].id, settings=two, now=NOW) == (409, "premium_limit")
    progress = service.premium_progress(user, regs[2], settings=two, today=TODAY)
    assert progress["missing"] == ["premium_slot"] and progress["premium_registrations"] == 2
    service.reject_premium(account("staff", TAKAYAMA), second.id, "確認できません", now=NOW)  # frees its slot
    third = service.request_premium(user, regs[2].id, settings=two, now=NOW)
    service.approve_premium(account("staff", HIDA), first.id, settings=two, now=NOW)
    service.approve_premium(account("staff", TAJIMI), third.id, settings=two, now=NOW)
    three = {"PREMIUM_LIMIT": 3, "PREMIUM_ACTIVITIES_REQUIRED": 3}
    fourth = service.request_premium(user, regs[3].id, settings=three, now=NOW)
    assert refused(service.approve_premium, account("staff", SEKI), fourth.id, settings=two, now=NOW) == \
        (409, "premium_limit")
    assert fourth.status == "pending" and regs[3].tier == BASIC
    assert counters()[("total", "")] == {"people": 1, "registrations": 4, "premium": 2}
    assert verify() == []


def test_approval_makes_the_registration_premium_for_a_year_and_counts_it():
    user = person(birth_year=1990)
    reg, request = _requested(user)
    staff = account("staff", HIDA)
    decided = service.approve_premium(staff, request.id, settings=PREMIUM_SETTINGS, now=NOW)
    assert (decided.status, decided.decided_at, decided.decided_by) == ("approved", NOW, staff.id)
    assert (reg.tier, reg.premium_valid_until) == (PREMIUM, date(2027, 6, 30))
    assert reg.effective_tier(date(2027, 6, 30)) == PREMIUM and reg.effective_tier(date(2027, 7, 1)) == BASIC
    figures = counters()
    assert figures[("total", "")] == {"people": 1, "registrations": 1, "premium": 1}
    assert figures[("tier", "premium")] == {"people": 1, "registrations": 1, "premium": 1}
    assert ("tier", "basic") not in figures
    assert figures[("birth_year", "1990")] == {"people": 1, "registrations": 1, "premium": 1}
    event = db.session.scalars(select(RegistrationEvent).where(RegistrationEvent.kind == "premium_granted")).one()
    assert (event.actor_id, event.registration_id, event.people_delta, event.registrations_delta) == \
        (staff.id, reg.id, 0, 0)
    assert db.session.scalars(select(Notification.kind).where(Notification.user_id == user.id)).all() == \
        ["premium_decided"]
    assert refused(service.approve_premium, staff, request.id, settings=PREMIUM_SETTINGS, now=NOW) == \
        (409, "invalid_state")
    assert verify() == []


@pytest.mark.parametrize("approved_on, valid_until", [
    (date(2027, 3, 1), date(2028, 2, 29)),   # a year that holds 29 February
    (date(2027, 2, 28), date(2028, 2, 27)),
    (date(2028, 2, 29), date(2029, 2, 28)),  # from 29 February: a full year, to the 28th (民法143条)
])
def test_premium_validity_around_29_february(approved_on, valid_until):
    user = person()
    reg = _premium(user, HIDA, now=at(approved_on))
    assert reg.premium_valid_until == valid_until


@pytest.mark.parametrize("old_end, new_end", [
    (date(2028, 2, 29), date(2029, 2, 28)),  # the next year starts on 1 March
    (date(2031, 2, 28), date(2032, 2, 29)),  # … and the one after holds 29 February: 366 days, none lost
    (date(2027, 7, 31), date(2028, 7, 31)),
])
def test_a_renewal_adds_the_next_full_year(old_end, new_end):
    user = person()
    reg = _premium(user)
    reg.premium_valid_until = old_end
    renewing_on = old_end - timedelta(days=10)
    _ready(user, HIDA, today=renewing_on)
    request = service.request_premium(user, reg.id, settings=PREMIUM_SETTINGS, now=at(renewing_on), renewal=True)
    service.approve_premium(account("staff", HIDA), request.id, settings=PREMIUM_SETTINGS, now=at(renewing_on))
    assert reg.premium_valid_until == new_end


def test_who_decides_a_premium_request():
    user = person()
    reg, request = _requested(user)
    for outsider in (account("staff", TAKAYAMA), account("staff", GIFU), account("national"), user):
        assert refused(service.approve_premium, outsider, request.id, settings=PREMIUM_SETTINGS, now=NOW) == \
            (404, "not_found"), outsider.role
        assert refused(service.reject_premium, outsider, request.id, "x", now=NOW) == (404, "not_found")
    assert request.status == "pending"


@pytest.mark.parametrize("decision", ["premium", "identity"])
def test_a_host_of_the_organization_decides_nothing(decision):
    user = person()
    reg = service.register(user, HIDA, ["family"], now=NOW)
    _ready(user, HIDA)
    host = account("host", HIDA)
    if decision == "premium":
        request = service.request_premium(user, reg.id, settings=PREMIUM_SETTINGS, now=NOW)
        assert refused(service.approve_premium, host, request.id, settings=PREMIUM_SETTINGS, now=NOW) == \
            (404, "not_found")
    else:
        verification = service.request_identity_verification(user, "in_person", now=NOW)
        assert refused(service.decide_identity_verification, host, verification.id, verified=True) == \
            (404, "not_found")


def test_rejection_keeps_the_reason_and_moves_no_figure():
    user = person()
    reg, request = _requested(user)
    before = counters()
    staff = account("staff", HIDA)
    decided = service.reject_premium(staff, request.id, "活動の確認が取れません", now=NOW)
    assert (decided.status, decided.reason, decided.decided_by, reg.tier) == \
        ("rejected", "活動の確認が取れません", staff.id, BASIC)
    assert counters() == before and _events(user) == ["registered"]
    assert refused(service.reject_premium, staff, request.id, "again", now=NOW) == (409, "invalid_state")
    assert db.session.scalars(select(Notification.kind).where(Notification.user_id == user.id)).all() == \
        ["premium_decided"]


@pytest.mark.parametrize("days_left, open_", [(61, False), (60, True), (0, True)])
def test_renewal_opens_60_days_before_the_end(days_left, open_):
    user = person()
    reg = _premium(user)
    reg.premium_valid_until = TODAY + timedelta(days=days_left)
    renew = lambda: service.request_premium(user, reg.id, settings=PREMIUM_SETTINGS, now=NOW, renewal=True)  # noqa
    if open_:
        assert renew().kind == "renewal"
    else:
        assert refused(renew) == (409, "renewal_not_open")
    progress = service.premium_progress(user, reg, settings=PREMIUM_SETTINGS, today=TODAY)
    assert progress["renewal_opens_on"] == reg.premium_valid_until - timedelta(days=60)


def test_renewal_extends_from_the_old_end_needs_no_free_slot_and_moves_no_figure():
    one = {"PREMIUM_LIMIT": 1, "PREMIUM_ACTIVITIES_REQUIRED": 3}
    user = person()
    reg = _premium(user, settings=one)
    reg.premium_valid_until = TODAY + timedelta(days=30)
    before = counters()
    request = service.request_premium(user, reg.id, settings=one, now=NOW, renewal=True)  # its own slot only
    service.approve_premium(account("staff", HIDA), request.id, settings=one, now=NOW)
    assert reg.premium_valid_until == date(2027, 7, 31)
    assert {k: v for k, v in counters().items() if k[0] != "day"} == {k: v for k, v in before.items() if k[0] != "day"}
    assert _events(user) == ["premium_granted", "premium_renewed", "registered"]
    assert verify() == []


def test_renewal_needs_premium_and_the_requirements():
    user = person()
    basic = service.register(user, TAKAYAMA, ["family"], now=NOW)
    assert refused(service.request_premium, user, basic.id, settings=PREMIUM_SETTINGS, now=NOW, renewal=True) == \
        (409, "renewal_not_open")
    reg = _premium(user, HIDA, now=NOW - timedelta(days=360))  # 2025-07-06: valid until 2026-07-05
    assert refused(service.request_premium, user, reg.id, settings=PREMIUM_SETTINGS, now=NOW, renewal=True) == \
        (422, "premium_requirements")  # its activities are older than 12 months by now
    add_activities(user, HIDA, today=TODAY)
    assert service.request_premium(user, reg.id, settings=PREMIUM_SETTINGS, now=NOW, renewal=True).kind == "renewal"


def test_a_renewal_approved_after_the_premium_ended_is_a_new_grant_from_that_day():
    user = person()
    reg = _premium(user)
    reg.premium_valid_until = TODAY + timedelta(days=10)
    request = service.request_premium(user, reg.id, settings=PREMIUM_SETTINGS, now=NOW, renewal=True)
    decided_on = TODAY + timedelta(days=20)  # 2026-07-21: the premium ended on 07-11, lapse not run yet
    service.approve_premium(account("staff", HIDA), request.id, settings=PREMIUM_SETTINGS, now=at(decided_on))
    assert reg.premium_valid_until == date(2027, 7, 20)
    assert _events(user) == ["premium_granted", "premium_granted", "registered"]
    assert verify() == []


def test_lapse_returns_ended_premiums_to_basic_once_and_keeps_counting_them():
    user = person()
    ended, current = _premium(user, HIDA), _premium(user, TAKAYAMA)
    ended.premium_valid_until = TODAY - timedelta(days=1)
    current.premium_valid_until = TODAY  # still valid today
    withdrawn = _premium(user, TAJIMI)
    withdrawn.premium_valid_until = TODAY - timedelta(days=1)
    service.withdraw(user, withdrawn.id, now=NOW)
    assert service.premium_slots_used(user.id, TODAY) == 1  # an ended premium holds no slot, lapsed or not
    assert service.lapse_premiums(now=NOW) == 1
    assert (ended.tier, current.tier, withdrawn.tier) == (BASIC, PREMIUM, PREMIUM)
    assert service.lapse_premiums(now=NOW) == 0
    figures = counters()
    assert figures[("total", "")] == {"people": 1, "registrations": 2, "premium": 1}
    assert figures[("tier", "basic")] == {"people": 1, "registrations": 1}
    assert figures[("tier", "premium")] == {"people": 1, "registrations": 1, "premium": 1}
    assert _events(user).count("premium_lapsed") == 1
    assert verify() == []


def test_progress_says_what_is_missing():
    user = person()
    reg = service.register(user, HIDA, ["family"], now=NOW)
    progress = service.premium_progress(user, reg, settings=PREMIUM_SETTINGS, today=TODAY)
    assert progress == {
        "activities_in_window": 0, "activities_required": 3, "identity_verified": False,
        "premium_registrations": 0, "premium_limit": 3, "eligible": False, "pending_request": None,
        "missing": ["identity_verification", "activities"], "premium_valid_until": None, "renewal_opens_on": None}
    _ready(user, HIDA)
    assert service.premium_progress(user, reg, settings=PREMIUM_SETTINGS, today=TODAY)["eligible"] is True


# --- identity verification ------------------------------------------------------------------------------

def test_staff_list_and_decide_only_for_people_registered_with_them():
    registered, withdrawn, stranger = person(), person(), person()
    service.register(registered, HIDA, ["family"], now=NOW)
    gone = service.register(withdrawn, HIDA, ["family"], now=NOW)
    service.withdraw(withdrawn, gone.id, now=NOW)
    checks = {who: service.request_identity_verification(who, "in_person", now=NOW)
              for who in (registered, withdrawn, stranger)}
    staff, admin = account("staff", HIDA), account("admin")
    listed = service.list_identity_verifications(staff, "pending", page=1, per_page=50).items
    assert [v.id for v in listed] == [checks[registered].id]
    assert len(service.list_identity_verifications(admin, "pending", page=1, per_page=50).items) == 3
    for who in (withdrawn, stranger):
        assert refused(service.decide_identity_verification, staff, checks[who].id, verified=True) == \
            (404, "not_found")
    for outsider in (account("staff", TAKAYAMA), account("national"), registered):
        assert refused(service.decide_identity_verification, outsider, checks[registered].id, verified=True) == \
            (404, "not_found")
    later = NOW + timedelta(hours=1)
    decided = service.decide_identity_verification(staff, checks[registered].id, verified=True, now=later)
    assert (decided.status, decided.decided_at, decided.decided_by) == ("verified", later, staff.id)
    assert service.identity_verified(registered.id) and not service.identity_verified(stranger.id)
    assert refused(service.decide_identity_verification, staff, decided.id, verified=False) == (409, "invalid_state")
    rejected = service.decide_identity_verification(admin, checks[stranger].id, verified=False, reason="不鮮明")
    assert (rejected.status, rejected.reason) == ("rejected", "不鮮明")
    assert not service.identity_verified(stranger.id)
    assert service.list_identity_verifications(staff, "pending", page=1, per_page=50).items == []


# --- what staff see of their registrants ------------------------------------------------------------------

def test_registrants_show_a_profile_only_with_consent_and_the_read_is_audited():
    born = today_tokyo().year - 35  # 35 this year: the 30_39 band
    sharing = person(birth_year=born, display_name="共有する人", consent_share_profile=True, skills=["農作業"],
                     interests=["祭り"])
    private = person(display_name="共有しない人")
    shared_reg = service.register(sharing, HIDA, ["family"], now=NOW)
    service.register(private, HIDA, ["volunteer"], now=NOW + timedelta(minutes=1))
    leaver = person(consent_share_profile=True)
    service.withdraw(leaver, service.register(leaver, HIDA, ["family"], now=NOW).id, now=NOW)
    staff = account("staff", HIDA)
    page = service.list_registrants(staff, HIDA, page=1, per_page=50).items
    assert [row["registration_id"] for row in page][1:] != [shared_reg.id] and len(page) == 2  # active, oldest first
    assert page[0] == {"registration_id": shared_reg.id, "tier": "basic", "ties": ["family"], "registered_at": NOW,
                       "profile": {"display_name": "共有する人", "age_band": "30_39",
                                   "skills": ["農作業"], "interests": ["祭り"]}}
    assert page[1]["profile"] is None
    db.session.flush()
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.actor_id, entry.subject_ids, entry.organization_code) == (staff.id, [str(sharing.id)], HIDA)
    for outsider in (account("staff", TAKAYAMA), account("staff", GIFU), account("admin"), sharing):
        assert refused(service.list_registrants, outsider, HIDA, page=1, per_page=50) == (404, "not_found")
    assert refused(service.list_registrants, staff, "999999", page=1, per_page=50) == (404, "unknown_organization")


def test_a_registrant_row_reads_an_ended_premium_as_basic():
    user = person()
    reg = _premium(user)
    reg.premium_valid_until = today_tokyo()
    assert service.registrant_row(reg, user)["tier"] == "premium"
    reg.premium_valid_until = today_tokyo() - timedelta(days=1)
    assert service.registrant_row(reg, user)["tier"] == "basic"
