from marshmallow import fields

from registry.common.schemas import BaseSchema, TokyoDateTime


class ReleaseFileSchema(BaseSchema):
    name = fields.String()
    media_type = fields.String()
    bytes = fields.Integer()
    sha256 = fields.String(metadata={"description": "Lowercase hex SHA-256 of the file's bytes."})
    url = fields.String(metadata={"description": "Where the file is served (immutable)."})


class ReleaseSchema(BaseSchema):
    release = fields.String(metadata={"description": "The month covered, YYYY-MM."})
    as_of = fields.Date(metadata={"description": "Its last day (Asia/Tokyo): the figures as they stood then."})
    published_at = TokyoDateTime()
    files = fields.List(fields.Nested(ReleaseFileSchema))
