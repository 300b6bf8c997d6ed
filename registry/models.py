"""Every domain's models, imported in one place for Alembic and `create_all`."""
from registry.accounts.models import ApiToken, LoginThrottle, SetPasswordToken, User  # noqa: F401
from registry.audit.models import AuditEntry  # noqa: F401
from registry.announcements.models import Announcement, AnnouncementRead  # noqa: F401
from registry.benefits.models import Benefit  # noqa: F401
from registry.emergencies.models import AffectedOrganization, Emergency, Offer, Proxy  # noqa: F401
from registry.evidence.models import ActivityEvidence  # noqa: F401
from registry.figures.models import FigureCounter, FunnelCell, FunnelMark, PersonTally, RegistrationEvent  # noqa: F401
from registry.hosts.models import Host  # noqa: F401
from registry.invitations.models import Invitation  # noqa: F401
from registry.needs.models import Application, Need  # noqa: F401
from registry.notifications.models import Notification, OutboxMessage  # noqa: F401
from registry.opendata.models import OpenDataFile, OpenDataRelease  # noqa: F401
from registry.organizations.models import Organization, Ward  # noqa: F401
from registry.partners.models import (  # noqa: F401
    Partner, PartnerAuthorizationCode, PartnerGrant, PartnerToken, TrustedPartner,
)
from registry.registrations.models import (  # noqa: F401
    Activity, IdentityVerification, PremiumRequest, Registration,
)
