"""Announcing a change that domains above keep in step with, in the same transaction (blinker
signals: the announcing domain never imports them)."""
from blinker import Signal


def announce(signal: Signal, event, *, kept_by: str) -> None:
    """Sends `event` on `signal`; refuses to send into the void, since a change nobody keeps would leave
    what depends on it behind without a trace. `kept_by` names what should have subscribed."""
    if not signal.receivers:
        raise RuntimeError(f"nothing keeps {kept_by} in step")
    signal.send(event)
