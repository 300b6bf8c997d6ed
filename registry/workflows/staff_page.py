"""The staff console (/staff) in one call: its 団体's needs, the reviews waiting (premium requests,
identity checks, evidence), its registrants, announcements, benefits and figures (its relationship
funnel included, as it is: its own staff see their 団体 unsuppressed)."""
from datetime import date, datetime

from registry.accounts.models import User
from registry.announcements import service as announcements
from registry.benefits import service as benefits
from registry.common.database import reads_together
from registry.evidence import service as evidence
from registry.figures import funnel_service, service as figures
from registry.needs import service as needs
from registry.organizations import service as organizations
from registry.registrations import service as registrations

PENDING = "pending"


def console(staff: User, *, today: date, now: datetime) -> dict:
    """What /staff shows. Four kinds of personal data are on it (premium requests, identity checks,
    registrants' shared profiles, evidence): each service records its read as it hands the page out,
    and the commit writes the four entries as one INSERT (`reads_together`)."""
    org = organizations.find(staff.organization_code)
    with reads_together():
        own_needs = [need for status in ("open", "closed")
                     for need in needs.search(today=today, status=status, organization=org.code, page=1,
                                              per_page=50).items]
        return {
            "org": org, "needs": own_needs,
            "requests": registrations.list_premium_requests(staff, PENDING, page=1, per_page=50).items,
            "verifications": registrations.list_identity_verifications(staff, PENDING, page=1, per_page=50).items,
            "registrants": registrations.list_registrants(staff, org.code, page=1, per_page=50).items,
            "sent": announcements.sent_with_delivery(staff, org.code, page=1, per_page=10),
            "evidence": evidence.for_staff(staff, PENDING, page=1, per_page=50).items,
            "benefits": benefits.list_for(staff, org.code, everything=True).items,
            "totals": figures.totals(today=today, now=now, organization=org),
            "funnel": funnel_service.funnel(org.code, own=True, min_cell=1, today=today),
        }
