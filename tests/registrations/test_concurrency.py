"""Races on a real PostgreSQL: parallel identical registrations and one person's parallel changes."""

import pytest
from sqlalchemy import func, select

from registry.extensions import db
from registry.figures import ledger
from registry.figures.recount import verify
from registry.registrations.models import Registration
from tests.parallel import in_parallel, resident_token

pytestmark = [pytest.mark.committing, pytest.mark.postgres_only]


def test_parallel_identical_registrations_make_one(app):
    token = resident_token(app.test_client())
    statuses = in_parallel(app, 12, lambda client, i: client.post(
        "/api/v1/registrations", headers={"Authorization": f"Bearer {token}"},
        json={"organization_code": "212172", "ties": ["birthplace"]}).status_code)
    assert sorted(statuses) == [201] + [409] * 11
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Registration)
                                 .where(Registration.status == "active")) == 1
        assert verify() == []


def test_parallel_changes_keep_figures_exact(app):
    tokens = [resident_token(app.test_client()) for _ in range(4)]
    codes = ["212172", "212016", "210005", "011002", "472018", "132012"]

    def act(client, i):
        token = tokens[i % 4]
        return client.post("/api/v1/registrations", headers={"Authorization": f"Bearer {token}"},
                           json={"organization_code": codes[i % len(codes)], "ties": ["repeat_visit"]}).status_code

    statuses = in_parallel(app, 24, act)
    assert set(statuses) <= {201, 409}
    with app.app_context():
        active = db.session.scalar(select(func.count()).select_from(Registration).where(Registration.status == "active"))
        assert active == statuses.count(201)
        assert verify() == []


def test_parallel_people_on_one_counter_slot_neither_deadlock_nor_drift(app, monkeypatch):
    """Every change writes the same counter rows (slot 0 for all): none fails, and the figures
    equal a recount."""
    monkeypatch.setattr(ledger, "SLOTS", 1)
    tokens = [resident_token(app.test_client(), home) for home in ("131016", "271004", "011002", "401005") * 3]
    codes = ["212172", "212016", "472018", "132012", "210005"]

    def act(client, i):
        return client.post("/api/v1/registrations", headers={"Authorization": f"Bearer {tokens[i]}"},
                           json={"organization_code": codes[i % len(codes)],
                                 "ties": ["family", "volunteer"][: 1 + i % 2]}).status_code

    assert in_parallel(app, len(tokens), act) == [201] * len(tokens)
    with app.app_context():
        assert verify() == []
