"""Shortcuts for the notification tests: a real SMTP server (smtp.py), one run of the sender, and
overlapping fan-outs of broadcasts. A resident with a verified address is tests/conftest.py
`verified_resident`."""
from sqlalchemy import func, select

from registry.extensions import db
from registry.notifications import broadcasts, mail, sender
from registry.notifications.models import Notification
from registry.workflows.notices import AUDIENCES
from tests.parallel import together
from tests.notifications.smtp import smtp, smtp_server  # noqa: F401  (fixtures)


def send(app, **kwargs) -> sender.Report:
    """One run of the sender against the configured SMTP server."""
    mailer = mail.SmtpMailer(mail.settings_from(app.config))
    try:
        return sender.send_due(mailer, config=app.config, **kwargs)
    finally:
        mailer.close()


def overlapping_fan_outs(app, kind: str, *, runs: int = 4, batch: int = 4) -> dict:
    """`runs` fan-outs of send-notifications let go at the same moment (cron runs that overlap), in
    batches of `batch`; then how many notifications of `kind` each person holds, {user id: count}."""
    def run(_i, start):
        with app.app_context():
            start()
            broadcasts.fan_out(AUDIENCES, batch=batch)

    together(runs, run, timeout=60)
    with app.app_context():
        return dict(db.session.execute(select(Notification.user_id, func.count()).where(
            Notification.kind == kind).group_by(Notification.user_id)).all())
