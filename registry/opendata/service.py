"""Publishing open-data releases and reading them back (API.md "Open data").

`publish(month)` (the `publish-open-data` command): the figures as they stood at the end of a
finished month (Asia/Tokyo), worked out from the maintained counters and the ledger's changes since
(figures/month_end.py), cut into the tables of tables.py with the national figures' suppression, and
stored with their sha256 in one transaction. A month already published, or one not yet over, is
refused and nothing changes: a release never changes once published.

A month counts as over SETTLE after its end: a request begun before midnight may still be
committing a change stamped with the month's last day (requests are bounded by gunicorn's timeout).
"""
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from registry.common.pagination import Page, page_of
from registry.common.time import today_tokyo
from registry.errors import Problem, not_found
from registry.extensions import db
from registry.figures.month_end import counters_at_month_end, month_span
from registry.i18n import N_
from registry.opendata.models import OpenDataFile, OpenDataRelease
from registry.opendata.tables import build_tables, render, sha256
from registry.organizations.models import Organization

MONTH = re.compile(r"^(20\d\d|2100)-(0[1-9]|1[0-2])$")
SETTLE = timedelta(minutes=5)
DEFAULT_PUBLISHER = "ふるさと住民登録 (Furusato Registry)"


@dataclass(frozen=True)
class Published:
    release: OpenDataRelease
    files: list[OpenDataFile]
    people_worked_back: int  # people whose changes since the month's end were taken back


def month_ended_last(now: datetime) -> str:
    """The month that ended most recently, "YYYY-MM" in Asia/Tokyo (the one a monthly run publishes)."""
    day = (today_tokyo(now).replace(day=1) - timedelta(days=1))
    return f"{day.year:04d}-{day.month:02d}"


def check_month(month: str, now: datetime) -> tuple[date, datetime]:
    """(last day, end) of a month that may be published now; Problem otherwise."""
    if not MONTH.match(month or ""):
        raise Problem(422, "validation_error", errors={"month": [N_("A month as YYYY-MM.")]})
    _, last_day, end = month_span(month)
    if now < end + SETTLE:
        raise Problem(409, "invalid_state", N_("That month is not over yet (a release can be published from "
                                                "5 minutes past midnight on the 1st, Japan time)."))
    return last_day, end


def build(month: str, *, min_cell: int, now: datetime, publisher: str = DEFAULT_PUBLISHER) -> tuple[list, int]:
    """The release's files [(name, media_type, content)] without storing them, and how many people's
    changes since the month's end were worked back."""
    last_day, _ = check_month(month, now)
    sums, worked_back = counters_at_month_end(month)
    organizations = list(db.session.execute(select(Organization.code, Organization.kind, Organization.prefecture_code,
                                                   Organization.name).order_by(Organization.code)))
    tables = build_tables(sums, organizations, min_cell=min_cell)
    return render(tables, month=month, as_of=last_day, issued=now, min_cell=min_cell, publisher=publisher), worked_back


def publish(month: str, *, min_cell: int, now: datetime, publisher: str = DEFAULT_PUBLISHER) -> Published:
    """Stores the release of `month`. Flushes; the caller commits (in a transaction that read
    nothing before, REPEATABLE READ on PostgreSQL: the counters and the ledger in one snapshot)."""
    check_month(month, now)
    if db.session.get(OpenDataRelease, month) is not None:
        raise Problem(409, "invalid_state", N_("That month's release is already published; a release never changes."))
    files, worked_back = build(month, min_cell=min_cell, now=now, publisher=publisher)
    release = OpenDataRelease(release=month, as_of=month_span(month)[1], published_at=now)
    db.session.add(release)
    db.session.flush()  # two runs for one month: the second fails here (the month is the primary key)
    stored = [OpenDataFile(release=month, name=name, position=position, media_type=media_type,
                           sha256=sha256(content), bytes=len(content), content=content)
              for position, (name, media_type, content) in enumerate(files)]
    db.session.add_all(stored)
    db.session.flush()
    return Published(release, stored, worked_back)


def releases(*, page: int = 1, per_page: int | None = None) -> Page:
    """A page of the releases, newest first, as [{release, as_of, published_at, files: [...]}] (the
    files without their content)."""
    found = page_of(select(OpenDataRelease).order_by(OpenDataRelease.release.desc()), page, per_page)
    months = [r.release for r in found.items]
    files: dict = {month: [] for month in months}
    if months:
        for row in db.session.execute(
                select(OpenDataFile.release, OpenDataFile.name, OpenDataFile.media_type, OpenDataFile.bytes,
                       OpenDataFile.sha256).where(OpenDataFile.release.in_(months))
                .order_by(OpenDataFile.release, OpenDataFile.position)):
            files[row.release].append({"name": row.name, "media_type": row.media_type, "bytes": row.bytes,
                                       "sha256": row.sha256})
    return Page([{"release": r.release, "as_of": r.as_of, "published_at": r.published_at, "files": files[r.release]}
                 for r in found.items], found.total)


def file(release: str, name: str) -> OpenDataFile:
    """One stored file; 404 for a release or file that does not exist."""
    stored = db.session.get(OpenDataFile, (release, name)) if MONTH.match(release) and len(name) <= 40 else None
    if stored is None:
        raise not_found()
    return stored
