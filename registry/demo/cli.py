"""`flask --app wsgi seed-demo --people N --seed S`: synthetic residents for demos and benchmarks."""
import click
from flask import current_app
from flask.cli import with_appcontext

from registry.demo.people import DEMO_PASSWORD, EMAIL_DOMAIN, SeedRun
from registry.extensions import db


@click.command("seed-demo")
@click.option("--people", type=click.IntRange(min=1), required=True, help="how many residents to add")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="the same seed gives the same people (under new e-mails on every run)")
@with_appcontext
def seed_demo_command(people, seed):
    """Add N synthetic residents with registrations (never deletes; repeatable per seed).

    E-mails are demo-s<SEED>-<index>@demo.example.jp, the index continuing after the seed's last
    run; every seeded account's password is furusato-demo-2026. The figures are recounted at the
    end, in the same transaction.
    """
    try:
        run = SeedRun(people, seed, premium_limit=current_app.config["PREMIUM_LIMIT"])
    except RuntimeError as error:
        raise click.ClickException(str(error))
    last = 0
    with click.progressbar(length=people, label=f"seeding {people:,} people (seed {seed})") as bar:
        for done in run.load():
            bar.update(done - last)
            last = done
    click.echo("recounting the figures …")
    report = run.finish()
    db.session.commit()
    run.analyse()  # PostgreSQL: the planner's statistics of every table filled, for the first requests
    db.session.commit()
    end = report.first_index + people - 1
    click.echo(f"added {report.people:,} people ({run.prefix}{report.first_index:09d} … {end:09d}@{EMAIL_DOMAIN}), "
               f"{report.registrations:,} registrations ({report.active_registrations:,} active), "
               f"{report.events:,} ledger events; {report.rows:,} rows in {report.seconds:.1f} s "
               f"({report.rows / report.seconds:,.0f} rows/s, {report.people / report.seconds:,.0f} people/s; "
               f"recount {report.recount_seconds:.1f} s)")
    click.echo(f"every seeded account's password: {DEMO_PASSWORD}")
