"""A resident's invitations from 団体 rosters: listing and accepting them. Functions flush; the
request (or the command) commits. The roster import itself is in roster.py.

Accepting registers through `registrations.register`, so the figures change exactly as for any
registration, and the same rules refuse it: 422 `home_municipality` (they live there), 409
`already_registered` (an active registration there). An invitation stays `pending` until accepted,
and `refusal` says which rule would refuse it now (moving home or withdrawing can lift it).
Accepting an accepted invitation is 409 `invalid_state`.
"""
import uuid
from datetime import datetime

from sqlalchemy import delete, select

from registry.accounts.models import User
from registry.i18n import N_
from registry.common.time import utcnow
from registry.errors import Problem, not_found
from registry.extensions import db
from registry.invitations.models import ACCEPTED, PENDING, Invitation
from registry.organizations import service as organizations
from registry.registrations import service as registrations
from registry.registrations.models import Registration


def invitations_of(user: User, status: str | None = None):
    """The person's invitations, newest first."""
    stmt = select(Invitation).where(Invitation.user_id == user.id) \
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    if status:
        stmt = stmt.where(Invitation.status == status)
    return stmt


def describe(user: User, invitations: list[Invitation]) -> list[dict]:
    """What the resident sees of each: the 団体's code and name, ties, status and, while pending, the
    refusal accepting it would meet now (`home_municipality`, `already_registered`) or None."""
    registered = {reg.organization_code for reg in registrations.active_registrations(user)}
    out = []
    for invitation in invitations:
        org = organizations.find(invitation.organization_code)
        refusal = None
        if invitation.status == PENDING:
            if registrations.lives_in(user, org):
                refusal = "home_municipality"
            elif org.code in registered:
                refusal = "already_registered"
        out.append({"id": invitation.id, "organization_code": org.code, "organization_name": org.name,
                    "ties": invitation.ties, "status": invitation.status, "refusal": refusal,
                    "created_at": invitation.created_at, "accepted_at": invitation.accepted_at,
                    "registration_id": invitation.registration_id})
    return out


def pending(user: User, limit: int) -> list[dict]:
    """The person's newest pending invitations, as `describe` tells them."""
    return describe(user, list(db.session.scalars(invitations_of(user, PENDING).limit(limit))))


def get_owned(user: User, invitation_id: uuid.UUID, *, lock: bool = False) -> Invitation:
    """The person's own invitation; anyone else's is 404 like a missing one."""
    stmt = select(Invitation).where(Invitation.id == invitation_id, Invitation.user_id == user.id)
    if lock:
        stmt = stmt.with_for_update()
    invitation = db.session.scalar(stmt)
    if invitation is None:
        raise not_found()
    return invitation


def accept(user: User, invitation_id: uuid.UUID, *, now: datetime | None = None) -> Registration:
    """Registers with the inviting 団体 under the invitation's ties. The row lock makes a second,
    concurrent acceptance wait and then find it accepted (409 `invalid_state`)."""
    now = now or utcnow()
    invitation = get_owned(user, invitation_id, lock=True)
    if invitation.status != PENDING:
        raise Problem(409, "invalid_state", N_("This invitation has already been accepted."))
    reg = registrations.register(user, invitation.organization_code, invitation.ties, now=now)
    invitation.status, invitation.accepted_at, invitation.registration_id = ACCEPTED, now, reg.id
    db.session.flush()
    return reg


def accept_from_link(user: User, invitation_id: uuid.UUID, *, now: datetime | None = None) -> Registration | None:
    """The set-password link of a roster invitation accepts it too. A refusal by the registration
    rules does not stop the password from being set: the invitation stays pending in the inbox,
    where `refusal` says why, and nothing of the attempt is kept."""
    try:
        with db.session.begin_nested():
            return accept(user, invitation_id, now=now)
    except Problem:
        return None


def find(invitation_id: uuid.UUID) -> Invitation | None:
    return db.session.get(Invitation, invitation_id)


def erase_for(user: User) -> None:
    """DELETE /me: a 団体's list said this person has ties to it; that goes with the account."""
    db.session.execute(delete(Invitation).where(Invitation.user_id == user.id))
