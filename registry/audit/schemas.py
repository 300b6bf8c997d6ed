from marshmallow import fields

from registry.common.schemas import BaseSchema, Id, PaginationSchema, TokyoDateTime


class AuditQuerySchema(PaginationSchema):
    subject_id = fields.UUID()
    actor_id = fields.UUID(metadata={"description": "an account's id or a partner's client id"})


class AuditEntrySchema(BaseSchema):
    id = Id()
    actor_id = Id(attribute="acting_id", metadata={"description": "the account, or the partner's client id "
                                                                   "when `actor_role` is `partner`"})
    partner_id = Id(allow_none=True)
    actor_role = fields.String()
    organization_code = fields.String(allow_none=True)
    action = fields.String()
    subject_ids = fields.List(fields.String())
    subject_count = fields.Integer()
    at = TokyoDateTime()
