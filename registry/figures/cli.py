import click
from flask.cli import with_appcontext

from registry.extensions import db
from registry.figures.recount import rebuild, verify
from registry.registrations.service import lapse_premiums


@click.command("verify-counts")
@with_appcontext
def verify_counts_command():
    """Recount every figure from the rows; print any drift and exit non-zero on drift."""
    drift = verify()
    for line in drift:
        click.echo(f"drift: {line}")
    if drift:
        raise SystemExit(1)
    click.echo("figures verified: every maintained figure equals the recount")


@click.command("lapse-premiums")
@with_appcontext
def lapse_premiums_command():
    """Turn premium registrations past their validity back to basic (still counted)."""
    lapsed = lapse_premiums()
    db.session.commit()
    click.echo(f"lapsed {lapsed} premium registration(s)")


@click.command("rebuild-counts")
@with_appcontext
def rebuild_counts_command():
    """Replace every maintained figure by a recount of the rows (after an upgrade that adds figures,
    with the app stopped: docs/operations.md); then verify."""
    rebuild()
    db.session.commit()
    drift = verify()
    for line in drift:
        click.echo(f"drift: {line}")
    if drift:
        raise SystemExit(1)
    click.echo("figures rebuilt: every maintained figure equals the recount")
