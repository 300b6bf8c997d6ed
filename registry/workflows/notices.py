"""The notices that several domains raise, for `send-notifications`: the due reminders (each once per
subject and date, also when runs overlap) and the fan-out of broadcasts (announcements, emergencies),
each domain saying who its broadcasts reach."""
from datetime import datetime

from registry.common.time import utcnow
from registry.announcements import service as announcements
from registry.emergencies import consoles as emergency_consoles, ties as emergency_ties
from registry.needs import notices as need_notices
from registry.notifications import broadcasts
from registry.notifications.models import ANNOUNCEMENT, EMERGENCY
from registry.notifications.service import one_writer_at_a_time
from registry.registrations import notices as registration_notices


def create_due_reminders(*, now: datetime | None = None) -> dict[str, int]:
    """Every due reminder, at the start of a transaction; the caller commits. Answers how many of
    each kind were created."""
    now = now or utcnow()
    one_writer_at_a_time()
    return {"premium_expiring": registration_notices.premium_expiring(now=now),
            "need_reminder": need_notices.need_starts_tomorrow(now=now)}


AUDIENCES = {ANNOUNCEMENT: announcements.audience, EMERGENCY: emergency_ties.audience}


def fan_out_broadcasts(*, max_batches: int | None = None) -> dict[str, int]:
    """Every pending broadcast fanned out, batch by batch (each batch commits). Answers {kind: notified}."""
    return broadcasts.fan_out(AUDIENCES, max_batches=max_batches)


def emergency_progress() -> list[str]:
    """Each active emergency's delivery so far, as lines for the command line (a text progress bar of
    notified of recipients; e-mailed; failed; offers)."""
    return [line for item in emergency_consoles.progress_of_active()
            for line in emergency_consoles.progress_lines(item)]
