from marshmallow import ValidationError, fields, validate

from registry.common.schemas import BaseSchema, BoundedString, PaginationSchema
from registry.organizations.codes import normalize_prefecture_param
from registry.i18n import N_


class PrefectureParam(fields.String):
    """`21`, `1`–`47`, `01`–`47` or `210005`, loaded as the prefecture's 6-digit code."""

    def _deserialize(self, value, attr, data, **kwargs):
        code = normalize_prefecture_param(super()._deserialize(value, attr, data, **kwargs)[:8])
        if code is None:
            raise ValidationError(N_("Not a valid prefecture."))
        return code


class OrganizationQuerySchema(PaginationSchema):
    kind = fields.String(validate=validate.OneOf(["municipality", "prefecture"]))
    prefecture = PrefectureParam()
    q = BoundedString(100)  # a search term, never stored


class OrganizationSchema(BaseSchema):
    code = fields.String(metadata={"example": "212172"})
    name = fields.String(metadata={"example": "飛騨市"})
    kana = fields.String(metadata={"example": "ひだし"})
    kind = fields.String(metadata={"example": "municipality"})
    prefecture_code = fields.String(metadata={"example": "210005"})
    lat = fields.Float()
    lng = fields.Float()


class OrganizationBenefitSchema(BaseSchema):
    title = fields.String()
    description = fields.String()
    tier = fields.String()
    kind = fields.String()
    valid_until = fields.Date(allow_none=True)


class OrganizationDetailSchema(OrganizationSchema):
    benefits = fields.List(fields.Nested(OrganizationBenefitSchema),
                           metadata={"description": "current benefits (サポート施策) for its registrants, per tier"})
