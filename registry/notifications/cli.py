import click
from flask import current_app
from flask.cli import with_appcontext

from registry.extensions import db
from registry.notifications import mail, sender
from registry.workflows.notices import create_due_reminders, emergency_progress, fan_out_broadcasts


@click.command("send-notifications")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="at most this many e-mails in this run")
@with_appcontext
def send_notifications_command(limit):
    """Create due reminders, fan out announcements and emergencies, then send due e-mails over SMTP_URL,
    each once (run it from cron); ends with the delivery of every active emergency."""
    created = create_due_reminders()
    db.session.commit()
    click.echo("reminders: " + ", ".join(f"{kind} {n}" for kind, n in created.items()))
    fanned = fan_out_broadcasts()
    click.echo("broadcasts: " + (", ".join(f"{kind} {n}" for kind, n in fanned.items()) or "none due"))
    settings = mail.settings_from(current_app.config)
    if settings is None:
        click.echo(f"SMTP_URL is not set: no e-mail sent ({sender.waiting()} waiting)")
        _emergencies()
        return
    mailer = mail.SmtpMailer(settings)
    try:
        report = sender.send_due(mailer, config=current_app.config, limit=limit)
    finally:
        mailer.close()
    click.echo(f"e-mails: sent {report.sent}, to retry {report.retrying}, cancelled {report.cancelled}, "
               f"gave up {report.failed}")
    _emergencies()
    for outbox_id, attempts, error in report.given_up:
        click.echo(f"gave up: e-mail {outbox_id} after {attempts} attempt(s): {error}", err=True)
    if report.stopped:
        click.echo(f"stopped early: {report.stopped}", err=True)
    if report.given_up or report.stopped:
        raise SystemExit(1)


def _emergencies() -> None:
    for line in emergency_progress():
        click.echo(line)
    db.session.commit()  # a job: it ends its read transaction
