"""What the evidence domain tells a registrant: their evidence decided. The words are this domain's;
registry.notifications delivers them."""
from datetime import datetime

from registry.accounts.models import User
from registry.evidence.models import INDIVIDUAL_NUMBER_VISIBLE, ActivityEvidence
from registry.i18n import N_
from registry.notifications.models import Notification
from registry.notifications.service import notify

MY_PAGE = "/my"

EVIDENCE_APPROVED = (N_("Your activity evidence was approved"),
                     N_("Your activity on {done_on} now counts toward premium with {organization}."))
EVIDENCE_REJECTED = (N_("Your activity evidence was not approved"), N_("{organization}: {reason}"))
EVIDENCE_NUMBER_VISIBLE = (
    N_("Your activity evidence was not approved"),
    N_("{organization}: the document showed the Individual Number (マイナンバー) unmasked, so it was deleted. "
       "Please submit it again with the number masked."))


def evidence_decided(user: User, evidence: ActivityEvidence, organization_name: str, *,
                     now: datetime | None = None) -> Notification | None:
    """After staff approved or rejected the evidence."""
    if evidence.status == "approved":
        title, body = EVIDENCE_APPROVED
        params = {"organization": organization_name, "done_on": evidence.done_on.isoformat()}
    else:
        title, body = EVIDENCE_NUMBER_VISIBLE if evidence.reason_code == INDIVIDUAL_NUMBER_VISIBLE \
            else EVIDENCE_REJECTED
        params = {"organization": organization_name, "reason": evidence.reason}
    return notify(user, "evidence_decided", title, body, MY_PAGE, now=now, params=params)
