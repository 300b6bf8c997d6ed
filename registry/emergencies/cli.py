import click
from flask.cli import with_appcontext

from registry.emergencies import consoles
from registry.extensions import db


@click.command("emergency-status")
@with_appcontext
def emergency_status_command():
    """The delivery of every active emergency: recipients notified in the app (a progress bar), e-mails
    sent and failed, offers of help."""
    active = consoles.progress_of_active()
    db.session.commit()
    if not active:
        click.echo("no active emergency")
    for item in active:
        for line in consoles.progress_lines(item):
            click.echo(line)
