"""`flask --app wsgi create-partner --name N --redirect-uri URI [--redirect-uri URI …]` (operators)."""
from urllib.parse import urlsplit

import click
from flask.cli import with_appcontext

from registry.common.individual_number import contains_individual_number
from registry.extensions import db
from registry.partners import service

MAX_NAME = 200
MAX_URI = 2000
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def redirect_uri_problem(uri: str) -> str | None:
    """Why a redirect URI may not be registered, or None. An absolute https URL without a fragment
    (RFC 6749 §3.1.2); plain http only on the loopback address, for a partner's development."""
    if len(uri) > MAX_URI or any(c.isspace() or ord(c) < 0x21 for c in uri):
        return "too long, or holds spaces or control characters"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "not a URL"
    if parts.fragment or "#" in uri:
        return "must not have a fragment (#…)"
    if not parts.hostname:
        return "must be an absolute URL with a host"
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return None
    if parts.scheme != "https":
        return "must be https (http only on 127.0.0.1 or localhost)"
    return None


@click.command("create-partner")
@click.option("--name", required=True, help="the partner's name, as people see it on the consent page")
@click.option("--redirect-uri", "redirect_uris", required=True, multiple=True,
              help="where the partner receives codes; compared string for string (repeatable)")
@with_appcontext
def create_partner_command(name, redirect_uris):
    """Register a partner (連携サービス): prints its client_id and client_secret, the secret only now."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or contains_individual_number(name):
        raise click.BadParameter(f"give a name of 1 to {MAX_NAME} characters", param_hint="--name")
    for uri in redirect_uris:
        if problem := redirect_uri_problem(uri):
            raise click.BadParameter(f"{uri}: {problem}", param_hint="--redirect-uri")
    partner, secret = service.create_partner(name, list(redirect_uris))
    db.session.commit()
    click.echo(f"client_id: {partner.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("Keep the secret now: only its hash is stored, and it cannot be shown again.", err=True)
