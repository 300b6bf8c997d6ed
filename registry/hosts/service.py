"""Hosts (ヌシ): staff of a 団体 invite, list, trust and deactivate them. Functions flush; the
request commits. The set-password links are the accounts domain's (accounts/links.py); a host's
needs and check-in are the needs domain's."""
import uuid
from datetime import datetime

from sqlalchemy import select

from registry.accounts import links, service as accounts
from registry.accounts.models import HOST_INVITATION, User, new_session_nonce
from registry.audit import models as audit
from registry.audit.service import record_read
from registry.common.auth import HOST, STAFF
from registry.common.pagination import Page, page_of
from registry.i18n import N_
from registry.common.time import utcnow
from registry.errors import Problem, not_found, validation_error
from registry.extensions import db
from registry.hosts.models import Host
from registry.notifications.models import INVITATION_MAIL
from registry.notifications.service import queue_account_mail
from registry.notifications.verification import mail_configured
from registry.organizations import service as organizations


def _staff_of(actor: User, organization_code: str) -> None:
    """Staff of that 団体; anyone else is told it does not exist for them (404)."""
    if actor.role != STAFF or actor.organization_code != organization_code:
        raise not_found()


def _not_blank(**values: str) -> None:
    errors = {name: [N_("Must not be blank.")] for name, value in values.items() if not value.strip()}
    if errors:
        raise validation_error(errors)


def profile_of(user: User | None) -> Host | None:
    """The host profile of an account (None for every other role)."""
    if user is None or user.role != HOST:
        return None
    return db.session.get(Host, user.id)


def invite(staff: User, organization_code: str, *, email: str, display_name: str, host_name: str,
           trusted: bool = False, settings, now: datetime | None = None):
    """POST /organizations/{code}/hosts: a host account without a password and its one-time link,
    also e-mailed when the service sends e-mail. Returns (host, raw token, link, token row)."""
    now = now or utcnow()
    org = organizations.get(organization_code)
    _staff_of(staff, org.code)
    _not_blank(display_name=display_name, host_name=host_name)
    if accounts.find_by_email(email) is not None:
        raise Problem(409, "email_taken")
    user = User(email=email.strip(), email_key=accounts.normalize_email(email), role=HOST,
                organization_code=org.code, display_name=display_name.strip(), password_hash=None,
                skills=[], interests=[], created_at=now)
    db.session.add(user)
    db.session.flush()
    host = Host(user_id=user.id, organization_code=org.code, host_name=host_name.strip(), trusted=bool(trusted),
                invited_by=staff.id, created_at=now)
    db.session.add(host)
    db.session.flush()
    raw, row = links.issue(user, HOST_INVITATION, created_by=staff, now=now)
    if mail_configured(settings):  # the link is also e-mailed (the message mints its own copy when it is sent)
        queue_account_mail(user, INVITATION_MAIL, now=now)
    return host, raw, links.link(raw, settings["SITE_URL"]), row


def reinvite(staff: User, host_id: uuid.UUID, *, site_url: str, now: datetime | None = None):
    """A fresh link for a host (the earlier unused one stops working); returns (host, raw, link, row)."""
    host = managed_host(staff, host_id)
    if not host.active:
        raise Problem(409, "invalid_state", N_("This host has been deactivated."))
    if host.password_set:  # staff never hold a usable link to an account that has a password
        raise Problem(409, "invalid_state", N_("This host has already set a password."))
    raw, row = links.issue(host.user, HOST_INVITATION, created_by=staff, now=now)
    return host, raw, links.link(raw, site_url), row


def hosts_of(staff: User, organization_code: str, *, page: int, per_page: int) -> Page:
    """A page of the 団体's hosts (deactivated ones too), oldest first: the read is audited."""
    org = organizations.get(organization_code)
    _staff_of(staff, org.code)
    found = page_of(select(Host).where(Host.organization_code == org.code).order_by(Host.created_at, Host.user_id),
                    page, per_page)
    _shown(staff, found.items)
    return found


def _shown(actor: User, hosts: list[Host]) -> list[Host]:
    """Hosts shown to staff (their contact person's name and e-mail): the read is audited; a host
    reading its own profile is not. (An invitation's answer only repeats what staff just typed.)"""
    if actor.role == STAFF:
        record_read(actor, audit.HOSTS, [h.user_id for h in hosts])
    return hosts


def get_host(actor: User, host_id: uuid.UUID) -> Host:
    """Staff of the host's 団体 (an audited read), or the host itself."""
    host = db.session.get(Host, host_id)
    if host is None:
        raise not_found()
    if actor.id == host.user_id:
        return host
    _staff_of(actor, host.organization_code)
    return _shown(actor, [host])[0]


def managed_host(staff: User, host_id: uuid.UUID) -> Host:
    host = db.session.get(Host, host_id)
    if host is None:
        raise not_found()
    _staff_of(staff, host.organization_code)
    return host


def update_host(staff: User, host_id: uuid.UUID, changes: dict, *, shown: bool = False) -> Host:
    """PATCH /hosts/{id}: `trusted`, `host_name`, `display_name`. A trusted host's new needs open at
    once (needs already posted keep their status). `shown`: the host is handed to the reader (the
    API answers with it), so the read is audited."""
    host = managed_host(staff, host_id)
    if not host.active:
        raise Problem(409, "invalid_state", N_("This host has been deactivated."))
    _not_blank(**{k: v for k, v in changes.items() if k in ("host_name", "display_name")})
    if "trusted" in changes:
        host.trusted = bool(changes["trusted"])
    if "host_name" in changes:
        host.host_name = changes["host_name"].strip()
    if "display_name" in changes:
        host.user.display_name = changes["display_name"].strip()
    db.session.flush()
    return _shown(staff, [host])[0] if shown else host


def deactivate(staff: User, host_id: uuid.UUID, *, now: datetime | None = None) -> None:
    """DELETE /hosts/{id}: the account stops at once: bearer tokens refused (401), sessions ended,
    unused links spent, no sign-in. Its needs stay with the 団体's staff, who manage them anyway;
    `host_id` stays on them as the record of who posted them. Deactivating again changes nothing."""
    now = now or utcnow()
    host = managed_host(staff, host_id)
    user = host.user
    if user.deactivated_at is not None:
        return
    user.deactivated_at = now
    user.session_nonce = new_session_nonce()
    accounts.revoke_all_tokens(user, now)
    links.void_unused(user, now=now)
    db.session.flush()
