"""What happens to applications, announced to the domains above that keep something in step with it
in the same transaction (the relationship funnel, registry/figures/funnel.py, subscribes); this
domain never imports them. `announce()` refuses to send into the void, as registrations' does."""
import uuid
from dataclasses import dataclass
from datetime import datetime

from blinker import Namespace

from registry.common import events as common

APPLIED, COMPLETED = "applied", "completed"

_signals = Namespace()
changed = _signals.signal("application-changed")


@dataclass(frozen=True)
class ApplicationEvent:
    """`kind` APPLIED (a person applied to a need, waitlisted or not) or COMPLETED (an accepted
    application completed); `organization_code` is the need's 団体."""
    kind: str
    user_id: uuid.UUID
    organization_code: str
    now: datetime


def announce(event: ApplicationEvent) -> None:
    common.announce(changed, event, kept_by="the relationship funnel with applications "
                                            "(registry.figures.funnel.subscribe)")
