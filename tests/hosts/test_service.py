"""The hosts service without HTTP: only a 団体's own staff invite and manage its hosts (anyone else is
told they do not exist), the settings decide whether the link is also e-mailed, a deactivated host
stops at once and for good, and the functions flush without committing."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from registry.accounts import links, service as accounts
from registry.accounts.models import ApiToken, User
from registry.audit.models import AuditEntry
from registry.extensions import db
from registry.hosts import service
from registry.hosts.models import Host
from registry.notifications.models import INVITATION_MAIL, OutboxMessage
from tests.factories import GIFU, HIDA, TAKAYAMA, account, flushed_not_committed, person, refused

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)
SITE = "https://furusato.example.jp/"
NO_MAIL = {"SITE_URL": SITE, "SMTP_URL": None}
MAIL = {"SITE_URL": SITE, "SMTP_URL": "smtp://127.0.0.1:2525"}


def _invite(staff, code=HIDA, *, settings=NO_MAIL, **fields):
    body = {"email": f"host-{len(db.session.scalars(select(Host)).all())}@example.jp", "display_name": " 宿の主 ",
            "host_name": " 古川の宿 ", **fields}
    return service.invite(staff, code, settings=settings, now=NOW, **body)


def test_invite_makes_a_host_without_a_password_and_one_link():
    staff = account("staff", HIDA)
    host, raw, link, row = _invite(staff, trusted=True)
    assert (host.organization_code, host.host_name, host.trusted, host.invited_by, host.created_at) == \
        (HIDA, "古川の宿", True, staff.id, NOW)
    assert (host.user.role, host.user.display_name, host.user.password_hash) == ("host", "宿の主", None)
    assert link == f"https://furusato.example.jp/set-password?token={raw}"
    assert (row.purpose, row.user_id, row.created_by) == ("host_invitation", host.user_id, staff.id)
    assert links.peek(raw, now=NOW)[1] is host.user
    assert db.session.scalars(select(OutboxMessage)).all() == []  # no SMTP_URL: nothing e-mailed
    assert flushed_not_committed(Host, host.user_id)


def test_with_mail_configured_the_invitation_is_queued_once():
    host, *_ = _invite(account("staff", HIDA), settings=MAIL)
    [message] = db.session.scalars(select(OutboxMessage)).all()
    assert (message.user_id, message.kind, message.status) == (host.user_id, INVITATION_MAIL, "pending")


def test_only_the_organizations_own_staff_invite():
    for outsider in (account("staff", TAKAYAMA), account("staff", GIFU), account("admin"), account("host", HIDA),
                     person()):
        assert refused(_invite, outsider) == (404, "not_found"), outsider.role
    assert refused(_invite, account("staff", HIDA), "999999") == (404, "unknown_organization")
    assert db.session.scalars(select(Host)).all() == []


@pytest.mark.parametrize("fields, code", [
    ({"host_name": "  "}, "validation_error"), ({"display_name": ""}, "validation_error"),
    ({"email": "Taken@Example.jp"}, "email_taken"),
])
def test_invite_refusals(fields, code):
    accounts.create_user(email="taken@example.jp", password="password-123", role="national")
    status = 409 if code == "email_taken" else 422
    assert refused(_invite, account("staff", HIDA), **fields) == (status, code)


def test_reinvite_hands_out_a_fresh_link_and_spends_the_old_one():
    staff = account("staff", HIDA)
    host, first, *_ = _invite(staff)
    _, second, link, _ = service.reinvite(staff, host.user_id, site_url=SITE, now=NOW)
    assert link.endswith(second) and links.peek(first, now=NOW) is None and links.peek(second, now=NOW)
    assert refused(service.reinvite, account("staff", TAKAYAMA), host.user_id, site_url=SITE) == (404, "not_found")


def test_update_changes_only_what_is_given():
    staff = account("staff", HIDA)
    host, *_ = _invite(staff)
    service.update_host(staff, host.user_id, {"trusted": True})
    assert (host.trusted, host.host_name) == (True, "古川の宿")
    service.update_host(staff, host.user_id, {"host_name": " 新しい宿 ", "display_name": " 新しい主 "})
    assert (host.trusted, host.host_name, host.user.display_name) == (True, "新しい宿", "新しい主")
    assert refused(service.update_host, staff, host.user_id, {"host_name": " "}) == (422, "validation_error")
    assert refused(service.update_host, account("staff", TAKAYAMA), host.user_id, {"trusted": False}) == \
        (404, "not_found")
    assert host.trusted is True


def test_deactivation_stops_tokens_and_links_and_is_final():
    staff = account("staff", HIDA)
    host, raw, *_ = _invite(staff)
    token = accounts.issue_token(host.user, ttl_days=30, now=NOW)
    later = NOW + timedelta(hours=1)
    service.deactivate(staff, host.user_id, now=later)
    assert host.user.deactivated_at == later and not host.active
    assert accounts.user_for_token(token, now=later) is None
    assert db.session.scalar(select(ApiToken.revoked_at).where(ApiToken.token_hash == accounts.hash_token(token))) \
        == later  # revoked, not only refused while the account is inactive
    assert links.peek(raw, now=later) is None
    service.deactivate(staff, host.user_id, now=later + timedelta(days=1))  # again: nothing changes
    assert host.user.deactivated_at == later
    for change in (lambda: service.update_host(staff, host.user_id, {"trusted": True}),
                   lambda: service.reinvite(staff, host.user_id, site_url=SITE)):
        assert refused(change) == (409, "invalid_state")
    assert refused(service.deactivate, account("staff", TAKAYAMA), host.user_id) == (404, "not_found")


def test_who_sees_a_host_and_the_list():
    staff = account("staff", HIDA)
    host, *_ = _invite(staff)
    _invite(account("staff", TAKAYAMA), TAKAYAMA)
    assert service.get_host(staff, host.user_id) is host
    assert service.get_host(host.user, host.user_id) is host  # the host itself
    assert refused(service.get_host, account("host", HIDA), host.user_id) == (404, "not_found")
    assert [h.user_id for h in service.hosts_of(staff, HIDA, page=1, per_page=50).items] == [host.user_id]
    assert refused(service.hosts_of, staff, TAKAYAMA, page=1, per_page=50) == (404, "not_found")
    assert service.profile_of(host.user) is host
    assert service.profile_of(staff) is None and service.profile_of(None) is None


def test_staff_reading_hosts_is_audited_a_host_reading_itself_is_not():
    staff = account("staff", HIDA)
    host, *_ = _invite(staff)
    service.get_host(host.user, host.user_id)
    db.session.flush()
    assert db.session.scalars(select(AuditEntry)).all() == []
    service.get_host(staff, host.user_id)
    db.session.flush()
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.actor_id, entry.subject_ids) == ("hosts", staff.id, [str(host.user_id)])
    assert db.session.get(User, host.user_id).role == "host"
