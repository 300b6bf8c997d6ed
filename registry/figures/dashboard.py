"""The national dashboard's figures in one call: the national ones (service.dashboard), the typology
and the country's relationship funnel."""
from datetime import date, datetime

from registry.figures import funnel_service, service
from registry.figures.stages import NATIONAL


def dashboard(*, today: date, now: datetime, min_cell: int) -> dict:
    shown = service.dashboard(today=today, now=now, min_cell=min_cell)
    shown["types"] = service.typology(min_cell=min_cell, today=today)["types"]
    shown["funnel"] = funnel_service.funnel(NATIONAL, own=False, min_cell=min_cell, today=today)
    return shown
