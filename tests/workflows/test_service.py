"""The cross-domain workflows without HTTP: each calls the domains in order inside the caller's
transaction, a refusal before the first step changes nothing, and the figures stay equal to a recount."""
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select

from registry.accounts import links
from registry.accounts.models import ROSTER_INVITATION, User
from registry.benefits import service as benefits
from registry.extensions import db
from registry.figures.models import RegistrationEvent
from registry.figures.recount import verify
from registry.invitations.models import Invitation
from registry.notifications import service as notifications
from registry.notifications.models import PASSWORD_RESET_MAIL, VERIFY_EMAIL_MAIL, Notification, OutboxMessage
from registry.registrations import service as registrations
from registry.registrations.models import MOVED_IN, WITHDRAWN, Registration
from registry.workflows import accounts as workflows, erasure, notices, organizations
from tests.factories import (
    CHIYODA, GIFU, HIDA, SAPPORO, SAPPORO_CHUO, TAKAYAMA, account, counters, person, refused, verify_identity,
)

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)
MAIL = {"SMTP_URL": "smtp://127.0.0.1:2525"}


def _outbox(user, kind) -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.user_id == user.id, OutboxMessage.kind == kind))


def _fields(**more) -> dict:
    return {"email": "new@example.jp", "password": "password-123", "display_name": "新規", "birth_year": 1990,
            "home_municipality_code": SAPPORO_CHUO, **more}


def test_sign_up_queues_the_address_check_only_when_mail_is_on():
    with_mail = workflows.sign_up(_fields(), settings=MAIL, now=NOW)
    assert (with_mail.role, with_mail.home_municipality_code) == ("resident", SAPPORO)  # a ward: its city
    assert _outbox(with_mail, VERIFY_EMAIL_MAIL) == 1
    without = workflows.sign_up(_fields(email="quiet@example.jp"), settings={"SMTP_URL": None}, now=NOW)
    assert _outbox(without, VERIFY_EMAIL_MAIL) == 0
    assert refused(workflows.sign_up, _fields(email="NEW@example.jp"), settings=MAIL) == (409, "email_taken")


def test_a_new_home_ends_the_registration_there_and_restates_the_rest():
    user = person(home=CHIYODA, birth_year=1990)
    hida = registrations.register(user, HIDA, ["family"], now=NOW)
    takayama = registrations.register(user, TAKAYAMA, ["family"], now=NOW)
    workflows.update_profile(user, {"home_municipality_code": HIDA, "birth_year": 1980, "skills": ["農作業"]},
                             now=NOW)
    assert (hida.status, takayama.status) == (MOVED_IN, "active")
    assert (user.home_municipality_code, user.birth_year, user.skills) == (HIDA, 1980, ["農作業"])
    figures = counters()
    assert figures[("birth_year", "1980")] == {"people": 1, "registrations": 1}
    assert figures[("flow", f"{GIFU}>{GIFU}")] == {"people": 1}
    assert verify() == []


def test_a_refused_profile_change_moves_nothing():
    user = person(home=CHIYODA, birth_year=1990)
    reg = registrations.register(user, HIDA, ["family"], now=NOW)
    before = counters()
    assert refused(workflows.update_profile, user, {"home_municipality_code": HIDA, "birth_year": 2016}, now=NOW) \
        == (422, "guardian_consent_required")  # 10 years old
    assert refused(workflows.update_profile, user, {"home_municipality_code": "999999"}) == \
        (422, "unknown_organization")
    assert reg.status == "active" and user.home_municipality_code == CHIYODA and counters() == before


def test_the_same_home_again_changes_no_registration():
    user = person(home=CHIYODA)
    reg = registrations.register(user, HIDA, ["family"], now=NOW)
    workflows.update_profile(user, {"home_municipality_code": CHIYODA}, now=NOW)
    assert reg.status == "active"
    assert db.session.scalars(select(RegistrationEvent.kind)).all() == ["registered"]


