"""The bulk writer (registry/common/bulk.py): layouts made from the tables' metadata (a column a loader
does not give is an error, never a silent NULL), typed rows that read back as written on both
databases, the writer thread's order and errors, and the set-wise foreign-key check."""
import ast
import sys
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, text

import registry
from registry.accounts.models import User
from registry.common import bulk as bulk_loading
from registry.common.bulk import BulkWriter
from registry.common.ids import ascending_ids
from registry.extensions import db
from registry.needs.models import Need

HIDA, GIFU = "212172", "210005"
PACKAGE = Path(registry.__file__).parent
CREATED = datetime(2026, 1, 15, 3, 4, 5, 123456, tzinfo=timezone.utc)


def _table(*extra):
    return Table("drift_probe", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(20)),
                 Column("flag", Boolean, nullable=False), *extra)


@pytest.mark.parametrize("typed", [False, True])
def test_a_layout_writes_every_column_of_the_table_each_given_or_constant(typed):
    bulk = BulkWriter()
    layout = bulk.layout(_table(), {"flag": True}, typed=typed)
    assert layout.given == ("id", "name") and layout.columns == ("id", "name", "flag")
    assert layout.row(id=1, name="a") is not None
    with pytest.raises(TypeError, match="drift_probe_row.. missing 1 required keyword-only argument: 'name'"):
        layout.row(id=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nickname'"):
        layout.row(id=1, name="a", nickname="b")
    with pytest.raises(TypeError, match="positional"):  # by name only: an order cannot drift
        layout.row(1, "a")
    with pytest.raises(ValueError, match="drift_probe has no column colour"):
        bulk.layout(_table(), {"colour": "red"}, typed=typed)


def test_a_column_added_to_the_table_must_be_given():
    """The drift the layouts exist for: the same loader code meets a table with one more column."""
    bulk = BulkWriter()
    before = bulk.layout(_table(), {"flag": False})
    after = bulk.layout(_table(Column("added", String(5))), {"flag": False})
    assert before.row(id=1, name="a")
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'added'"):
        after.row(id=1, name="a")
    assert after.row(id=1, name="a", added="x")
    assert "added" in after.sql  # and then it is written


def test_typed_rows_read_back_as_written():
    """Every kind a typed layout encodes (COPY BINARY on PostgreSQL, stored values on SQLite), NULLs
    included, read back through the ORM."""
    bulk = BulkWriter()
    user_id, need_id = ascending_ids(2)
    users = bulk.layout(User, {"password_hash": None, "availability": None, "role": "resident",
                               "organization_code": None, "guardian_consent": False, "consent_share_profile": True,
                               "consent_scouting": False, "consent_announcements": True,
                               "email_verified_at": None, "created_at": CREATED, "deactivated_at": None,
                               "erased_at": None}, typed=True)
    needs = bulk.layout(Need, {"host_id": None, "created_by": None, "closed_at": None, "cancelled_at": None,
                               "place_name": None, "urgent": False}, typed=True)
    try:
        bulk.write(users, [users.row(id=user_id, email="Bulk@Example.jp", email_key="bulk@example.jp",
                                     display_name="一括\t太郎\\", birth_year=1990, skills='["農作業", "運転"]',
                                     interests="[]", home_municipality_code=None, session_nonce="0123456789abcdef")])
        bulk.write(needs, [needs.row(id=need_id, organization_code=HIDA, prefecture_code=GIFU, kind="volunteer",
                                     title="草刈り", description="", host_name=None, skills='["草刈り"]', remote=False,
                                     lat=36.2381, lng=-137.1861, geo_cell=-42, starts_on=date(1999, 12, 31),
                                     ends_on=date(2026, 2, 1), apply_by=date(1999, 12, 30), capacity=3,
                                     accepted_count=0, reward="昼食", counts_as_activity=True, status="open",
                                     created_at=CREATED, updated_at=CREATED)])
        bulk.drain()
    finally:
        bulk.close()
    assert bulk.rows_written == 2 and list(bulk.tables_written) == ["users", "needs"]
    db.session.expire_all()
    user = db.session.get(User, uuid.UUID(bytes=user_id))
    assert (user.email, user.email_key, user.display_name, user.birth_year) == \
        ("Bulk@Example.jp", "bulk@example.jp", "一括\t太郎\\", 1990)
    assert (user.skills, user.interests, user.home_municipality_code, user.password_hash) == (["農作業", "運転"], [], None, None)
    assert (user.consent_share_profile, user.consent_scouting, user.consent_announcements) == (True, False, True)
    assert (user.created_at, user.email_verified_at, user.role) == (CREATED, None, "resident")
    need = db.session.get(Need, uuid.UUID(bytes=need_id))
    assert (need.lat, need.lng, need.geo_cell, need.capacity, need.remote, need.counts_as_activity) == \
        (36.2381, -137.1861, -42, 3, False, True)
    assert (need.starts_on, need.ends_on, need.apply_by) == (date(1999, 12, 31), date(2026, 2, 1), date(1999, 12, 30))
    assert (need.host_name, need.place_name, need.skills, need.created_at) == (None, None, ["草刈り"], CREATED)


def test_a_typed_layout_refuses_a_naive_time():
    bulk = BulkWriter()
    layout = bulk.layout(_table(Column("at", User.__table__.c.created_at.type)), {"flag": True}, typed=True)
    with pytest.raises((TypeError, ValueError)):
        layout.row(id=1, name="a", at=datetime(2026, 1, 1))


def test_analyse_is_nothing_on_sqlite_and_analyze_on_postgresql(dialect):
    started = db.session.scalar(text("SELECT clock_timestamp()" if dialect == "postgresql" else "SELECT 1"))
    bulk_loading.analyse(["needs", "needs"])  # named twice: analysed once
    if dialect == "postgresql":
        db.session.execute(text("SELECT pg_stat_clear_snapshot()"))
        assert db.session.scalar(text("SELECT last_analyze >= :started FROM pg_stat_user_tables "
                                      "WHERE relname = 'needs'"), {"started": started})


@pytest.mark.postgres_only
def test_set_wise_reference_check_finds_an_orphan():
    lowest = str(uuid.UUID(int=0))
    db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(text(
        "INSERT INTO registrations (id, user_id, organization_code, prefecture_code, tier, ties, status, registered_at) "
        "VALUES (:id, :user, '212172', '210005', 'basic', '[]', 'withdrawn', now())"),
        {"id": uuid.uuid4(), "user": uuid.uuid4()})
    with pytest.raises(RuntimeError, match="registrations.user_id that refer to no users row"):
        bulk_loading.check_references(lowest, ("users", "registrations"), "seed-demo")


@pytest.mark.postgres_only
def test_bulk_runs_queued_work_in_order_stops_at_an_error_and_restores_the_switch_interval():
    before = sys.getswitchinterval()
    bulk = BulkWriter()
    seen = []
    first = bulk.call(lambda: seen.append(sys.getswitchinterval()) or "done")
    failing = bulk.call(lambda: 1 / 0)
    after = bulk.call(lambda: seen.append("ran after the error"))
    assert first.result() == "done" and seen == [min(bulk_loading.quick_gil_handoffs.INTERVAL, before)]
    with pytest.raises(ZeroDivisionError):
        failing.result()
    with pytest.raises(ZeroDivisionError):  # the transaction failed: what was queued after does not run
        after.result()
    assert seen == [min(bulk_loading.quick_gil_handoffs.INTERVAL, before)]
    with pytest.raises(ZeroDivisionError):
        bulk.drain()
    bulk.close()
    assert sys.getswitchinterval() == before


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_bulk_loader_knows_no_domain_and_no_domain_knows_the_demo():
    """registry/common/bulk.py is foundation (callers pass their models in); registry/demo/ is a tool
    over the domains, which only the app factory's command list names."""
    assert {name for name in _imports(PACKAGE / "common" / "bulk.py") if name.startswith("registry.")} \
        <= {"registry.extensions.db"}
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name != "demo" and path != PACKAGE / "__init__.py":
            assert not any(name.startswith("registry.demo") for name in _imports(path)), path
