"""The resident's own page (/my) in one call: everything it shows comes from eight domains."""
from collections.abc import Mapping
from datetime import date

from registry.accounts.models import User
from registry.announcements import service as announcements
from registry.certificates import service as certificates
from registry.certificates.keys import CertificateKey
from registry.emergencies import consoles as emergencies
from registry.invitations import service as invitations
from registry.needs import checkin, recommendations, service as needs
from registry.notifications import service as notifications
from registry.organizations import service as organizations
from registry.partners import service as partners
from registry.registrations import service as registrations


def overview(me: User, *, settings: Mapping, site_root: str, key: CertificateKey, today: date) -> dict:
    """What /my shows: a card per active registration (its certificate, signed with `key`, and
    premium progress), the home municipality, the latest applications, activities, announcements,
    notifications and pending invitations, what to check in to today, recommended needs, and the
    active emergencies touching one of the person's 団体 (a banner), and the partners the person
    allowed to act for them."""
    cards = []
    for reg in registrations.active_registrations(me):
        certificate = certificates.issue(me, reg.id, key=key, ttl_hours=settings["CERTIFICATE_TTL_HOURS"],
                                         site_root=site_root)
        cards.append({"registration": reg, "organization": organizations.find(reg.organization_code),
                      "certificate": certificate,
                      "progress": registrations.premium_progress(me, reg, settings=settings)})
    home = organizations.find(me.home_municipality_code) if me.home_municipality_code else None
    applications = needs.latest_applications(me, 20)
    activities = needs.latest_activities(me, 20)
    inbox = announcements.latest(me, 10)
    names = {o: organizations.find(o).name for o in {a.organization_code for a in activities}
             | {row[0].organization_code for row in inbox}}
    return {"cards": cards, "home": home, "today": today, "notices": notifications.latest(me, 10),
            "invitations": invitations.pending(me, 20), "check_in_due": checkin.due_today(me),
            "recommendations": recommendations.recommend_needs(me, 5, today=today),
            "applications": applications, "activities": activities, "inbox": inbox, "names": names,
            "emergencies": emergencies.touching(me), "partner_grants": partners.grants_of(me).items}
