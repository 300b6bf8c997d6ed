from marshmallow import fields, validate

from registry.common.schemas import BaseSchema, OrganizationCode, TokyoDateTime
from registry.organizations.schemas import PrefectureParam


class TotalsQuerySchema(BaseSchema):
    organization = OrganizationCode()


class PrefectureQuerySchema(BaseSchema):
    prefecture = PrefectureParam()


class IntervalQuerySchema(BaseSchema):
    interval = fields.String(load_default="day", validate=validate.OneOf(["day", "month"]))


class PairSchema(BaseSchema):
    actual_people = fields.Raw()
    cumulative_registrations = fields.Raw()


class GoalSchema(PairSchema):
    target_year = fields.Integer()


class TotalsSchema(BaseSchema):
    organization_code = fields.String()
    actual_people = fields.Integer(allow_none=True)
    cumulative_registrations = fields.Integer(allow_none=True)
    premium_registrations = fields.Integer(allow_none=True)
    moved_in = fields.Integer(allow_none=True)
    goal = fields.Nested(GoalSchema, allow_none=True)
    progress = fields.Nested(PairSchema, allow_none=True)
    required_monthly_growth = fields.Nested(PairSchema, allow_none=True)
    as_of = TokyoDateTime()


class CountsSchema(BaseSchema):
    actual_people = fields.Integer(allow_none=True)
    cumulative_registrations = fields.Integer(allow_none=True)
    premium_registrations = fields.Integer(allow_none=True)
    moved_in = fields.Integer(allow_none=True)


class PrefectureFiguresSchema(CountsSchema):
    prefecture_code = fields.String()
    name = fields.String()


class OrganizationFiguresSchema(CountsSchema):
    organization_code = fields.String()
    name = fields.String()
    kind = fields.String()
    prefecture_code = fields.String()


class PeriodSchema(BaseSchema):
    period = fields.String()
    registered = fields.Integer(allow_none=True)
    withdrawn = fields.Integer(allow_none=True)
    moved_in = fields.Integer(allow_none=True)
    actual_people = fields.Integer(allow_none=True)
    cumulative_registrations = fields.Integer(allow_none=True)


class FlowSchema(BaseSchema):
    home_prefecture_code = fields.String()
    prefecture_code = fields.String()
    people = fields.Integer(allow_none=True)


class TierFiguresSchema(BaseSchema):
    tier = fields.String()
    actual_people = fields.Integer(allow_none=True)
    cumulative_registrations = fields.Integer(allow_none=True)


class TieFiguresSchema(BaseSchema):
    tie = fields.String()
    actual_people = fields.Integer(allow_none=True)
    cumulative_registrations = fields.Integer(allow_none=True)


class AgeBandFiguresSchema(BaseSchema):
    age_band = fields.String()
    actual_people = fields.Integer(allow_none=True)
    cumulative_registrations = fields.Integer(allow_none=True)


class TypeFiguresSchema(BaseSchema):
    type = fields.String(metadata={"description": "kinship, leisure, participation, work, two_region, contribution, other"})
    actual_people = fields.Integer(allow_none=True)
    cumulative_registrations = fields.Integer(allow_none=True)


class FunnelQuerySchema(BaseSchema):
    organization = OrganizationCode()


class ConversionSchema(BaseSchema):
    applied = fields.Float(allow_none=True)
    completed_activity = fields.Float(allow_none=True)
    premium = fields.Float(allow_none=True)
    renewed = fields.Float(allow_none=True)
    moved_in = fields.Float(allow_none=True)


class FunnelRowSchema(BaseSchema):
    cohort = fields.String(metadata={"description": "The month of registration (Asia/Tokyo), YYYY-MM."})
    registered = fields.Integer(allow_none=True)
    applied = fields.Integer(allow_none=True)
    completed_activity = fields.Integer(allow_none=True)
    premium = fields.Integer(allow_none=True)
    renewed = fields.Integer(allow_none=True)
    moved_in = fields.Integer(allow_none=True)
    conversion = fields.Nested(ConversionSchema, metadata={
        "description": "Each stage as a fraction of the one before (null where either is suppressed or the one "
                       "before is 0)."})
