from marshmallow import fields, validate

from registry.common.schemas import (
    BaseSchema, CalendarDate, Id, NonEmptyText, OrganizationCode, PaginationSchema, StringList, Text, TokyoDateTime,
)
from registry.emergencies.models import OFFER_KINDS, STATUSES

MAX_ORGANIZATIONS = 200  # a prefecture and every one of its municipalities (北海道: 179)


class EmergencyCreateSchema(BaseSchema):
    title = NonEmptyText(200, required=True)
    message = NonEmptyText(10_000, required=True)
    organization_codes = fields.List(OrganizationCode(), required=True,
                                     validate=validate.Length(min=1, max=MAX_ORGANIZATIONS),
                                     metadata={"example": ["212172"]})


class EmergencyQuerySchema(PaginationSchema):
    status = fields.String(load_default="active", validate=validate.OneOf(STATUSES))


class EmergencySchema(BaseSchema):
    id = Id()
    title = fields.String()
    message = fields.String()
    organization_codes = fields.List(fields.String())
    proxy_codes = fields.List(fields.String(), metadata={"description": "団体 acting for the affected ones"})
    status = fields.String(metadata={"enum": list(STATUSES)})
    declared_at = TokyoDateTime()
    closed_at = TokyoDateTime(allow_none=True)


class MyOfferSchema(BaseSchema):
    id = Id()
    kinds = fields.List(fields.String(metadata={"enum": list(OFFER_KINDS)}))
    skills = fields.List(fields.String())
    available_from = fields.Date(allow_none=True)
    available_until = fields.Date(allow_none=True)
    message = fields.String(allow_none=True)
    created_at = TokyoDateTime()
    updated_at = TokyoDateTime()


class EmergencyDetailSchema(EmergencySchema):
    """Delivery and offers are there for the staff of an affected or proxy 団体 and the national
    office; `can_offer` and `my_offer` for a signed-in resident."""
    recipients = fields.Integer(allow_none=True, metadata={"description": "null until the fan-out has started"})
    notified = fields.Integer()
    emailed = fields.Integer()
    failed = fields.Integer()
    offers = fields.Integer()
    can_offer = fields.Boolean(metadata={"description": "the signed-in resident is tied to an affected 団体"})
    my_offer = fields.Nested(MyOfferSchema, allow_none=True)


class OfferCreateSchema(BaseSchema):
    kinds = fields.List(fields.String(validate=validate.OneOf(OFFER_KINDS)), required=True,
                        validate=validate.Length(min=1, max=len(OFFER_KINDS)))
    skills = StringList(20, 50, load_default=list)
    available_from = CalendarDate(allow_none=True)
    available_until = CalendarDate(allow_none=True)
    message = Text(2000, allow_none=True)


class OfferSchema(BaseSchema):
    id = Id()
    display_name = fields.String(allow_none=True)
    age_band = fields.String(allow_none=True)
    skills = fields.List(fields.String())
    kinds = fields.List(fields.String(metadata={"enum": list(OFFER_KINDS)}))
    available_from = fields.Date(allow_none=True)
    available_until = fields.Date(allow_none=True)
    message = fields.String(allow_none=True)
    email = fields.String(allow_none=True, metadata={"description": "making an offer is consent to be contacted "
                                                                   "about this emergency"})
    created_at = TokyoDateTime()
    updated_at = TokyoDateTime()


class ProxyCreateSchema(BaseSchema):
    organization_code = OrganizationCode(required=True, metadata={"example": "212032"})


class ProxySchema(BaseSchema):
    emergency_id = Id()
    organization_code = fields.String()
    named_at = TokyoDateTime()