def _roster_person(code):
    """A person a roster brought in: no password yet, an invitation to `code` and its link."""
    user = person(home=CHIYODA, birth_year=None)
    user.password_hash = None
    invitation = Invitation(user_id=user.id, organization_code=code, ties=["family"], status="pending",
                            created_at=NOW)
    db.session.add(invitation)
    db.session.flush()
    raw, _row = links.issue(user, ROSTER_INVITATION, subject_id=invitation.id, now=NOW)
    return user, invitation, raw


def test_a_roster_link_sets_the_password_and_accepts_the_invitation():
    user, invitation, raw = _roster_person(HIDA)
    same, answered = workflows.set_password(raw, password="password-456", birth_year=1985, now=NOW)
    assert same is user and answered is invitation and invitation.status == "accepted"
    assert user.password_hash is not None and user.birth_year == 1985
    assert db.session.get(Registration, invitation.registration_id).organization_code == HIDA
    assert verify() == []
    assert refused(workflows.set_password, raw, password="password-789", birth_year=1985) == (422, "invalid_token")


def test_a_roster_link_whose_invitation_is_refused_still_sets_the_password():
    user, invitation, raw = _roster_person(CHIYODA)  # they live there
    _, answered = workflows.set_password(raw, password="password-456", birth_year=1985, now=NOW)
    assert answered.status == "pending" and user.password_hash is not None
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 0


def test_a_password_reset_is_queued_for_an_active_account_only():
    active, deactivated = person(), person(deactivated_at=NOW)
    for user in (active, deactivated):
        workflows.request_password_reset(user.email.upper(), now=NOW)
    workflows.request_password_reset("nobody@example.jp", now=NOW)
    assert (_outbox(active, PASSWORD_RESET_MAIL), _outbox(deactivated, PASSWORD_RESET_MAIL)) == (1, 0)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_erasure_is_for_residents_and_leaves_consistent_figures_and_nothing_personal():
    for other in (account("staff", HIDA), account("admin")):
        assert refused(erasure.erase, other) == (403, "forbidden")
    user = person(display_name="消える人")
    registrations.register(user, HIDA, ["family"], now=NOW)
    registrations.register(user, GIFU, ["family"], now=NOW)
    notifications.notify(user, "evidence_decided", "t", "b", now=NOW)
    _, invitation, _raw = _roster_person(TAKAYAMA)
    erasure.erase(user, now=NOW + timedelta(days=1))
    assert {r.status for r in db.session.scalars(registrations.registrations_of(user))} == {WITHDRAWN}
    assert (user.erased_at, user.email, user.display_name, user.home_municipality_code) == \
        (NOW + timedelta(days=1), None, None, None)
    assert db.session.scalars(select(Notification).where(Notification.user_id == user.id)).all() == []
    assert db.session.get(Invitation, invitation.id) is not None  # someone else's
    assert "erased" in db.session.scalars(select(RegistrationEvent.kind).where(
        RegistrationEvent.user_id == user.id)).all()
    assert counters().get(("total", "")) is None and verify() == []
    assert db.session.get(User, user.id) is user  # the row stays, naming nobody


def test_due_reminders_are_created_once():
    user = person()
    reg = registrations.register(user, HIDA, ["family"], now=NOW)
    verify_identity(user)
    reg.tier, reg.premium_valid_until = "premium", date(2026, 7, 31)  # ends within 30 days of NOW
    assert notices.create_due_reminders(now=NOW) == {"premium_expiring": 1, "need_reminder": 0}
    assert notices.create_due_reminders(now=NOW) == {"premium_expiring": 0, "need_reminder": 0}


def test_an_organization_with_its_current_benefits():
    benefits.create(account("staff", HIDA), HIDA, {"title": "温泉", "tier": "basic", "kind": "facility"})
    detail = organizations.organization_detail(HIDA)
    assert {k: detail[k] for k in ("code", "name", "kind", "prefecture_code")} == \
        {"code": HIDA, "name": "飛騨市", "kind": "municipality", "prefecture_code": GIFU}
    assert [b.title for b in detail["benefits"]] == ["温泉"]
    assert organizations.organization_detail(GIFU)["benefits"] == []
    assert refused(organizations.organization_detail, "999999") == (404, "unknown_organization")
