"""DELETE /me: a person's account and personal data erased, in the order the steps depend on.

Afterwards the person's id remains only as a pseudonymous reference where history needs it
(registrations and their ledger, applications, activities, evidence, premium requests, identity
checks, the audit log of staff reads and partners' calls), and no row holds anything they wrote or were identified by
(tests/test_erasure.py scans every table for it)."""
from datetime import datetime

from registry.accounts import links, service as accounts
from registry.accounts.models import User
from registry.announcements import service as announcements
from registry.common.auth import RESIDENT
from registry.common.time import utcnow
from registry.emergencies import service as emergencies
from registry.errors import Problem
from registry.evidence import service as evidence
from registry.figures import funnel
from registry.invitations import service as invitations
from registry.needs import service as needs
from registry.notifications import service as notifications
from registry.partners import service as partners
from registry.registrations import service as registrations


def erase(user: User, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    if user.role != RESIDENT:
        raise Problem(403, "forbidden")
    registrations.withdraw_all_for_erasure(user, now=now)  # figures stay consistent
    needs.cancel_applications_for_erasure(user, now=now)  # waitlists promoted, messages emptied
    partners.erase_for(user)  # consents to partners, with their tokens and codes
    evidence.erase_for(user, now=now)  # uploaded files deleted, texts emptied (partners' ids too)
    notifications.erase_for(user, now=now)  # inbox and e-mails deleted (after the steps above notify)
    announcements.erase_for(user)
    emergencies.erase_for(user)  # offers of help
    links.erase_for(user)  # set-password links
    invitations.erase_for(user)  # a 団体 roster's invitations
    funnel.erase_for(user)  # the funnel's marks (its counts stay), after every step that could add one
    accounts.erase_personal_data(user, now=now)  # last: the steps above still read the account
