"""What happens to activity evidence, announced to the domains above that keep something in step
with it in the same transaction (the relationship funnel, registry/figures/funnel.py, subscribes);
this domain never imports them."""
import uuid
from dataclasses import dataclass
from datetime import datetime

from blinker import Namespace

from registry.common import events as common

APPROVED = "approved"

_signals = Namespace()
changed = _signals.signal("evidence-changed")


@dataclass(frozen=True)
class EvidenceEvent:
    """`kind` APPROVED: evidence of an activity for `organization_code` was approved (a designated
    activity, as a completed need is)."""
    kind: str
    user_id: uuid.UUID
    organization_code: str
    now: datetime


def announce(event: EvidenceEvent) -> None:
    common.announce(changed, event, kept_by="the relationship funnel with evidence "
                                            "(registry.figures.funnel.subscribe)")
