"""Urgent needs: while an active emergency names a 団体 (asked through registry/organizations/acting.py,
since registry/emergencies/ sits above this domain), that 団体's needs may carry `urgent: true`; they
come first in the recommendations of the people tied to it (recommendations.py), and closing the
emergency takes the mark off (`clear`, called by the emergencies domain)."""
from datetime import datetime

from sqlalchemy import update

from registry.common.time import utcnow
from registry.extensions import db
from registry.i18n import N_
from registry.needs.models import Need
from registry.organizations import acting


def errors(need: Need, changes: dict) -> dict:
    """Field errors for marking `need` urgent when no active emergency names its 団体 (422)."""
    if changes.get("urgent") and not acting.in_emergency(need.organization_code):
        return {"urgent": [N_("Only while an emergency is declared for this 団体.")]}
    return {}


def clear(organization_codes: list[str], *, now: datetime | None = None) -> None:
    """The emergency of these 団体 is over: their needs are urgent no more."""
    db.session.execute(update(Need).where(Need.urgent, Need.organization_code.in_(organization_codes))
                       .values(urgent=False, updated_at=now or utcnow())
                       .execution_options(synchronize_session="fetch"))
