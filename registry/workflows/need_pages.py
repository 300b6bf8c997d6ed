"""The needs' pages in one call each: browsing and reading a need (with the 団体 names the needs
domain does not hold), and a need as its staff and its host see it (applicants and candidates:
audited reads, recorded by the services that hand them out)."""
import uuid
from datetime import date

from registry.accounts.models import User
from registry.common.auth import RESIDENT
from registry.needs import checkin, recommendations, service as needs
from registry.needs.models import ACCEPTED
from registry.organizations import service as organizations

CANDIDATES = 10


def browse(*, today: date, page: int, per_page: int, **filters) -> dict:
    """/needs: a page of needs (`needs.list_statement`'s filters), the list's size, and the names of
    their 団体 by code."""
    found = needs.search(today=today, page=page, per_page=per_page, **filters)
    return {"items": found.items, "total": found.total,
            "names": {code: organizations.find(code).name for code in {n.organization_code for n in found.items}}}


def need(viewer: User | None, need_id: uuid.UUID, *, own_application: bool = True) -> dict:
    """/needs/{id}: the need (404 for a draft the viewer may not see), its 団体 and, for a resident
    and unless told otherwise, their latest application to it (`mine`)."""
    the_need = needs.get_need(viewer, need_id)
    mine = None
    if own_application and viewer is not None and viewer.role == RESIDENT:
        latest = needs.latest_applications(viewer, 1, need_id=the_need.id)
        mine = latest[0] if latest else None
    return {"need": the_need, "org": organizations.find(the_need.organization_code), "mine": mine}


def managed(actor: User, need_id: uuid.UUID, *, today: date) -> dict:
    """/staff/needs/{id} (its staff, and its host): the need, every application and the best
    candidates; 404 for a need the actor may not see, 403 for one they may not manage."""
    the_need = needs.managed_need(actor, need_id)
    applications = needs.applications_of_need(actor, need_id).items
    return {"need": the_need, "applications": applications, "today": today,
            "candidates": recommendations.candidates(actor, need_id, CANDIDATES, today=today)}


def hosted(host: User, need_id: uuid.UUID, *, today: date) -> dict:
    """/host/needs/{id}: the need, every application (the check-in roster on the day), whether it is
    in progress and how many accepted applicants have checked in."""
    the_need = needs.managed_need(host, need_id)
    applications = needs.applications_of_need(host, need_id).items
    return {"need": the_need, "applications": applications, "today": today,
            "in_progress": checkin.in_progress(the_need, today),
            "checked_in": sum(1 for a in applications if a.status == ACCEPTED and a.checked_in_at)}
