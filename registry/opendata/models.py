"""Open-data releases (API.md "Open data"): one per finished month, immutable once published.

The files live in the database, not on the app host's disk (`OPEN_DATA_DIR` is not used): the web
tier keeps no state of its own (DESIGN.md "Past one machine"), so every app host serves the same
bytes; a release is written in one transaction with the rest of the registry's state (all its files
or none; two runs for one month cannot both succeed: the month is the primary key); and it is backed
up, restored and replicated with everything else. A release is a few hundred kilobytes.
"""
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.types import UTCDateTime
from registry.extensions import db


class OpenDataRelease(db.Model):
    __tablename__ = "open_data_releases"

    release: Mapped[str] = mapped_column(String(7), primary_key=True)  # the month covered, "2027-01"
    as_of: Mapped[date] = mapped_column(Date)  # its last day (Asia/Tokyo)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OpenDataFile(db.Model):
    __tablename__ = "open_data_files"

    release: Mapped[str] = mapped_column(ForeignKey("open_data_releases.release"), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)  # the order files are listed in
    media_type: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))  # lowercase hex of `content`
    bytes: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
