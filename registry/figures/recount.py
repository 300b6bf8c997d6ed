"""Recounts every maintained figure from the rows, to verify the counters (`verify-counts`) or to
rebuild them after a bulk load (`seed-demo`, roster import): the national figures, the typology and
the relationship funnel (its counters and marks, funnel.py)."""
from collections import Counter, defaultdict

from sqlalchemy import and_, case, delete, func, literal, select, text, union_all
from sqlalchemy.orm import aliased

from registry.accounts.models import User
from registry.extensions import db
from registry.figures import funnel
from registry.figures.ledger import flow_key
from registry.figures.models import FigureCounter, PersonTally, RegistrationEvent
from registry.figures.typology import TYPE_OF
from registry.organizations.models import Organization
from registry.registrations.models import ACTIVE, MOVED_IN, PREMIUM, Registration

FIELDS = ("people", "registrations", "premium", "moved_in", "registered", "withdrawn")


def _ties_join() -> str:
    """SQL that unnests `registrations r`'s JSON list of ties as `t.value`, per dialect."""
    if db.engine.dialect.name == "postgresql":
        return "CROSS JOIN LATERAL jsonb_array_elements_text(r.ties) AS t(value)"
    return ", json_each(r.ties) AS t"


def _ties_rows():
    """(tie, people, registrations) of active registrations."""
    return db.session.execute(text(
        f"SELECT t.value, COUNT(DISTINCT r.user_id), COUNT(*) FROM registrations r {_ties_join()} "
        "WHERE r.status = 'active' GROUP BY t.value"))


def _type_of_tie_sql() -> str:
    """SQL: the type (typology.py) of the tie `t.value`."""
    cases = " ".join(f"WHEN '{tie}' THEN '{kind}'" for tie, kind in TYPE_OF.items())
    return f"CASE t.value {cases} ELSE 'other' END"


def _registration_types_sql() -> str:
    """Each active registration's types, once each: (user_id, registration id, type)."""
    return (f"SELECT DISTINCT r.user_id AS user_id, r.id AS registration_id, {_type_of_tie_sql()} AS kind "
            f"FROM registrations r {_ties_join()} WHERE r.status = 'active'")


def _types_rows():
    """(type, people, registrations) of active registrations."""
    return db.session.execute(text(
        f"SELECT kind, COUNT(DISTINCT user_id), COUNT(*) FROM ({_registration_types_sql()}) AS x GROUP BY kind"))


