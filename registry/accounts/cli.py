import click
from flask.cli import with_appcontext

from registry.accounts import service
from registry.common.auth import ROLES
from registry.errors import Problem
from registry.extensions import db


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--organization", "organization_code", help="団体 code, for staff and hosts")
@click.option("--display-name")
@with_appcontext
def create_user_command(email, password, role, organization_code, display_name):
    """Create a staff, national, admin (or resident) account."""
    try:
        user = service.create_user(email=email, password=password, role=role,
                                   organization_code=organization_code, display_name=display_name)
    except Problem as problem:
        raise click.ClickException(f"{problem.code}: {problem.errors or problem.detail or ''}")
    db.session.commit()
    click.echo(f"created {role} {user.email} ({user.id})")
