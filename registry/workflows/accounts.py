"""Account use cases that reach past the accounts domain: sign-up with the address check, a
profile change that moves the person's registrations, one-time links (a roster invitation's link
also accepts it) and password resets."""
from collections.abc import Mapping
from datetime import datetime

from registry.accounts import links, service as accounts
from registry.accounts.models import ROSTER_INVITATION, User
from registry.common.time import utcnow
from registry.invitations import service as invitations
from registry.invitations.models import Invitation
from registry.notifications import verification
from registry.notifications.models import PASSWORD_RESET_MAIL
from registry.notifications.service import queue_account_mail
from registry.organizations import service as organizations
from registry.registrations import service as registrations


def sign_up(fields: Mapping, *, settings: Mapping, now: datetime | None = None) -> User:
    """A resident account (POST /auth/signup, the sign-up page); the address check is queued when the
    service sends e-mail."""
    user = accounts.create_resident(now=now, **fields)
    verification.request_verification(user, settings=settings, now=now)
    return user


def update_profile(user: User, changes: dict, *, now: datetime | None = None) -> User:
    """PATCH /me and the profile form. A new home ends an active registration there as `moved_in`
    and restates the rest under the new home; a new birth year restates the person's figures."""
    now = now or utcnow()
    home, birth_year = accounts.check_profile_update(user, changes, now=now)
    if home is not None and home.code != user.home_municipality_code:
        registrations.move_home(user, home, now=now)
    if birth_year != user.birth_year:
        registrations.restate_person(user, lambda: setattr(user, "birth_year", birth_year), now=now)
    return accounts.apply_profile_update(user, changes, now=now)


def set_password(raw: str, *, password: str, birth_year: int | None = None, guardian_consent: bool = False,
                 now: datetime | None = None) -> tuple[User, Invitation | None]:
    """POST /auth/set-password and its page: (the account, the roster invitation the link named).
    A roster invitation's link (purpose `roster_invitation` with a `subject_id`) also accepts that
    invitation in the same transaction; a registration rule that refuses it (they live there now,
    or are already registered) leaves the invitation pending and the password set."""
    now = now or utcnow()
    user, row = links.set_password(raw, password=password, birth_year=birth_year,
                                   guardian_consent=guardian_consent, now=now)
    invitation = None
    if row.purpose == ROSTER_INVITATION and row.subject_id is not None:
        invitations.accept_from_link(user, row.subject_id, now=now)
        invitation = invitations.find(row.subject_id)
    return user, invitation


def set_password_page(raw: str) -> dict:
    """The set-password page: the link's row and account while it would work (`pending`, else
    None), what the form must also ask (`asks_birth_year`, `asks_guardian_consent`) and the 団体
    whose roster invitation the link carries (`inviting`)."""
    pending = links.peek(raw) if raw else None
    asks_birth_year, asks_guardian_consent = links.asks_for(pending[1]) if pending else (False, False)
    inviting = None
    if pending and pending[0].subject_id:
        invitation = invitations.find(pending[0].subject_id)
        inviting = organizations.find(invitation.organization_code) if invitation is not None else None
    return {"pending": pending, "asks_birth_year": asks_birth_year, "asks_guardian_consent": asks_guardian_consent,
            "inviting": inviting}


def request_password_reset(email: str, *, now: datetime | None = None) -> None:
    """POST /auth/password-reset: queues the link for an active account; says nothing either way."""
    user = accounts.find_by_email(email)
    if user is None or not user.is_active:
        return
    queue_account_mail(user, PASSWORD_RESET_MAIL, now=now)
