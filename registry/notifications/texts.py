"""The words of the notifications this package and its callers create: (title, body) catalog
messages with `{name}` values, rendered in the reader's language (e-mails: Japanese, then English)."""
from registry.common.messages import N_

PREMIUM_APPROVED = (N_("Your premium registration was approved"),
                    N_("Your premium registration with {organization} is valid until {valid_until}."))
PREMIUM_RENEWED = (N_("Your premium renewal was approved"),
                   N_("Your premium registration with {organization} is now valid until {valid_until}."))
PREMIUM_REJECTED = (N_("Your premium request was not approved"), N_("{organization}: {reason}"))
PREMIUM_EXPIRING = (N_("Your premium registration ends soon"),
                    N_("Your premium registration with {organization} ends on {valid_until}. You can renew it now."))
EVIDENCE_APPROVED = (N_("Your activity evidence was approved"),
                     N_("Your activity on {done_on} now counts toward premium with {organization}."))
EVIDENCE_REJECTED = (N_("Your activity evidence was not approved"), N_("{organization}: {reason}"))
EVIDENCE_NUMBER_VISIBLE = (
    N_("Your activity evidence was not approved"),
    N_("{organization}: the document showed the Individual Number (マイナンバー) unmasked, so it was deleted. "
       "Please submit it again with the number masked."))
NEED_REMINDER = (N_("Your activity starts tomorrow"), N_("{title} starts on {starts_on}."))
APPLICATION_ACCEPTED = (N_("Your application was accepted"),
                        N_("{title} ({starts_on}): you are in. The details are on the need's page."))
APPLICATION_DECLINED = (N_("Your application was not accepted"),
                        N_("{title} ({starts_on}): thank you for applying. Other needs are waiting for you."))
WAITLIST_PROMOTED = (N_("A place has opened up"),
                     N_("{title} ({starts_on}): your application moved up from the waiting list."))
NEED_CANCELLED = (N_("A need you applied to was cancelled"), N_("{title} ({starts_on}) will not take place."))

VERIFY_EMAIL = (N_("Please confirm your e-mail address"),
                N_("Open the link below within 7 days to confirm your e-mail address for ふるさと住民登録. "
                   "If you did not sign up, you can ignore this message."))
INVITATION = (N_("You are invited to ふるさと住民登録"),
              N_("A local government invited you to ふるさと住民登録. Open the link below within 7 days to set "
                 "your password. If you did not expect this, you can ignore this message."))
PASSWORD_RESET = (N_("Set a new password for ふるさと住民登録"),
                  N_("Open the link below within 24 hours to set a new password. If you did not ask for this, "
                     "you can ignore this message: your password stays as it is."))
MAIL_FOOTER = N_("Sent by ふるさと住民登録. Replies to this address are not read.")
