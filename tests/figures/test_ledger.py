"""The ledger on its own: `keep()` fed hand-made `RegistrationChange`s, and `FigureChange`'s arithmetic.

No registration rows are written here, so nothing is recounted: every expected counter, tally and
ledger event below is written out by hand. On PostgreSQL a change goes through the one-statement
path (`ONE_STATEMENT`), on SQLite through the steps; `make test` runs this module on both, against
the same numbers."""
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from registry.extensions import db
from registry.figures import ledger
from registry.figures.ledger import SLOTS, FigureChange, birth_key, flow_key
from registry.figures.models import FigureCounter, PersonTally, RegistrationEvent
from registry.registrations.events import (
    ERASED, MOVED_IN, PREMIUM_GRANTED, PREMIUM_LAPSED, PREMIUM_RENEWED, REGISTERED, WITHDRAWN, Counted,
    PersonFacts, RegistrationChange,
)
from tests.factories import (
    CHIYODA, GIFU, HACHIOJI, HIDA, TAKAYAMA, TOKYO, account, counters, person,
)

DAY1 = datetime(2026, 6, 30, 15, 30, tzinfo=timezone.utc)  # 2026-07-01 00:30 in Tokyo: the ledger's day is Tokyo's
DAY2 = DAY1 + timedelta(days=1)
HIDA_BASIC = Counted(HIDA, GIFU, "basic", ("family", "volunteer"))
HIDA_PREMIUM = Counted(HIDA, GIFU, "premium", ("family", "volunteer"))
TAKAYAMA_BASIC = Counted(TAKAYAMA, GIFU, "basic", ("family",))
HACHIOJI_BASIC = Counted(HACHIOJI, TOKYO, "basic", ("other",))


def keep(user, kind, *, leaving=(), entering=(), now=DAY1, before=None, organization=None, actor=None):
    ledger.keep(RegistrationChange(user, kind, now, leaving=list(leaving), entering=list(entering),
                                   organization_code=organization, actor_id=actor, before=before))


def register(user, counted, now=DAY1):
    keep(user, REGISTERED, entering=[counted], now=now, organization=counted.organization_code)


def tallies(user) -> dict:
    return {(t.dimension, t.value): t.active
            for t in db.session.scalars(select(PersonTally).where(PersonTally.user_id == user.id))}


def events(user=None) -> list[tuple]:
    """(kind, people_delta, registrations_delta) of the ledger, in order of time then kind."""
    stmt = select(RegistrationEvent).order_by(RegistrationEvent.occurred_at, RegistrationEvent.kind)
    if user is not None:
        stmt = stmt.where(RegistrationEvent.user_id == user.id)
    return [(e.kind, e.people_delta, e.registrations_delta) for e in db.session.scalars(stmt)]


def delta(before: dict, after: dict) -> dict:
    """What changed between two `counters()`, cell by cell, zeros left out."""
    out = {}
    for key in set(before) | set(after):
        changed = Counter(after.get(key, {}))
        changed.subtract(before.get(key, {}))
        changed = {field: n for field, n in changed.items() if n}
        if changed:
            out[key] = changed
    return out


@pytest.fixture
def tokyo_person():
    """Lives in 千代田区 (東京都), born 1990."""
    return person(home=CHIYODA, birth_year=1990)


# --- one change at a time -------------------------------------------------------------------------------

