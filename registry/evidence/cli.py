import click
from flask import current_app
from flask.cli import with_appcontext

from registry.evidence import files, service


@click.command("sweep-uploads")
@with_appcontext
def sweep_uploads_command():
    """Delete stored evidence files that no evidence refers to (left by a crash), after an hour."""
    removed = service.sweep_orphans(files.store_for(current_app.config))
    click.echo(f"removed {removed} unreferenced file(s)")
