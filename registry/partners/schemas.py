from marshmallow import fields, validate

from registry.common.schemas import (
    BaseSchema, CalendarDate, Id, NonEmptyText, OrganizationCode, TokyoDateTime,
)
from registry.evidence.models import KINDS
from registry.evidence.schemas import EvidenceSchema
from registry.partners.models import SCOPES


class PartnerRegistrationSchema(BaseSchema):
    organization_code = fields.String()
    tier = fields.String(metadata={"description": "`basic` or `premium` (premium only while valid)"})
    registered_at = TokyoDateTime()


class PartnerMeSchema(BaseSchema):
    registrations = fields.List(fields.Nested(PartnerRegistrationSchema))


class ActivityReportSchema(BaseSchema):
    organization_code = OrganizationCode(required=True, metadata={"example": "212172"})
    done_on = CalendarDate(required=True, metadata={"description": "today or within the last 12 months"})
    title = NonEmptyText(200, required=True, metadata={"description": "what the person did, shown to the 団体's staff"})
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata={"description": "a tie name or `event`"})
    # The partner's own id of the activity: the same id again for the same person answers the first report.
    external_id = NonEmptyText(200, required=True, metadata={"description": "the partner's own id of the activity"})


class ReportedActivitySchema(EvidenceSchema):
    """The evidence the report became (`source` "partner")."""


class GrantSchema(BaseSchema):
    id = Id()
    partner_name = fields.String()
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)))
    granted_at = TokyoDateTime()
    last_used_at = TokyoDateTime(allow_none=True)


class TrustCreateSchema(BaseSchema):
    client_id = fields.UUID(required=True, metadata={"description": "the partner's client id"})


class TrustSchema(BaseSchema):
    organization_code = fields.String()
    client_id = fields.String()
    partner_name = fields.String()
    trusted_at = TokyoDateTime()
