"""The words of the account messages this package sends (the address check, an invitation, a
password reset) and of every e-mail's footer: (title, body) catalog messages, rendered in the
reader's language (e-mails: Japanese, then English). Each domain keeps the words of its own
notices (registrations/notices.py, needs/notices.py, evidence/notices.py …)."""
from registry.i18n import N_

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