def test_registered_counts_every_cell_once(tokyo_person):
    register(tokyo_person, HIDA_BASIC)
    assert counters() == {
        ("total", ""): {"people": 1, "registrations": 1},
        ("prefecture", GIFU): {"people": 1, "registrations": 1},
        ("organization", HIDA): {"people": 1, "registrations": 1},
        ("tier", "basic"): {"people": 1, "registrations": 1},
        ("birth_year", "1990"): {"people": 1, "registrations": 1},
        ("tie", "family"): {"people": 1, "registrations": 1},
        ("tie", "volunteer"): {"people": 1, "registrations": 1},
        ("type", "kinship"): {"people": 1, "registrations": 1},  # family
        ("type", "participation"): {"people": 1, "registrations": 1},  # volunteer
        ("flow", f"{TOKYO}>{GIFU}"): {"people": 1},
        ("day", "2026-07-01"): {"people": 1, "registrations": 1, "registered": 1},
    }
    assert tallies(tokyo_person) == {("all", ""): 1, ("tier", "basic"): 1, ("prefecture", GIFU): 1,
                                     ("tie", "family"): 1, ("tie", "volunteer"): 1, ("type", "kinship"): 1,
                                     ("type", "participation"): 1}
    [event] = db.session.scalars(select(RegistrationEvent)).all()
    assert (event.kind, event.people_delta, event.registrations_delta, event.day, event.organization_code,
            event.user_id, event.actor_id) == ("registered", 1, 1, date(2026, 7, 1), HIDA, tokyo_person.id, None)
    assert (event.home_prefecture_code, event.premium_until_before) == (TOKYO, None)


def test_a_second_registration_in_the_same_prefecture_moves_no_people_there(tokyo_person):
    register(tokyo_person, HIDA_BASIC)
    before = counters()
    register(tokyo_person, TAKAYAMA_BASIC)
    assert delta(before, counters()) == {
        ("total", ""): {"registrations": 1},
        ("prefecture", GIFU): {"registrations": 1},
        ("organization", TAKAYAMA): {"people": 1, "registrations": 1},
        ("tier", "basic"): {"registrations": 1},
        ("birth_year", "1990"): {"registrations": 1},
        ("tie", "family"): {"registrations": 1},
        ("type", "kinship"): {"registrations": 1},
        ("day", "2026-07-01"): {"registrations": 1, "registered": 1},
    }
    assert events(tokyo_person)[-1] == ("registered", 0, 1)
    assert tallies(tokyo_person)[("prefecture", GIFU)] == 2


def test_someone_living_in_the_prefecture_moves_its_flow_but_not_its_people():
    local = person(home=TAKAYAMA, birth_year=1990)
    register(local, HIDA_BASIC)
    figures = counters()
    assert figures[("prefecture", GIFU)] == {"registrations": 1}
    assert figures[("flow", f"{GIFU}>{GIFU}")] == {"people": 1}
    assert figures[("total", "")] == {"people": 1, "registrations": 1}
    assert events(local) == [("registered", 1, 1)]


def test_withdrawn_takes_everything_back_and_counts_the_day(tokyo_person):
    register(tokyo_person, HIDA_BASIC)
    keep(tokyo_person, WITHDRAWN, leaving=[HIDA_BASIC], now=DAY2, organization=HIDA)
    assert counters() == {
        ("day", "2026-07-01"): {"people": 1, "registrations": 1, "registered": 1},
        ("day", "2026-07-02"): {"people": -1, "registrations": -1, "withdrawn": 1},
    }
    assert set(tallies(tokyo_person).values()) == {0}
    assert events(tokyo_person) == [("registered", 1, 1), ("withdrawn", -1, -1)]


def test_moved_in_is_counted_where_the_registration_was(tokyo_person):
    register(tokyo_person, HIDA_BASIC)
    keep(tokyo_person, MOVED_IN, leaving=[HIDA_BASIC], now=DAY2, organization=HIDA)
    assert counters() == {
        ("total", ""): {"moved_in": 1},
        ("prefecture", GIFU): {"moved_in": 1},
        ("organization", HIDA): {"moved_in": 1},
        ("day", "2026-07-01"): {"people": 1, "registrations": 1, "registered": 1},
        ("day", "2026-07-02"): {"people": -1, "registrations": -1, "moved_in": 1},
    }
    assert events(tokyo_person)[-1] == ("moved_in", -1, -1)


