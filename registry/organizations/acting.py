"""Rules about 団体 that a higher domain supplies and the domains below it ask, without importing it.

An emergency (registry/emergencies/) changes what the staff of a 団体 may do: a proxy 団体 acts for
the stricken ones (posts needs and announcements for them, as 代理寄付 works in ふるさと納税), and a
stricken 団体's needs may be marked urgent. Needs and announcements sit below emergencies in the
layers (docs/architecture.md), so they ask here instead; emergencies provides the answers once, when
the app is made (`registry.emergencies.service.provide_rules`, called by `create_app` as the figures
subscribe to registration events). Without a provider (a domain tested alone) nobody acts for
another 団体 and no 団体 is in an emergency.
"""
from collections.abc import Callable

ActsFor = Callable[[str, str], bool]  # (agent 団体 code, principal 団体 code) → may act for it now
InEmergency = Callable[[str], bool]  # 団体 code → an active emergency touches it now

_acts_for: list[ActsFor] = []
_in_emergency: list[InEmergency] = []


def provide(*, acts_for: ActsFor, in_emergency: InEmergency) -> None:
    """Registers a provider's rules (once: providing the same functions again changes nothing)."""
    if acts_for not in _acts_for:
        _acts_for.append(acts_for)
    if in_emergency not in _in_emergency:
        _in_emergency.append(in_emergency)


def acts_for(agent_code: str | None, principal_code: str) -> bool:
    """May the staff of `agent_code` act for `principal_code` (not their own) right now?"""
    if agent_code is None or agent_code == principal_code:
        return False
    return any(rule(agent_code, principal_code) for rule in _acts_for)


def in_emergency(code: str) -> bool:
    """Is `code` one of the 団体 an active emergency names?"""
    return any(rule(code) for rule in _in_emergency)