def expected_counters() -> dict:
    """{(metric, key): Counter(field → value)} as the rows say it should be."""
    out: dict = defaultdict(Counter)
    reg = Registration
    active = reg.status == ACTIVE
    is_premium = case((reg.tier == PREMIUM, 1), else_=0)
    home = aliased(Organization)

    def put(metric, rows, fields):
        for row in rows:
            key, *values = row
            for field, value in zip(fields, values):
                if value:
                    out[(metric, "" if key is None and metric == "total" else str(key))][field] += int(value)

    put("total", db.session.execute(select(literal(""), func.count(func.distinct(reg.user_id)), func.count(),
                                           func.coalesce(func.sum(is_premium), 0)).where(active)),
        ("people", "registrations", "premium"))
    put("total", db.session.execute(select(literal(""), func.count()).where(reg.status == MOVED_IN)), ("moved_in",))
    put("organization", db.session.execute(
        select(reg.organization_code, func.count(), func.count(), func.sum(is_premium)).where(active)
        .group_by(reg.organization_code)), ("people", "registrations", "premium"))
    put("organization", db.session.execute(select(reg.organization_code, func.count()).where(reg.status == MOVED_IN)
                                           .group_by(reg.organization_code)), ("moved_in",))
    put("prefecture", db.session.execute(
        select(reg.prefecture_code, func.count(), func.sum(is_premium)).where(active).group_by(reg.prefecture_code)),
        ("registrations", "premium"))
    put("prefecture", db.session.execute(select(reg.prefecture_code, func.count()).where(reg.status == MOVED_IN)
                                         .group_by(reg.prefecture_code)), ("moved_in",))
    with_home = select(reg.prefecture_code.label("pref"), home.prefecture_code.label("home_pref"), reg.user_id) \
        .join(User, User.id == reg.user_id).join(home, home.code == User.home_municipality_code, isouter=True) \
        .where(active).distinct().subquery()
    for pref, home_code, people in db.session.execute(
            select(with_home.c.pref, with_home.c.home_pref, func.count())
            .group_by(with_home.c.pref, with_home.c.home_pref)):
        out[("flow", flow_key(home_code, pref))]["people"] += people
        if home_code != pref:
            out[("prefecture", pref)]["people"] += people
    put("tier", db.session.execute(select(reg.tier, func.count(func.distinct(reg.user_id)), func.count(),
                                          func.sum(is_premium)).where(active).group_by(reg.tier)),
        ("people", "registrations", "premium"))
    put("tie", _ties_rows(), ("people", "registrations"))
    put("type", _types_rows(), ("people", "registrations"))
    birth = func.coalesce(func.cast(User.birth_year, db.String), "unknown")
    put("birth_year", db.session.execute(
        select(birth, func.count(func.distinct(reg.user_id)), func.count(), func.sum(is_premium))
        .join(User, User.id == reg.user_id).where(active).group_by(birth)), ("people", "registrations", "premium"))
    ev = RegistrationEvent
    for day, registered, withdrawn, moved_in, people, registrations in db.session.execute(
            select(ev.day, func.sum(case((ev.kind == "registered", 1), else_=0)),
                   func.sum(case((ev.kind == "withdrawn", 1), else_=0)),
                   func.sum(case((ev.kind == "moved_in", 1), else_=0)),
                   func.sum(ev.people_delta), func.sum(ev.registrations_delta)).group_by(ev.day)):
        counter = out[("day", day.isoformat())]
        for field, value in (("registered", registered), ("withdrawn", withdrawn), ("moved_in", moved_in),
                             ("people", people), ("registrations", registrations)):
            if value:
                counter[field] += int(value)
    for key, counts in funnel.expected_counters().items():
        out[key].update(counts)
    return {k: v for k, v in out.items() if any(v.values())}


def maintained_counters() -> dict:
    out: dict = {}
    sums = [func.sum(getattr(FigureCounter, f)) for f in FIELDS]
    for metric, key, *values in db.session.execute(
            select(FigureCounter.metric, FigureCounter.key, *sums).group_by(FigureCounter.metric, FigureCounter.key)):
        counter = Counter({f: int(v) for f, v in zip(FIELDS, values) if v})
        if counter:
            out[(metric, key)] = counter
    return out


def _expected_tallies_select():
    reg = Registration
    active = reg.status == ACTIVE
    parts = [
        select(reg.user_id, literal("all").label("dimension"), literal("").label("value"), func.count().label("n"))
        .where(active).group_by(reg.user_id),
        select(reg.user_id, literal("tier"), reg.tier, func.count()).where(active).group_by(reg.user_id, reg.tier),
        select(reg.user_id, literal("prefecture"), reg.prefecture_code, func.count())
        .where(active).group_by(reg.user_id, reg.prefecture_code),
    ]
    return union_all(*parts)


def tally_drift(limit: int = 10) -> tuple[int, list]:
    """Person tallies that differ from the rows: (count, examples). Ties need the dialect's JSON
    unnesting, so they are compared in a second query. SQLite plans a FULL JOIN of two grouped
    subqueries as nested loops (quadratic), so there the comparison is a dictionary merge."""
    if db.engine.dialect.name != "postgresql":
        return _tally_drift_by_merge(limit)
    expected = _expected_tallies_select().subquery()
    actual = select(PersonTally).where(PersonTally.active != 0, PersonTally.dimension.not_in(("tie", "type"))).subquery()
    on = and_(expected.c.user_id == actual.c.user_id, expected.c.dimension == actual.c.dimension,
              expected.c.value == actual.c.value)
    differs = select(func.coalesce(expected.c.user_id, actual.c.user_id),
                     func.coalesce(expected.c.dimension, actual.c.dimension),
                     func.coalesce(expected.c.value, actual.c.value), expected.c.n, actual.c.active) \
        .select_from(expected.join(actual, on, full=True)).where(expected.c.n.is_distinct_from(actual.c.active))
    rows = list(db.session.execute(differs.limit(limit)))
    total = db.session.scalar(select(func.count()).select_from(differs.subquery())) if rows else 0
    tie_rows = _tie_tally_drift(limit)
    return total + len(tie_rows), rows + tie_rows


