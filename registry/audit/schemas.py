from marshmallow import fields

from registry.common.schemas import BaseSchema, Id, PaginationSchema, TokyoDateTime


class AuditQuerySchema(PaginationSchema):
    subject_id = fields.UUID()
    actor_id = fields.UUID()


class AuditEntrySchema(BaseSchema):
    id = Id()
    actor_id = Id()
    actor_role = fields.String()
    organization_code = fields.String(allow_none=True)
    action = fields.String()
    subject_ids = fields.List(fields.String())
    subject_count = fields.Integer()
    at = TokyoDateTime()
