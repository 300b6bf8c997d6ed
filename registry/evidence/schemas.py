from marshmallow import ValidationError, fields, validate
from flask_smorest.fields import Upload
from werkzeug.datastructures import FileStorage

from registry.i18n import N_
from registry.common.schemas import BaseSchema, CalendarDate, Id, PaginationSchema, Text, TokyoDateTime
from registry.evidence.models import KINDS, REASON_CODES, STATUSES


def no_nul(value: str) -> None:
    """PostgreSQL text cannot hold NUL: refused here (422), not at the database (500)."""
    if "\x00" in value:
        raise ValidationError(N_("The text may not contain NUL characters."))


class FileField(Upload):
    """A file part of a multipart body (a plain form field of the same name is refused)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ValidationError(N_("Send a file."))
        return value


class EvidenceCreateSchema(BaseSchema):
    """multipart/form-data; `file` is optional (PDF, JPEG or PNG, judged by content, at most 5 MB)."""
    kind = fields.String(required=True, validate=validate.OneOf(KINDS),
                         metadata={"description": "a tie name or `event`"})
    done_on = CalendarDate(required=True, metadata={"description": "today or within the last 12 months"})
    description = Text(2000, required=True, validate=[validate.Length(min=1), no_nul])
    host_name = Text(200, allow_none=True, validate=no_nul)
    file = FileField(metadata={"description": "PDF, JPEG or PNG, at most 5 MB; images lose their EXIF data"})


class EvidenceSchema(BaseSchema):
    id = Id()
    registration_id = Id()
    organization_code = fields.String()
    kind = fields.String()
    done_on = fields.Date()
    description = fields.String()
    host_name = fields.String(allow_none=True)
    status = fields.String()
    reason = fields.String(allow_none=True)
    reason_code = fields.String(allow_none=True)
    has_file = fields.Boolean()
    file_type = fields.String(allow_none=True)
    file_size = fields.Integer(allow_none=True)
    created_at = TokyoDateTime()
    decided_at = TokyoDateTime(allow_none=True)
    source = fields.String(metadata={"description": "`upload` (the person's) or `partner` (a partner's report)"})
    partner_name = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True, metadata={"description": "the partner's own id of the activity"})


class EvidenceQuerySchema(PaginationSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))


class EvidenceRejectSchema(BaseSchema):
    reason = Text(1000, required=True, validate=[validate.Length(min=1), no_nul])
    reason_code = fields.String(validate=validate.OneOf(REASON_CODES), metadata={
        "description": "`individual_number_visible`: the document shows the Individual Number unmasked; "
                       "its file is deleted at once"})
