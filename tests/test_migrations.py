"""Every schema change is a migration: `flask db upgrade` from empty gives exactly the models' schema,
and the migrations downgrade and upgrade again on a database holding data."""
import os
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from config import TestingConfig, database_url
from registry import create_app
from registry.extensions import db
from registry.organizations.models import Organization
from registry.organizations.reference import load_reference_data

MIGRATIONS = str(Path(__file__).resolve().parents[1] / "migrations")


@pytest.fixture
def empty_database(tmp_path):
    raw = os.environ.get("TEST_DATABASE_URL")
    if not raw:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    server = make_url(database_url(raw, raw))
    name = f"registry_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.committing
@pytest.mark.slow  # every migration up, down and up again: several seconds
def test_upgrade_from_empty_matches_models_and_round_trips(empty_database):
    app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, db.metadata)
        assert diffs == [], f"models and migrations differ: {diffs}"

        load_reference_data()
        db.session.commit()
        downgrade(directory=MIGRATIONS, revision="base")
        upgrade(directory=MIGRATIONS)
        load_reference_data()
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Organization)) == 1788
        db.session.remove()
        db.engine.dispose()
