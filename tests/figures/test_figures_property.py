"""Property: after any sequence of registry changes, every maintained figure equals a recount."""
from datetime import timedelta

import pytest

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from registry.accounts import service as accounts
from registry.workflows import accounts as workflows, erasure
from registry.common.time import today_tokyo
from registry.errors import Problem
from registry.extensions import db
from registry.figures.recount import verify
from registry.registrations import service as registrations
from registry.registrations.models import PREMIUM, TIES

TARGETS = ["212172", "210005", "212016", "011002", "010006", "131016", "130001", "132012"]
HOMES = ["131016", "212016", "212172", "011002", "132012", "011011"]
SETTINGS = {"PREMIUM_LIMIT": 2, "PREMIUM_ACTIVITIES_REQUIRED": 3}


class RegistryMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        self.savepoint = db.session.begin_nested()
        self.people = []
        for i, home in enumerate(HOMES[:4]):
            user = accounts.create_resident(email=f"p{i}@example.jp", password="password-123", display_name=f"p{i}",
                                      home_municipality_code=home, birth_year=1960 + 10 * i)
            self.people.append(user)
        self.staff = {code: accounts.create_user(email=f"s{code}@example.jp", password="password-123",
                                                 role="staff", organization_code=code) for code in TARGETS}

    def teardown(self):
        if getattr(self, "savepoint", None) is not None and self.savepoint.is_active:
            self.savepoint.rollback()

    def _active(self, person):
        return [r for r in registrations.active_registrations(person)]

    @rule(who=st.integers(0, 3), where=st.sampled_from(TARGETS),
          ties=st.lists(st.sampled_from(TIES), min_size=1, max_size=3))
    def register(self, who, where, ties):
        person = self.people[who]
        if person.erased_at:
            return
        try:
            registrations.register(person, where, ties)
        except Problem as refused:
            assert refused.code in ("home_municipality", "already_registered")

    @rule(who=st.integers(0, 3), which=st.integers(0, 7))
    def withdraw(self, who, which):
        active = self._active(self.people[who])
        if active:
            registrations.withdraw(self.people[who], active[which % len(active)].id)

    @rule(who=st.integers(0, 3), home=st.sampled_from(HOMES))
    def move(self, who, home):
        person = self.people[who]
        if not person.erased_at:
            workflows.update_profile(person, {"home_municipality_code": home})

    @rule(who=st.integers(0, 3), year=st.integers(1940, 2008))
    def change_birth_year(self, who, year):
        person = self.people[who]
        if not person.erased_at:
            workflows.update_profile(person, {"birth_year": year})

    @rule(who=st.integers(0, 3), which=st.integers(0, 7))
    def make_premium(self, who, which):
        person = self.people[who]
        active = [r for r in self._active(person) if r.tier != PREMIUM]
        if not active:
            return
        reg = active[which % len(active)]
        if not registrations.identity_verified(person.id):
            registrations.request_identity_verification(person, "in_person").status = "verified"
        for days in (1, 2, 3):
            registrations.record_activity(person, reg.organization_code, today_tokyo() - timedelta(days=days))
        try:
            request = registrations.request_premium(person, reg.id, settings=SETTINGS)
            registrations.approve_premium(self.staff[reg.organization_code], request.id, settings=SETTINGS)
        except Problem as refused:
            assert refused.code in ("premium_limit", "invalid_state")

    @rule(who=st.integers(0, 3))
    def expire_and_lapse(self, who):
        for reg in self._active(self.people[who]):
            if reg.tier == PREMIUM:
                reg.premium_valid_until = today_tokyo() - timedelta(days=1)
        db.session.flush()
        registrations.lapse_premiums()

    @rule(who=st.integers(0, 3))
    def erase(self, who):
        person = self.people[who]
        if not person.erased_at:
            erasure.erase(person)

    @invariant()
    def figures_equal_recount(self):
        if hasattr(self, "people"):
            assert verify() == []


@pytest.mark.slow  # 25 generated sequences of 15 steps: about ten seconds
def test_maintained_figures_equal_a_recount_after_every_step():
    run_state_machine_as_test(RegistryMachine, settings=settings(
        max_examples=25, stateful_step_count=15, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))
