"""verify-counts catches drift in a counter and in a person's tallies."""
from sqlalchemy import select, update

from registry.figures.models import FigureCounter, PersonTally
from registry.figures.recount import verify
from registry.extensions import db


def _register(api, signup):
    _, token = signup()
    assert api.post("/registrations", token=token, json={"organization_code": "212172",
                                                          "ties": ["family", "volunteer"]}).status_code == 201


def test_counter_drift_is_reported(api, signup, app):
    _register(api, signup)
    db.session.execute(update(FigureCounter).where(FigureCounter.metric == "total").values(
        registrations=FigureCounter.registrations + 1))
    db.session.commit()
    assert any(line.startswith("total[].registrations") for line in verify())
    result = app.test_cli_runner().invoke(args=["verify-counts"])
    assert result.exit_code == 1 and "drift:" in result.output


def test_tally_drift_is_reported(api, signup):
    _register(api, signup)
    for dimension in ("tie", "type", "prefecture"):
        row = db.session.scalars(select(PersonTally).where(PersonTally.dimension == dimension)).first()
        row.active += 1
        db.session.commit()
        assert any(line.startswith("person tallies") for line in verify()), dimension
        row.active -= 1
        db.session.commit()
    assert verify() == []


def test_a_drifted_type_counter_is_reported_through_the_command(api, signup, app):
    """The typology's counters (metric "type") are recounted from the registrations' ties."""
    _register(api, signup)
    db.session.execute(update(FigureCounter).where(FigureCounter.metric == "type", FigureCounter.key == "kinship")
                       .values(people=FigureCounter.people + 1))
    db.session.commit()
    assert any(line.startswith("type[kinship].people: maintained 2, recount 1") for line in verify()), verify()
    result = app.test_cli_runner().invoke(args=["verify-counts"])
    assert result.exit_code == 1 and "type[kinship].people" in result.output
