"""A change is announced only to someone who keeps it (registry/common/events.py), in every domain
that announces one."""
from datetime import datetime, timezone
import uuid

import pytest
from blinker import Namespace

from registry.common import events
from registry.evidence import events as evidence_events
from registry.needs import events as needs_events
from registry.registrations import events as registrations_events


def test_an_announcement_reaches_its_keepers_and_refuses_the_void():
    signal = Namespace().signal("test-change")
    with pytest.raises(RuntimeError, match="nothing keeps the test figures in step"):
        events.announce(signal, "a change", kept_by="the test figures")
    heard = []
    signal.connect(heard.append, weak=False)
    events.announce(signal, "a change", kept_by="the test figures")
    assert heard == ["a change"]


@pytest.mark.parametrize("module, event", [
    (needs_events, needs_events.ApplicationEvent(needs_events.APPLIED, uuid.uuid4(), "212172",
                                                 datetime.now(timezone.utc))),
    (evidence_events, evidence_events.EvidenceEvent(evidence_events.APPROVED, uuid.uuid4(), "212172",
                                                    datetime.now(timezone.utc))),
    (registrations_events, registrations_events.RegistrationChange(None, None, datetime.now(timezone.utc))),
])
def test_each_domain_refuses_to_announce_to_nobody(module, event):
    saved = dict(module.changed.receivers)
    module.changed.receivers.clear()
    try:
        with pytest.raises(RuntimeError, match="nothing keeps"):
            module.announce(event)
    finally:
        module.changed.receivers.update(saved)
