"""The relationship funnel's stages and where their counts are kept (API.md "Relationship funnel").

A cohort is a month (Asia/Tokyo): a person belongs to a 団体's cohort of the month they first
registered with it (whatever became of that registration since), and to the country's cohort of
the month they first registered with any 団体. Each stage counts people once per cohort it is
counted in: with a 団体, what the person has since done there; in the country, anywhere.

The counts live in `figure_counters` (so one statement reads them with the figures they relate
to), one metric per cohort, `funnel:YYYY-MM`, keyed by the 団体's code, `NATIONAL` ("*": the
country's distinct people) or `PAIRS` ("+": the sum over every 団体, which says without reading
them all whether the 団体' cells add up to the country's, registry/figures/funnel_release.py).
The counter table's six count columns hold the six stages (`COLUMN`).
"""
from datetime import date, datetime

from registry.common.time import TOKYO

STAGES = ("registered", "applied", "completed_activity", "premium", "renewed", "moved_in")
REGISTERED, APPLIED, COMPLETED, PREMIUM, RENEWED, MOVED_IN = STAGES
# Stage → the figure_counters column that holds it in a funnel metric.
COLUMN = {"registered": "registered", "applied": "people", "completed_activity": "registrations",
          "premium": "premium", "renewed": "withdrawn", "moved_in": "moved_in"}
NATIONAL, PAIRS = "*", "+"
PREFIX = "funnel:"


def month_of(moment: datetime | date) -> str:
    """The Asia/Tokyo month of a moment (a date is taken as it is)."""
    day = moment.astimezone(TOKYO).date() if isinstance(moment, datetime) else moment
    return f"{day.year:04d}-{day.month:02d}"


def cohort_metric(month: str) -> str:
    return PREFIX + month
