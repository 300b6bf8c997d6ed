"""The resident's own page (/my) in one call: everything it shows comes from nine domains.

The page is a short table of contents and then its sections, in the order of `SECTIONS`; each is
the template pages/my/<id>.html under the heading `title`, reached at /my#<id>. A new section is one
more `Section` here, its template, and what it shows added to `overview`'s answer. What asks to be
done now (a check-in today, invitations) stands above the contents, in pages/my.html.
"""
from collections.abc import Callable, Mapping
from datetime import date
from typing import NamedTuple

from registry.accounts.models import User
from registry.announcements import service as announcements
from registry.certificates import service as certificates
from registry.certificates.keys import CertificateKey
from registry.emergencies import consoles as emergencies
from registry.i18n import N_
from registry.invitations import service as invitations
from registry.needs import checkin, recommendations, service as needs
from registry.notifications import service as notifications
from registry.organizations import service as organizations
from registry.organizations.codes import prefecture_code_of
from registry.partners import service as partners
from registry.registrations import service as registrations


class Section(NamedTuple):
    id: str  # the anchor, and the template pages/my/<id>.html
    title: str  # the heading and the entry in the contents (marked with N_, translated on the page)
    count: Callable[[dict], int] | None = None  # a number beside the entry, from what the page shows
    count_label: str = N_("%(n)s")  # how that number reads (0 shows nothing)


def _unread(shown: dict) -> int:
    return sum(n.read_at is None for n, _title, _body in shown["notices"]) + \
        sum(read_at is None for _announcement, read_at in shown["inbox"])


SECTIONS = (
    Section("registrations", N_("Registrations and certificates"), lambda shown: len(shown["cards"])),
    Section("needs-and-activities", N_("Needs and activities")),
    Section("messages", N_("Notifications and announcements"), _unread, N_("%(n)s new")),
    Section("partners", N_("Connected services"), lambda shown: len(shown["partner_grants"])),
    Section("account", N_("Profile and account")),
)


def overview(me: User, *, settings: Mapping, site_root: str, key: CertificateKey, today: date,
             home_prefecture: str | None = None) -> dict:
    """What /my shows: a card per active registration (its certificate, signed with `key`, and
    premium progress), the home municipality and the picker to change it (listing `home_prefecture`'s
    municipalities, else the home's), the latest applications, activities, announcements,
    notifications and pending invitations, what to check in to today, recommended needs, the
    active emergencies touching one of the person's 団体 (a banner), the partners the person allowed
    to act for them, and the sections with their entries in the contents."""
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
    shown = {"cards": cards, "home": home, "today": today, "notices": notifications.latest(me, 10),
             "invitations": invitations.pending(me, 20), "check_in_due": checkin.due_today(me),
             "recommendations": recommendations.recommend_needs(me, 5, today=today),
             "applications": applications, "activities": activities, "inbox": inbox, "names": names,
             "home_choices": organizations.home_choices(
                 home_prefecture or (prefecture_code_of(home.code) if home else None)),
             "emergencies": emergencies.touching(me), "partner_grants": partners.grants_of(me).items}
    shown["sections"] = [{"id": s.id, "title": s.title, "count": s.count(shown) if s.count else 0,
                          "count_label": s.count_label} for s in SECTIONS]
    return shown
