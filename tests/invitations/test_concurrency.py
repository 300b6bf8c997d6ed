"""Races on a real PostgreSQL: the same roster imported twice at once creates every account,
invitation and link once; an invitation accepted twice at once registers once."""

import pytest
from sqlalchemy import func, select, text

from registry.accounts.models import User
from registry.extensions import db
from registry.figures import recount
from registry.accounts.models import SetPasswordToken
from registry.invitations import roster
from registry.invitations.models import Invitation
from registry.organizations.models import Organization
from registry.registrations.models import Registration
from tests.factories import HIDA
from tests.invitations.conftest import read_links
from tests.parallel import in_parallel, together

pytestmark = [pytest.mark.committing, pytest.mark.postgres_only]
API = "/api/v1"


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_same_roster_imported_twice_at_once_creates_everything_once(app, tmp_path):
    people = 300
    path = tmp_path / "roster.csv"
    path.write_text("email,display_name,home_municipality_code,ties,birth_year\n" + "".join(
        f"p{i}@example.jp,人{i},131016,family,1990\n" for i in range(people)), encoding="utf-8")
    with app.app_context():  # one person already has an account: an inbox invitation only
        db.session.add(User(email="p7@example.jp", email_key="p7@example.jp", role="resident", display_name="七",
                            home_municipality_code="131016", birth_year=1980, skills=[], interests=[]))
        db.session.commit()

    def run(i, start):
        with app.app_context():
            links = roster.LinksFile(str(tmp_path / f"links-{i}.csv"))
            org = db.session.get(Organization, HIDA)
            start()
            report = roster.import_roster(str(path), org, site_url="https://example.jp", links=links.write)
            db.session.commit()
            links.publish()
            return report

    reports = together(2, run)
    assert sum(r.new_accounts for r in reports) == people - 1
    assert sum(r.existing_accounts for r in reports) == 1
    assert sum(r.already_invited for r in reports) == people
    emails = [row["email"] for i in range(2) for row in read_links(tmp_path / f"links-{i}.csv")]
    assert sorted(emails) == sorted(f"p{i}@example.jp" for i in range(people) if i != 7)  # each link once
    with app.app_context():
        assert _count(User) == people
        assert _count(Invitation) == people
        assert _count(SetPasswordToken) == people - 1


def test_rosters_that_share_people_in_opposite_orders_imported_at_once_both_succeed(app, tmp_path):
    """Chunk by chunk, two imports creating the same accounts in opposite orders would each wait
    for the other (a deadlock PostgreSQL breaks by failing one); imports wait for each other instead."""
    people = 200
    rows = [f"q{i}@example.jp,人{i},131016,family,1990\n" for i in range(people)]
    paths = [tmp_path / "forward.csv", tmp_path / "backward.csv"]
    for path, order in zip(paths, (rows, rows[::-1])):
        path.write_text("email,display_name,home_municipality_code,ties,birth_year\n" + "".join(order),
                        encoding="utf-8")

    def run(i, start):
        with app.app_context():
            org = db.session.get(Organization, HIDA)
            start()
            report = roster.import_roster(str(paths[i]), org, site_url="https://example.jp",
                                          links=lambda email, link: None, chunk_size=5)
            db.session.commit()
            return report

    reports = together(2, run)
    assert sorted(r.new_accounts for r in reports) == [0, people]
    with app.app_context():
        assert _count(User) == people and _count(Invitation) == people


def test_an_invitation_accepted_twice_at_once_registers_once(app, tmp_path):
    client = app.test_client()
    signed = client.post(f"{API}/auth/signup", json={
        "email": "race@example.jp", "password": "race-password-1", "display_name": "競争",
        "home_municipality_code": "131016", "birth_year": 1990}).get_json()
    path = tmp_path / "roster.csv"
    path.write_text("email,display_name,home_municipality_code,ties,birth_year\n"
                    "race@example.jp,競争,131016,volunteer,1990\n", encoding="utf-8")
    assert app.test_cli_runner().invoke(args=["import-roster", str(path), "--organization", HIDA]).exit_code == 0
    headers = {"Authorization": f"Bearer {signed['token']}"}
    invitation = client.get(f"{API}/me/invitations", headers=headers).get_json()[0]
    responses = in_parallel(app, 6, lambda c, i: c.post(f"{API}/me/invitations/{invitation['id']}/accept",
                                                      headers=headers))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    assert {r.get_json()["code"] for r in responses if r.status_code == 409} == {"invalid_state"}
    with app.app_context():
        assert _count(Registration) == 1
        assert recount.verify() == []


def test_with_the_foreign_key_triggers_kept_the_import_is_the_same(app, tmp_path):
    """The roles that may not turn the per-row triggers off take the same path with them on."""
    path = tmp_path / "roster.csv"
    path.write_text("email,display_name,home_municipality_code,ties,birth_year\n"
                    "a@example.jp,エー,131016,family,1990\nb@example.jp,ビー,011011,,\n", encoding="utf-8")
    links = []
    with app.app_context():
        report = roster.import_roster(str(path), db.session.get(Organization, HIDA), site_url="https://example.jp",
                                      links=lambda email, link: links.append(email), skip_fk_triggers=False)
        db.session.commit()
        assert (report.new_accounts, report.bad) == (2, [])
        assert links == ["a@example.jp", "b@example.jp"]
        assert _count(Invitation) == 2 and _count(SetPasswordToken) == 2
        assert db.session.scalar(text("SHOW session_replication_role")) == "origin"