def test_premium_granted_renewed_and_lapsed(tokyo_person):
    staff = account("staff", HIDA)
    register(tokyo_person, HIDA_BASIC)
    registered = counters()
    keep(tokyo_person, PREMIUM_GRANTED, leaving=[HIDA_BASIC], entering=[HIDA_PREMIUM], now=DAY2,
         organization=HIDA, actor=staff.id)
    granted = counters()
    assert delta(registered, granted) == {
        ("total", ""): {"premium": 1},
        ("prefecture", GIFU): {"premium": 1},
        ("organization", HIDA): {"premium": 1},
        ("birth_year", "1990"): {"premium": 1},
        ("tier", "basic"): {"people": -1, "registrations": -1},
        ("tier", "premium"): {"people": 1, "registrations": 1, "premium": 1},
    }
    keep(tokyo_person, PREMIUM_RENEWED, now=DAY2, organization=HIDA, actor=staff.id)
    assert counters() == granted
    keep(tokyo_person, PREMIUM_LAPSED, leaving=[HIDA_PREMIUM], entering=[HIDA_BASIC], now=DAY2, organization=HIDA)
    assert counters() == registered
    assert events(tokyo_person) == [("registered", 1, 1), ("premium_granted", 0, 0), ("premium_lapsed", 0, 0),
                                    ("premium_renewed", 0, 0)]
    assert db.session.scalar(select(RegistrationEvent.actor_id).where(RegistrationEvent.kind == "premium_granted")) \
        == staff.id
    assert tallies(tokyo_person)[("tier", "premium")] == 0 and tallies(tokyo_person)[("tier", "basic")] == 1


def test_erased_forgets_only_the_tallies_at_zero(tokyo_person):
    register(tokyo_person, HIDA_BASIC)
    register(tokyo_person, TAKAYAMA_BASIC)
    keep(tokyo_person, WITHDRAWN, leaving=[HIDA_BASIC], now=DAY2, organization=HIDA)
    before = counters()
    keep(tokyo_person, ERASED, now=DAY2)
    assert tallies(tokyo_person) == {("all", ""): 1, ("tier", "basic"): 1, ("prefecture", GIFU): 1,
                                     ("tie", "family"): 1, ("type", "kinship"): 1}  # volunteer was at 0
    assert counters() == before
    assert [e for e in events(tokyo_person) if e[0] == "erased"] == [("erased", 0, 0)]
    keep(tokyo_person, WITHDRAWN, leaving=[TAKAYAMA_BASIC], now=DAY2, organization=TAKAYAMA)
    keep(tokyo_person, ERASED, now=DAY2)
    assert tallies(tokyo_person) == {}


def test_a_tally_below_zero_is_refused(tokyo_person):
    with pytest.raises(RuntimeError, match="below zero"):
        keep(tokyo_person, WITHDRAWN, leaving=[HIDA_BASIC], organization=HIDA)


def test_a_restatement_moves_people_between_cells_and_notes_the_old_home(tokyo_person):
    register(tokyo_person, HIDA_BASIC)
    register(tokyo_person, TAKAYAMA_BASIC)
    before = counters()
    facts = PersonFacts.of(tokyo_person)
    tokyo_person.home_municipality_code, tokyo_person.birth_year = TAKAYAMA, 1980
    both = [HIDA_BASIC, TAKAYAMA_BASIC]
    keep(tokyo_person, None, leaving=both, entering=both, now=DAY2, before=facts)
    assert delta(before, counters()) == {
        ("birth_year", "1990"): {"people": -1, "registrations": -2},
        ("birth_year", "1980"): {"people": 1, "registrations": 2},
        ("prefecture", GIFU): {"people": -1},  # lives there now
        ("flow", f"{TOKYO}>{GIFU}"): {"people": -1},
        ("flow", f"{GIFU}>{GIFU}"): {"people": 1},
    }
    assert events(tokyo_person) == [("registered", 1, 1), ("registered", 0, 1), ("restated", 0, 0)]
    restated = db.session.scalars(select(RegistrationEvent).where(RegistrationEvent.kind == "restated")).one()
    assert (restated.home_prefecture_code, restated.registration_id, restated.day) == (TOKYO, None, date(2026, 7, 2))
    assert tallies(tokyo_person)[("all", "")] == 2


