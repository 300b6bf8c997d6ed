"""Names shown for the codes the API uses (ties, tiers, reasons), in the reader's language."""
from flask_babel import get_locale, lazy_gettext as _l

from registry.common.time import TOKYO

TIES = {
    "birthplace": _l("Birthplace (出身)"), "family": _l("Family (親族)"),
    "furusato_nozei": _l("Furusato nozei (ふるさと納税)"), "repeat_visit": _l("Repeat visitor"),
    "product_purchase": _l("Buying local products"), "two_region_living": _l("Two-region living"),
    "volunteer": _l("Volunteering"), "side_job": _l("Side job"), "work_or_study": _l("Work or study there"),
    "other": _l("Other"),
}
TIERS = {"basic": _l("Basic"), "premium": _l("Premium")}
BENEFITS = {"facility": _l("Public facilities"), "transport": _l("Transport"), "lodging": _l("Lodging"),
            "workspace": _l("Workspace"), "information": _l("Information"), "other": _l("Other")}
KINDS = {"volunteer": _l("Volunteer"), "side_job": _l("Side job"), "experience": _l("Experience")}
STATUSES = {"draft": _l("Draft"), "open": _l("Open"), "closed": _l("Closed"), "cancelled": _l("Cancelled"),
            "applied": _l("Applied"), "waitlisted": _l("On the waiting list"), "accepted": _l("Accepted"),
            "declined": _l("Declined"), "completed": _l("Completed"), "no_show": _l("No-show")}
STAGES = {"registered": _l("People registered"), "applied": _l("Applied"), "completed_activity": _l("Completed an activity"),
          "premium": _l("Became premium"), "renewed": _l("Renewed"), "moved_in": _l("Moved in (移住)")}
TYPES = {"kinship": _l("Kinship (地縁・血縁)"), "leisure": _l("Leisure and consumption (趣味・消費)"),
         "participation": _l("Participation (参加・交流)"), "work": _l("Work (就労)"),
         "two_region": _l("Two-region living (二地域居住)"), "contribution": _l("Direct contribution (直接寄与)"),
         "other": _l("Other")}
OFFER_KINDS = {"remote": _l("Remote help"), "on_site": _l("Help on site"), "supplies": _l("Supplies"),
               "lodging": _l("Lodging"), "donation": _l("Donation")}
REASONS = {"bad_signature": _l("this is not a genuine certificate"), "expired": _l("the code has expired"),
           "withdrawn": _l("the registration was withdrawn"), "moved_in": _l("the holder has moved there"),
           "not_found": _l("no such registration")}

# What a partner may do with each OAuth scope (API.md "Partners"), in plain words for the consent page
# and the list of partners on /my: (what, in detail).
SCOPES = {
    "registrations:read": (_l("See where you are registered"),
                           _l("Which local governments (団体) you are registered with, and the tier and date of "
                              "each registration.")),
    "activities:write": (_l("Report your activities"),
                         _l("Send the activities you take part in through this service to the local governments "
                            "you are registered with, as evidence toward premium. The 団体 checks them, or counts "
                            "them at once if it trusts this service.")),
}


def template_helpers() -> dict:
    return {
        "tie_label": lambda code: str(TIES.get(code, code)),
        "tier_label": lambda code: str(TIERS.get(code, code)),
        "reason_label": lambda code: str(REASONS.get(code, code)),
        "kind_label": lambda code: str(KINDS.get(code, code)),
        "benefit_label": lambda code: str(BENEFITS.get(code, code)),
        "status_label": lambda code: str(STATUSES.get(code, code)),
        "stage_label": lambda code: str(STAGES.get(code, code)),
        "stage_labels": lambda: [str(label) for label in STAGES.values()],
        "type_label": lambda code: str(TYPES.get(code, code)),
        "offer_kind_label": lambda code: str(OFFER_KINDS.get(code, code)),
        "scope_label": lambda code: str(SCOPES[code][0]) if code in SCOPES else code,
        "scope_detail": lambda code: str(SCOPES[code][1]) if code in SCOPES else "",
        "current_locale": lambda: str(get_locale() or "ja"),
        "tokyo": TOKYO,
    }
