"""The notices that several domains raise on a schedule: `send-notifications` creates the due ones
before it sends (each once per subject and date, also when runs overlap)."""
from datetime import datetime

from registry.common.time import utcnow
from registry.needs import notices as need_notices
from registry.notifications.service import one_writer_at_a_time
from registry.registrations import notices as registration_notices


def create_due_reminders(*, now: datetime | None = None) -> dict[str, int]:
    """Every due reminder, at the start of a transaction; the caller commits. Answers how many of
    each kind were created."""
    now = now or utcnow()
    one_writer_at_a_time()
    return {"premium_expiring": registration_notices.premium_expiring(now=now),
            "need_reminder": need_notices.need_starts_tomorrow(now=now)}