def test_a_person_without_home_or_birth_year_is_filed_as_unknown():
    nobody = person(birth_year=None)
    nobody.home_municipality_code = None
    register(nobody, HIDA_BASIC)
    figures = counters()
    assert figures[("birth_year", "unknown")] == {"people": 1, "registrations": 1}
    assert figures[("flow", f"unknown>{GIFU}")] == {"people": 1}
    assert figures[("prefecture", GIFU)] == {"people": 1, "registrations": 1}


# --- slots -------------------------------------------------------------------------------------------------

def test_a_change_writes_all_its_counters_in_one_drawn_slot_and_reads_sum_the_slots(tokyo_person, monkeypatch):
    drawn = iter([5, 11])
    asked = []

    def draw(n):
        asked.append(n)
        return next(drawn)

    monkeypatch.setattr(ledger.random, "randrange", draw)
    register(tokyo_person, HIDA_BASIC)
    assert set(db.session.scalars(select(FigureCounter.slot))) == {5}
    register(tokyo_person, TAKAYAMA_BASIC)
    assert asked == [SLOTS, SLOTS] and SLOTS == 16
    assert db.session.scalars(select(FigureCounter.slot).where(FigureCounter.metric == "total")
                              .order_by(FigureCounter.slot)).all() == [5, 11]
    assert counters()[("total", "")] == {"people": 1, "registrations": 2}


# --- one sequence, the same numbers on either database ------------------------------------------------------

def test_a_sequence_of_changes_gives_the_hand_counted_figures(tokyo_person):
    """Two people through registrations, a premium grant, a withdrawal, a birth-year restatement, a move
    ending one registration as moved_in and the restatement of the rest under the new home."""
    a, b = tokyo_person, person(home=TAKAYAMA, birth_year=2000)
    staff = account("staff", HIDA)
    hida_family = Counted(HIDA, GIFU, "basic", ("family",))
    register(a, HIDA_BASIC)
    register(a, TAKAYAMA_BASIC)
    register(b, hida_family)
    register(b, HACHIOJI_BASIC)
    keep(a, PREMIUM_GRANTED, leaving=[HIDA_BASIC], entering=[HIDA_PREMIUM], now=DAY2, organization=HIDA,
         actor=staff.id)
    keep(b, WITHDRAWN, leaving=[HACHIOJI_BASIC], now=DAY2, organization=HACHIOJI)
    old = PersonFacts.of(a)
    a.birth_year = 1985
    keep(a, None, leaving=[HIDA_PREMIUM, TAKAYAMA_BASIC], entering=[HIDA_PREMIUM, TAKAYAMA_BASIC], now=DAY2,
         before=old)
    keep(a, MOVED_IN, leaving=[TAKAYAMA_BASIC], now=DAY2 + timedelta(hours=1), organization=TAKAYAMA)
    old = PersonFacts.of(a)
    a.home_municipality_code = TAKAYAMA
    keep(a, None, leaving=[HIDA_PREMIUM], entering=[HIDA_PREMIUM], now=DAY2 + timedelta(hours=1), before=old)

    assert counters() == {
        ("total", ""): {"people": 2, "registrations": 2, "premium": 1, "moved_in": 1},
        ("prefecture", GIFU): {"registrations": 2, "premium": 1, "moved_in": 1},  # both live there now
        ("organization", HIDA): {"people": 2, "registrations": 2, "premium": 1},
        ("organization", TAKAYAMA): {"moved_in": 1},
        ("tier", "basic"): {"people": 1, "registrations": 1},
        ("tier", "premium"): {"people": 1, "registrations": 1, "premium": 1},
        ("birth_year", "1985"): {"people": 1, "registrations": 1, "premium": 1},
        ("birth_year", "2000"): {"people": 1, "registrations": 1},
        ("tie", "family"): {"people": 2, "registrations": 2},
        ("tie", "volunteer"): {"people": 1, "registrations": 1},
        ("type", "kinship"): {"people": 2, "registrations": 2},
        ("type", "participation"): {"people": 1, "registrations": 1},
        ("flow", f"{GIFU}>{GIFU}"): {"people": 2},
        ("day", "2026-07-01"): {"people": 2, "registrations": 4, "registered": 4},
        ("day", "2026-07-02"): {"registrations": -2, "withdrawn": 1, "moved_in": 1},
    }
    assert {k: v for k, v in tallies(a).items() if v} == {
        ("all", ""): 1, ("tier", "premium"): 1, ("prefecture", GIFU): 1, ("tie", "family"): 1,
        ("tie", "volunteer"): 1, ("type", "kinship"): 1, ("type", "participation"): 1}
    assert {k: v for k, v in tallies(b).items() if v} == {
        ("all", ""): 1, ("tier", "basic"): 1, ("prefecture", GIFU): 1, ("tie", "family"): 1, ("type", "kinship"): 1}
    assert sorted(events()) == sorted([
        ("registered", 1, 1), ("registered", 0, 1), ("registered", 1, 1), ("registered", 0, 1),
        ("premium_granted", 0, 0), ("withdrawn", 0, -1), ("moved_in", 0, -1), ("restated", 0, 0),
        ("restated", 0, 0)])
    assert db.session.scalar(select(func.count()).select_from(FigureCounter).where(
        FigureCounter.slot.not_in(range(SLOTS)))) == 0


