"""Every domain's models, imported in one place for Alembic and `create_all`."""
from registry.accounts.models import ApiToken, User  # noqa: F401
from registry.figures.models import FigureCounter, PersonTally  # noqa: F401
from registry.organizations.models import Organization, Ward  # noqa: F401
from registry.registrations.models import (  # noqa: F401
    Activity, IdentityVerification, PremiumRequest, Registration, RegistrationEvent,
)
