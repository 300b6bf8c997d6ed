"""団体: the 47 prefectures and 1,741 municipalities, and the wards that map to their city."""
from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import db

PREFECTURE, MUNICIPALITY = "prefecture", "municipality"


class Organization(db.Model):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("kind IN ('prefecture', 'municipality')", name="kind"),
        Index("ix_organizations_prefecture_kind", "prefecture_code", "kind"),
    )

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    kana: Mapped[str] = mapped_column(String(128))
    # A prefecture's own code for both kinds (a prefecture is in itself).
    prefecture_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)

    @property
    def is_prefecture(self) -> bool:
        return self.kind == PREFECTURE


class Ward(db.Model):
    """A designated-city ward (行政区): not a 団体, but a home address in it maps to its city."""

    __tablename__ = "wards"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    city_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"), index=True)
