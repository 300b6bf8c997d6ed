from marshmallow import fields

from registry.common.schemas import BaseSchema, Id, NonEmptyText, TokyoDateTime


class AnnouncementCreateSchema(BaseSchema):
    title = NonEmptyText(200, required=True)
    body = NonEmptyText(10_000, required=True)


class AnnouncementSchema(BaseSchema):
    id = Id()
    organization_code = fields.String()
    title = fields.String()
    body = fields.String()
    created_at = TokyoDateTime()


class AnnouncementDeliverySchema(AnnouncementSchema):
    recipients = fields.Integer(allow_none=True, metadata={"description": "null until the fan-out has started"})
    notified = fields.Integer()
    emailed = fields.Integer()
    failed = fields.Integer()


class InboxAnnouncementSchema(AnnouncementSchema):
    read_at = TokyoDateTime(allow_none=True)
    read = fields.Function(lambda item: item["read_at"] is not None)
