"""The invitations service without HTTP: accepting registers through the registration rules (and
their refusals), a refused acceptance through a link leaves nothing behind, and `describe` says which
rule would refuse a pending invitation now."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from registry.extensions import db
from registry.figures.recount import verify
from registry.invitations import service
from registry.invitations.models import Invitation
from registry.registrations import service as registrations
from registry.registrations.models import Registration
from tests.factories import CHIYODA, GIFU, HIDA, TAKAYAMA, counters, person, refused

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)


def _invitation(user, code=HIDA, ties=("family", "volunteer"), *, created_at=NOW) -> Invitation:
    invitation = Invitation(user_id=user.id, organization_code=code, ties=list(ties), status="pending",
                            created_at=created_at)
    db.session.add(invitation)
    db.session.flush()
    return invitation


def _registrations() -> int:
    return db.session.scalar(select(func.count()).select_from(Registration))


def test_accepting_registers_with_the_invitations_ties_once():
    user = person(home=CHIYODA)
    invitation = _invitation(user)
    reg = service.accept(user, invitation.id, now=NOW)
    assert (reg.organization_code, reg.ties, reg.registered_at) == (HIDA, ["family", "volunteer"], NOW)
    assert (invitation.status, invitation.accepted_at, invitation.registration_id) == ("accepted", NOW, reg.id)
    assert counters()[("total", "")] == {"people": 1, "registrations": 1}
    assert verify() == []
    assert refused(service.accept, user, invitation.id, now=NOW) == (409, "invalid_state")
    assert _registrations() == 1


def test_someone_elses_invitation_does_not_exist_for_them():
    invitation = _invitation(person())
    assert refused(service.accept, person(), invitation.id) == (404, "not_found")
    assert invitation.status == "pending"


def test_the_registration_rules_refuse_and_the_invitation_stays_pending():
    local = person(home=TAKAYAMA)
    at_home = _invitation(local, TAKAYAMA)
    assert refused(service.accept, local, at_home.id, now=NOW) == (422, "home_municipality")
    registered = person()
    registrations.register(registered, HIDA, ["family"], now=NOW)
    again = _invitation(registered, HIDA)
    assert refused(service.accept, registered, again.id, now=NOW) == (409, "already_registered")
    assert (at_home.status, again.status) == ("pending", "pending")


def test_a_link_that_meets_a_refusal_leaves_nothing_and_the_session_usable():
    local = person(home=HIDA)
    at_home, elsewhere = _invitation(local, HIDA), _invitation(local, GIFU)
    assert service.accept_from_link(local, at_home.id, now=NOW) is None
    assert _registrations() == 0 and counters() == {}
    assert service.accept_from_link(local, elsewhere.id, now=NOW) is None  # 岐阜県 is their home prefecture
    other = person(home=CHIYODA)
    accepted = service.accept_from_link(other, _invitation(other, GIFU).id, now=NOW)
    assert accepted.organization_code == GIFU and _registrations() == 1
    assert at_home.status == "pending" and verify() == []


def test_describe_says_what_would_refuse_a_pending_invitation_now():
    user = person(home=CHIYODA)
    newest_first = [_invitation(user, code, created_at=NOW + timedelta(minutes=i))
                    for i, code in enumerate((CHIYODA, HIDA, TAKAYAMA))]
    registrations.register(user, HIDA, ["family"], now=NOW)
    accepted = service.accept(user, newest_first[2].id, now=NOW)
    listed = db.session.scalars(service.invitations_of(user)).all()
    assert [i.organization_code for i in listed] == [TAKAYAMA, HIDA, CHIYODA]
    described = service.describe(user, listed)
    assert [(d["organization_name"], d["status"], d["refusal"]) for d in described] == [
        ("高山市", "accepted", None), ("飛騨市", "pending", "already_registered"),
        ("千代田区", "pending", "home_municipality")]
    assert described[0]["registration_id"] == accepted.id
    assert [i.organization_code for i in db.session.scalars(service.invitations_of(user, "pending"))] == \
        [HIDA, CHIYODA]


def test_erasure_deletes_the_persons_invitations_only():
    user, other = person(), person()
    _invitation(user)
    kept = _invitation(other)
    service.erase_for(user)
    assert db.session.scalars(select(Invitation.id)).all() == [kept.id]
