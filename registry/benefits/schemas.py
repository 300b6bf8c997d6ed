from marshmallow import ValidationError, fields, validate

from registry.benefits.models import KINDS, TIERS
from registry.common.schemas import BaseSchema, CalendarDate, Id, PaginationSchema, Text, TokyoDateTime
from registry.i18n import N_


def no_nul(value: str) -> None:
    """PostgreSQL text cannot hold NUL: refused here (422), not at the database (500)."""
    if "\x00" in value:
        raise ValidationError(N_("The text may not contain NUL characters."))


class BenefitCreateSchema(BaseSchema):
    title = Text(200, required=True, validate=[validate.Length(min=1), no_nul],
                 metadata={"example": "市営温泉の住民料金"})
    description = Text(4000, load_default="", validate=no_nul)
    tier = fields.String(required=True, validate=validate.OneOf(TIERS))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    valid_from = CalendarDate(allow_none=True)
    valid_until = CalendarDate(allow_none=True, metadata={"description": "the last day included"})


class BenefitSchema(BaseSchema):
    id = Id()
    organization_code = fields.String()
    title = fields.String()
    description = fields.String()
    tier = fields.String()
    kind = fields.String()
    valid_from = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    created_at = TokyoDateTime()


class BenefitQuerySchema(PaginationSchema):
    tier = fields.String(validate=validate.OneOf(TIERS), metadata={
        "description": "only what this tier gets (premium: basic and premium)"})
    all = fields.Boolean(load_default=False, metadata={
        "description": "also scheduled and ended ones (the 団体's own staff only)"})
