from marshmallow import fields, validate

from registry.common.schemas import (
    BaseSchema, BoundedString, CalendarDate, Id, NonEmptyText, OrganizationCode, PaginationSchema, StringList, Text,
    TokyoDateTime,
)
from registry.needs.models import KINDS
from registry.organizations.schemas import PrefectureParam

APPLICATION_STATUSES = ("applied", "waitlisted", "accepted", "declined", "cancelled", "completed", "no_show")


class PlaceSchema(BaseSchema):
    name = NonEmptyText(200, required=True)
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lng = fields.Float(required=True, validate=validate.Range(min=-180, max=180))


class NeedUpdateSchema(BaseSchema):
    kind = fields.String(validate=validate.OneOf(KINDS))
    title = NonEmptyText(200)
    description = Text(10_000)
    host_name = Text(200, allow_none=True)
    skills = StringList(20, 50)
    remote = fields.Boolean()
    place = fields.Nested(PlaceSchema, allow_none=True)
    starts_on = CalendarDate()
    ends_on = CalendarDate()
    apply_by = CalendarDate()
    capacity = fields.Integer(strict=True, validate=validate.Range(min=1, max=10_000))
    reward = Text(1000)
    counts_as_activity = fields.Boolean()
    urgent = fields.Boolean(metadata={"description": "only while an emergency naming the 団体 is active"})


class NeedCreateSchema(NeedUpdateSchema):
    organization_code = OrganizationCode(required=True, metadata={"example": "212172"})
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    title = NonEmptyText(200, required=True)
    starts_on = CalendarDate(required=True)
    ends_on = CalendarDate(required=True)
    apply_by = CalendarDate(required=True)
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10_000))


class NeedQuerySchema(PaginationSchema):
    organization = OrganizationCode()
    prefecture = PrefectureParam()
    kind = fields.String(validate=validate.OneOf(KINDS))
    skill = BoundedString(50)  # search terms, never stored
    q = BoundedString(100)
    starts_from = CalendarDate()
    starts_until = CalendarDate()
    remote = fields.Boolean()
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "closed", "cancelled"]))


class NeedSchema(BaseSchema):
    id = Id()
    organization_code = fields.String()
    prefecture_code = fields.String()
    kind = fields.String()
    title = fields.String()
    description = fields.String()
    host_name = fields.String(allow_none=True)
    host_id = Id(allow_none=True)
    skills = fields.List(fields.String())
    remote = fields.Boolean()
    place = fields.Nested(PlaceSchema, allow_none=True)
    starts_on = fields.Date()
    ends_on = fields.Date()
    apply_by = fields.Date()
    capacity = fields.Integer()
    accepted_count = fields.Integer()
    reward = fields.String()
    counts_as_activity = fields.Boolean()
    urgent = fields.Boolean()
    status = fields.Function(lambda need: need.effective_status())
    created_at = TokyoDateTime()
    updated_at = TokyoDateTime()


class ApplySchema(BaseSchema):
    message = Text(2000, allow_none=True)


class ApplicantSchema(BaseSchema):
    id = Id()
    display_name = fields.String(allow_none=True)


class NeedSummarySchema(BaseSchema):
    id = Id()
    organization_code = fields.String()
    title = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    status = fields.Function(lambda need: need.effective_status())


class ApplicationSchema(BaseSchema):
    id = Id()
    need_id = Id()
    status = fields.String(metadata={"enum": list(APPLICATION_STATUSES)})
    message = fields.String(allow_none=True)
    applicant = fields.Nested(ApplicantSchema)
    need = fields.Nested(NeedSummarySchema)
    created_at = TokyoDateTime()
    decided_at = TokyoDateTime(allow_none=True)
    completed_on = fields.Date(allow_none=True)
    checked_in_at = TokyoDateTime(allow_none=True)


class ActivitySchema(BaseSchema):
    organization_code = fields.String()
    source = fields.String()
    need_id = Id(allow_none=True)
    evidence_id = Id(allow_none=True)
    completed_on = fields.Date()


class LimitSchema(BaseSchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RecommendationSchema(BaseSchema):
    need = fields.Nested(NeedSchema)
    score = fields.Float()
    reasons = fields.List(fields.String())


class RegistrantSummarySchema(BaseSchema):
    id = Id()
    display_name = fields.String(allow_none=True)
    age_band = fields.String(allow_none=True)
    skills = fields.List(fields.String())


class CandidateSchema(BaseSchema):
    registrant = fields.Nested(RegistrantSummarySchema)
    score = fields.Float()
    reasons = fields.List(fields.String())


class ApplicationQuerySchema(PaginationSchema):
    status = fields.String(validate=validate.OneOf(APPLICATION_STATUSES))


MANAGED_NEED_STATUSES = ("draft", "open", "closed", "cancelled")


class ManagedNeedQuerySchema(PaginationSchema):
    status = fields.String(validate=validate.OneOf(MANAGED_NEED_STATUSES))


class CheckInCodeSchema(BaseSchema):
    need_id = Id()
    code = fields.String(metadata={"description": "6 digits; good for this minute and the next"})
    qr_svg = fields.String(metadata={"description": "a QR of `url`, the page where the applicant checks in"})
    url = fields.String()
    expires_at = TokyoDateTime()


class CheckInSchema(BaseSchema):
    code = BoundedString(32, required=True, metadata={"example": "042917"})


class CompletedCountSchema(BaseSchema):
    completed = fields.Integer()
