import uuid

from flask import Response, current_app
from flask_login import current_user
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict

from registry.common import limits
from registry.common.auth import RESIDENT, STAFF, require
from registry.i18n import N_
from registry.common.openapi import Blueprint as _Blueprint
from registry.common.pagination import PAGINATED, headers, paginate
from registry.common.schemas import PaginationSchema
from registry.errors import Problem
from registry.evidence import files, service
from registry.evidence.files import MAX_FILE_BYTES
from registry.evidence.schemas import EvidenceCreateSchema, EvidenceQuerySchema, EvidenceRejectSchema, EvidenceSchema

MULTIPART = "multipart"
parser = FlaskParser()


@parser.location_loader(MULTIPART)
def load_multipart(req, schema):
    """Form fields and file parts in one mapping (uploads are multipart/form-data, API.md)."""
    if req.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise Problem(415, "unsupported_media_type")
    data = MultiDict(req.form)
    for name, value in req.files.items(multi=True):
        data.add(name, value)
    return MultiDictProxy(data, schema)


class Blueprint(_Blueprint):
    """flask-smorest's Blueprint with a `multipart` location, documented as multipart/form-data."""

    ARGUMENTS_PARSER = parser
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {**_Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
                                             MULTIPART: "multipart/form-data"}


blp = Blueprint("evidence", __name__, description="Activity evidence for premium: submitted by registrants, "
                                                  "reviewed by the 団体's staff")


FILE = {"type": "string", "format": "binary"}
FILE_NOTE = "The file as stored, with its own content type."


def _me():
    return current_user._get_current_object()


def _store():
    return files.store_for(current_app.config)


def _read_upload(upload) -> bytes | None:
    """The file's bytes, at most 5 MB (413 beyond); None when no file was chosen."""
    if upload is None:
        return None
    data = upload.stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise Problem(413, "payload_too_large", errors={"file": [N_("The file is larger than 5 MB.")]})
    if not data and not upload.filename:  # a form's file input left empty
        return None
    return data


@blp.post("/registrations/<uuid:registration_id>/activity-evidence")
@limits.evidence_upload
@require(RESIDENT)
@blp.arguments(EvidenceCreateSchema, location=MULTIPART)
@blp.response(201, EvidenceSchema)
@blp.alt_response(409, response="CONFLICT")
@blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
def submit_evidence(data, registration_id: uuid.UUID):
    """Evidence of an activity done outside this service (multipart/form-data). The file is judged
    by its content: PDF, JPEG or PNG, at most 5 MB; images are stored without their EXIF data.
    Mask the Individual Number (マイナンバー) on any document."""
    upload = _read_upload(data.pop("file", None))
    return service.submit(_me(), registration_id, data, upload, store=_store())


@blp.get("/registrations/<uuid:registration_id>/activity-evidence")
@require(RESIDENT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, EvidenceSchema(many=True), headers=PAGINATED)
def list_own_evidence(args, registration_id: uuid.UUID):
    """Own evidence for a registration with status and reason, oldest first."""
    return paginate(service.of_registration(_me(), registration_id), args["page"], args["per_page"])


@blp.get("/activity-evidence")
@require(STAFF)
@blp.arguments(EvidenceQuerySchema, location="query")
@blp.response(200, EvidenceSchema(many=True), headers=PAGINATED)
def list_evidence(args):
    """Evidence for the staff's 団体 (`?status=pending`: the review queue), oldest first."""
    found = service.for_staff(_me(), args.get("status"), page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.get("/activity-evidence/<uuid:evidence_id>")
@require(RESIDENT, STAFF)
@blp.response(200, EvidenceSchema)
def get_evidence(evidence_id: uuid.UUID):
    return service.get_visible(_me(), evidence_id)


@blp.get("/activity-evidence/<uuid:evidence_id>/file")
@require(RESIDENT, STAFF)
@blp.response(200, FILE, content_type="application/pdf", description=FILE_NOTE)
@blp.alt_response(200, schema=FILE, content_type="image/jpeg", description=FILE_NOTE, success=True)
@blp.alt_response(200, schema=FILE, content_type="image/png", description=FILE_NOTE, success=True)
def get_evidence_file(evidence_id: uuid.UUID):
    """The stored file, to its owner and the 団体's staff only."""
    evidence, content = service.file_of(_me(), evidence_id, store=_store())
    extension = files.EXTENSIONS[evidence.file_type]
    # Shown, never run as part of the site (nosniff is on everywhere); browsers' PDF viewers do not
    # work in a sandbox, so only images get one.
    policy = "frame-ancestors 'self'" if evidence.file_type == files.PDF else \
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'"
    return Response(content, mimetype=evidence.file_type, headers={
        "Content-Disposition": f'inline; filename="evidence-{evidence.id}.{extension}"',
        "Cache-Control": "private, no-store", "Content-Security-Policy": policy})


@blp.post("/activity-evidence/<uuid:evidence_id>/approve")
@require(STAFF)
@blp.response(200, EvidenceSchema)
@blp.alt_response(409, response="CONFLICT")
def approve_evidence(evidence_id: uuid.UUID):
    """Records a designated activity on `done_on`, counted toward premium like a completed need."""
    return service.approve(_me(), evidence_id, shown=True)


@blp.post("/activity-evidence/<uuid:evidence_id>/reject")
@require(STAFF)
@blp.arguments(EvidenceRejectSchema)
@blp.response(200, EvidenceSchema)
@blp.alt_response(409, response="CONFLICT")
def reject_evidence(data, evidence_id: uuid.UUID):
    """Reject with a reason; `reason_code: individual_number_visible` deletes the file at once."""
    return service.reject(_me(), evidence_id, data["reason"], data.get("reason_code"), store=_store(), shown=True)
