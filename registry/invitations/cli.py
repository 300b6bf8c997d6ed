"""`flask --app wsgi import-roster FILE.csv --organization CODE [--invites OUT.csv]` (roster.py says how)."""
import click
from flask import current_app
from flask.cli import with_appcontext

from registry.extensions import db
from registry.invitations import roster
from registry.organizations import service as organizations


@click.command("import-roster")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--organization", "organization_code", required=True, help="the inviting 団体's 6-digit code")
@click.option("--invites", "invites_path", type=click.Path(dir_okay=False, writable=True),
              help="CSV (email,link) for the new people's set-password links; appended to when it exists")
@with_appcontext
def import_roster_command(file, organization_code, invites_path):
    """Invite the people of a 団体's list (UTF-8 CSV: email,display_name,home_municipality_code,ties,birth_year)
    to register with it.

    Each good row becomes an invitation, counted in no figure until accepted. A new e-mail gets an
    account without a password and a set-password link valid 14 days, which also accepts the
    invitation (written to --invites, needed when the list has new people); an existing account
    finds the invitation in its inbox. Bad rows are reported on standard error as `line N: reason`
    and change nothing. Running the same file again creates nothing new and writes no link twice.
    Exit status 0 when no row was bad, 1 when some were.
    """
    org = organizations.find(organization_code.strip())
    if org is None:
        raise click.BadParameter(f"{organization_code!r} names no 団体", param_hint="--organization")
    links = roster.LinksFile(invites_path) if invites_path else None
    try:
        with click.progressbar(length=max(roster.count_lines(file) - 1, 0),
                               label=f"importing the roster of {org.name} ({org.code})") as bar:
            report = roster.import_roster(file, org, site_url=current_app.config["SITE_URL"],
                                          links=links.write if links else None, progress=bar.update)
        db.session.commit()
    except roster.LinksFileRequired as error:
        db.session.rollback()
        _report_bad_rows(error.report)
        raise click.UsageError(f"{error}: pass --invites OUT.csv (nothing was imported)")
    except BaseException:
        db.session.rollback()
        if links:
            links.discard()
        raise
    if links:
        links.publish()  # only now: a failed import hands out no link
    roster.analyse()  # PostgreSQL: the planner's statistics of the tables filled, for the first requests
    db.session.commit()
    _report_bad_rows(report)
    written = f", links written to {invites_path}" if links else ""
    click.echo(f"{report.rows:,} rows: {report.invitations:,} invitations "
               f"({report.new_accounts:,} new accounts with a link{written}; {report.existing_accounts:,} "
               f"in existing accounts' inboxes), {report.already_invited:,} invited before, "
               f"{len(report.bad):,} bad rows; {report.seconds:.1f} s")
    click.get_current_context().exit(1 if report.bad else 0)


def _report_bad_rows(report) -> None:
    for line, reason in report.bad:
        click.echo(f"line {line}: {reason}", err=True)
