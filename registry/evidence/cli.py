import click
from flask import current_app
from flask.cli import with_appcontext

from registry.evidence import files, service


@click.command("sweep-uploads")
@with_appcontext
def sweep_uploads_command():
    """Delete stored evidence files (UPLOAD_DIR or EVIDENCE_STORE) that no evidence refers to (left by
    a crash or an unreachable store), after an hour."""
    try:
        removed = service.sweep_orphans(files.store_for(current_app.config))
    except files.StorageUnavailable:
        raise click.ClickException("the evidence store is unavailable (see the log): try again later") from None
    click.echo(f"removed {removed} unreferenced file(s)")
