"""What happens to registrations, announced to the domains above that keep something in step with
it in the same transaction: the figures (counters, person tallies, the event ledger, the relationship
funnel) and the operations' metrics subscribe; this domain never imports them.

Each change of what is counted is one `RegistrationChange`: the registrations leaving the counted
state and those entering it, as `Counted` snapshots (a premium grant is the basic registration
leaving and the premium one entering). `announce()` refuses to send into the void: a change nobody
keeps would leave the figures behind without a trace.
"""
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from blinker import Namespace

from registry.common import events as common

# Ledger event kinds (registry/figures/models.py RegistrationEvent.kind).
REGISTERED, WITHDRAWN, MOVED_IN = "registered", "withdrawn", "moved_in"
PREMIUM_GRANTED, PREMIUM_RENEWED, PREMIUM_LAPSED, ERASED = (
    "premium_granted", "premium_renewed", "premium_lapsed", "erased")
RESTATED = "restated"  # the ledger's own kind for a restatement (a change announced with kind None)

_signals = Namespace()
changed = _signals.signal("registration-changed")


@dataclass(frozen=True)
class Counted:
    """What the figures count of one active registration (`premium_valid_until`: a premium's last
    valid day, which decides when it counts as basic in every figure)."""
    organization_code: str
    prefecture_code: str
    tier: str
    ties: tuple[str, ...]
    premium_valid_until: date | None = None

    @classmethod
    def of(cls, registration) -> "Counted":
        return cls(registration.organization_code, registration.prefecture_code, registration.tier,
                   tuple(registration.ties), registration.premium_valid_until)


@dataclass(frozen=True)
class PersonFacts:
    """What the figures file a person's registrations under besides the registration itself."""
    home_municipality_code: str | None
    birth_year: int | None

    @classmethod
    def of(cls, user) -> "PersonFacts":
        return cls(user.home_municipality_code, user.birth_year)


@dataclass
class RegistrationChange:
    """`kind` None is a restatement: the person's home or birth year changed (`before` holds the old
    ones) and their active registrations move between the figures' cells (the ledger notes it as
    `RESTATED`, with the old home, so that a past month's figures can be worked out again). A
    renewal leaves and enters the same registration, before and after its new `premium_valid_until`."""
    user: object  # registry.accounts.models.User
    kind: str | None
    now: datetime
    leaving: list[Counted] = field(default_factory=list)
    entering: list[Counted] = field(default_factory=list)
    registration_id: uuid.UUID | None = None
    organization_code: str | None = None
    actor_id: uuid.UUID | None = None
    before: PersonFacts | None = None


def announce(change: RegistrationChange) -> None:
    common.announce(changed, change, kept_by="the figures with registrations (registry.figures.subscribe)")
