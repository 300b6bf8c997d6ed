"""Shortcuts for the notification tests: a real SMTP server (smtp.py) and one run of the sender. A
resident with a verified address is tests/conftest.py `verified_resident`."""
from registry.notifications import mail, sender
from tests.notifications.smtp import smtp, smtp_server  # noqa: F401  (fixtures)


def send(app, **kwargs) -> sender.Report:
    """One run of the sender against the configured SMTP server."""
    mailer = mail.SmtpMailer(mail.settings_from(app.config))
    try:
        return sender.send_due(mailer, config=app.config, **kwargs)
    finally:
        mailer.close()