# --- FigureChange's arithmetic, before anything is written ----------------------------------------------------

def test_figure_change_adds_and_removes_tallies_and_counters(tokyo_person):
    change = FigureChange(tokyo_person).add(HIDA_PREMIUM)
    assert change.tallies == Counter({("all", ""): 1, ("tier", "premium"): 1, ("prefecture", GIFU): 1,
                                      ("tie", "family"): 1, ("tie", "volunteer"): 1, ("type", "kinship"): 1,
                                      ("type", "participation"): 1})
    assert change.counters == {
        ("total", ""): Counter(registrations=1, premium=1),
        ("prefecture", GIFU): Counter(registrations=1, premium=1),
        ("organization", HIDA): Counter(people=1, registrations=1, premium=1),
        ("tier", "premium"): Counter(registrations=1, premium=1),
        ("birth_year", "1990"): Counter(registrations=1, premium=1),
        ("tie", "family"): Counter(registrations=1),
        ("tie", "volunteer"): Counter(registrations=1),
        ("type", "kinship"): Counter(registrations=1),
        ("type", "participation"): Counter(registrations=1),
    }
    change.remove(HIDA_PREMIUM)
    assert change._tally_rows() == [] and change._counter_rows(0) == []
    assert FigureChange(tokyo_person).count("total", "", "moved_in", 2).counters == {("total", ""): Counter(moved_in=2)}


def test_people_targets_follow_the_person_facts(tokyo_person):
    change = FigureChange(tokyo_person).add(HIDA_BASIC)
    targets = change._people_targets("2026-07-01")
    assert targets[("all", "")] == [("total", ""), ("birth_year", "1990"), ("day", "2026-07-01")]
    assert targets[("prefecture", GIFU)] == [("prefecture", GIFU), ("flow", f"{TOKYO}>{GIFU}")]
    assert targets[("tier", "basic")] == [("tier", "basic")] and targets[("tie", "family")] == [("tie", "family")]
    assert change.prefecture_cells(TOKYO) == [("flow", f"{TOKYO}>{TOKYO}")]  # their own prefecture: flows only
    earlier = FigureChange(tokyo_person, facts=PersonFacts(TAKAYAMA, None))
    assert earlier.prefecture_cells(GIFU) == [("flow", f"{GIFU}>{GIFU}")] and earlier.birth == "unknown"
    assert (birth_key(None), birth_key(1990), flow_key(None, GIFU)) == ("unknown", "1990", f"unknown>{GIFU}")
