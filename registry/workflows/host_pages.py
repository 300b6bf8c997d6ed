"""The hosts feature's pages that span domains: the host console (/host) and the staff's page of
their 団体's hosts and drafts (/staff/hosts)."""
from datetime import date

from registry.accounts.models import User
from registry.hosts import service as hosts
from registry.needs import checkin, service as needs
from registry.needs.models import CANCELLED, DRAFT
from registry.organizations import service as organizations


def console(host: User, *, today: date) -> dict:
    """What /host shows: the host's profile and 団体, its needs grouped (in progress today, drafts,
    coming, past) and how many applications wait on each."""
    own = needs.managed_needs(host).items
    groups = {
        "today": [n for n in own if checkin.in_progress(n, today)],
        "drafts": [n for n in own if n.status == DRAFT],
        "coming": [n for n in own if n.status != DRAFT and n.status != CANCELLED and n.starts_on > today],
        "past": [n for n in own if n.status == CANCELLED or (n.status != DRAFT and n.ends_on < today)],
    }
    return {"profile": hosts.profile_of(host), "org": organizations.find(host.organization_code), "groups": groups,
            "waiting": needs.waiting_counts(own), "today": today}


def staff_hosts(staff: User) -> dict:
    """What /staff/hosts shows: the 団体's hosts (their contact people's names and e-mails: an
    audited read) and the hosts' drafts waiting for its staff."""
    org = organizations.find(staff.organization_code)
    return {"org": org, "hosts": hosts.hosts_of(staff, org.code, page=1, per_page=200).items,
            "drafts": needs.drafts_of(staff, page=1, per_page=100).items}