def _expected_tie_tallies_sql() -> str:
    """Per person and tie (and type), their active registrations: what `person_tallies` should hold
    for ties and types."""
    return (f"SELECT r.user_id AS user_id, 'tie' AS dimension, t.value AS value, COUNT(*) AS n "
            f"FROM registrations r {_ties_join()} WHERE r.status = 'active' GROUP BY r.user_id, t.value "
            f"UNION ALL SELECT user_id, 'type', kind, COUNT(*) FROM ({_registration_types_sql()}) AS x "
            f"GROUP BY user_id, kind")


def _tally_drift_by_merge(limit: int) -> tuple[int, list]:
    expected = {(u, d, v): n for u, d, v, n in db.session.execute(_expected_tallies_select())}
    expected.update({(u, d, v): n for u, d, v, n in db.session.execute(text(_expected_tie_tallies_sql()))})
    # The text query hands back the raw column: normalise ids to one form for the merge.
    expected = {(str(u).replace("-", ""), d, v): n for (u, d, v), n in expected.items()}
    actual = {(str(u).replace("-", ""), d, v): n for u, d, v, n in db.session.execute(
        select(PersonTally.user_id, PersonTally.dimension, PersonTally.value, PersonTally.active)
        .where(PersonTally.active != 0))}
    differ = [(*key, expected.get(key), actual.get(key)) for key in set(expected) | set(actual)
              if expected.get(key) != actual.get(key)]
    return len(differ), differ[:limit]


def _tie_tally_drift(limit: int) -> list:
    """PostgreSQL only (SQLite goes through `_tally_drift_by_merge`): ties and types."""
    actual = ("SELECT user_id, dimension, value, active FROM person_tallies "
              "WHERE dimension IN ('tie', 'type') AND active <> 0")
    sql = (f"SELECT COALESCE(e.user_id, a.user_id), COALESCE(e.dimension, a.dimension), COALESCE(e.value, a.value), "
           f"e.n, a.active FROM ({_expected_tie_tallies_sql()}) e FULL OUTER JOIN ({actual}) a "
           f"ON e.user_id = a.user_id AND e.dimension = a.dimension AND e.value = a.value "
           f"WHERE e.n IS DISTINCT FROM a.active LIMIT {int(limit)}")
    return list(db.session.execute(text(sql)))


def verify() -> list[str]:
    """Every difference between maintained figures and a recount, as readable lines."""
    drift = []
    expected, maintained = expected_counters(), maintained_counters()
    for key in sorted(set(expected) | set(maintained)):
        want, have = expected.get(key, Counter()), maintained.get(key, Counter())
        for field in FIELDS:
            if want.get(field, 0) != have.get(field, 0):
                drift.append(f"{key[0]}[{key[1]}].{field}: maintained {have.get(field, 0)}, recount {want.get(field, 0)}")
    count, examples = tally_drift()
    if count:
        drift.append(f"person tallies: {count} differ, e.g. {[tuple(map(str, r)) for r in examples[:3]]}")
    count, examples = funnel.mark_drift()
    if count:
        drift.append(f"funnel marks: {count} differ, e.g. {[tuple(map(str, r)) for r in examples]}")
    count, examples = funnel.cell_drift()
    if count:
        drift.append(f"funnel cells: {count} differ from the counters, e.g. {[tuple(map(str, r)) for r in examples]}")
    return drift


def rebuild() -> None:
    """Replaces the counters and person tallies by a recount (after a bulk load). Flushes only."""
    db.session.execute(delete(FigureCounter))
    db.session.execute(delete(PersonTally))
    rows = [{"metric": m, "key": k, "slot": 0, **{f: c.get(f, 0) for f in FIELDS}}
            for (m, k), c in expected_counters().items()]
    for start in range(0, len(rows), 1000):
        db.session.execute(FigureCounter.__table__.insert(), rows[start:start + 1000])
    tallies = _expected_tallies_select().subquery()
    db.session.execute(PersonTally.__table__.insert().from_select(
        ["user_id", "dimension", "value", "active"], select(tallies)))
    db.session.execute(text(
        f"INSERT INTO person_tallies (user_id, dimension, value, active) {_expected_tie_tallies_sql()}"))
    funnel.rebuild_marks()
    funnel.rebuild_cells()
    db.session.flush()
