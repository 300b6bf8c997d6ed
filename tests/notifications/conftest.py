"""Shortcuts for the notification tests."""
import uuid

import pytest
from sqlalchemy import delete

from registry.accounts.models import User
from registry.common.time import utcnow
from registry.extensions import db
from registry.notifications import mail, sender
from registry.notifications.models import VERIFY_EMAIL_MAIL, OutboxMessage
from tests.notifications.smtp import smtp, smtp_server  # noqa: F401  (fixtures)


def user_of(user_json) -> User:
    return db.session.get(User, uuid.UUID(user_json["id"]))


@pytest.fixture
def resident(signup):
    """resident(verified=True, **signup fields) → (User, token)."""

    def make(verified=True, **fields):
        user_json, token = signup(**fields)
        user = user_of(user_json)
        if verified:  # as if the e-mailed link had been used (a queued address check is dropped)
            user.email_verified_at = utcnow()
            db.session.execute(delete(OutboxMessage).where(OutboxMessage.user_id == user.id,
                                                           OutboxMessage.kind == VERIFY_EMAIL_MAIL))
            db.session.commit()
        return user, token

    return make


def send(app, **kwargs) -> sender.Report:
    """One run of the sender against the configured SMTP server."""
    mailer = mail.SmtpMailer(mail.settings_from(app.config))
    try:
        return sender.send_due(mailer, config=app.config, **kwargs)
    finally:
        mailer.close()
