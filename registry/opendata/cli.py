import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from registry.common.time import utcnow
from registry.errors import Problem
from registry.extensions import db
from registry.opendata import service


@click.command("publish-open-data")
@click.option("--month", help="The finished month to publish, YYYY-MM (Asia/Tokyo).")
@click.option("--last-month", is_flag=True, help="The month that has just ended (Asia/Tokyo): what cron runs on the 1st.")
@with_appcontext
def publish_open_data_command(month, last_month):
    """Publish the open-data release of a finished month (immutable; run from 00:05 JST on the 1st)."""
    if (month is None) == (not last_month):
        raise click.UsageError("Give either --month YYYY-MM or --last-month.")
    if last_month:
        month = service.month_ended_last(utcnow())
    # The counters and the ledger read in one snapshot (a session bound to a connection already in a
    # transaction, as in the tests, reads in the caller's).
    if db.engine.dialect.name == "postgresql" and isinstance(db.session.get_bind(), Engine):
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        published = service.publish(month, min_cell=current_app.config["MIN_CELL"], now=utcnow(),
                                    publisher=current_app.config.get("OPEN_DATA_PUBLISHER", service.DEFAULT_PUBLISHER))
        db.session.commit()
    except Problem as problem:
        db.session.rollback()
        errors = "; ".join(f"{field}: {' '.join(map(str, messages))}" for field, messages in (problem.errors or {}).items())
        click.echo(f"publish-open-data: {problem.detail or errors or problem.code}", err=True)
        raise SystemExit(1)
    except IntegrityError:  # another run published the same month meanwhile
        db.session.rollback()
        click.echo(f"publish-open-data: {month} is already published; a release never changes.", err=True)
        raise SystemExit(1)
    for stored in published.files:
        click.echo(f"{stored.name}\t{stored.bytes}\t{stored.sha256}")
    click.echo(f"published {month} as of {published.release.as_of.isoformat()} "
               f"({published.people_worked_back} people's changes since its end taken back)")
