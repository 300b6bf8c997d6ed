import click
from flask.cli import with_appcontext

from registry.extensions import db
from registry.organizations.reference import load_reference_data


@click.command("load-reference-data")
@with_appcontext
def load_reference_data_command():
    """Load or refresh the 47 prefectures and 1,741 municipalities (idempotent)."""
    changed = load_reference_data()
    db.session.commit()
    click.echo(f"reference data: {changed['organizations']} 団体 and {changed['wards']} wards "
               "added or updated (47 prefectures, 1,741 municipalities in all)")
