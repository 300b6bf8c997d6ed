from flask_login import current_user

from registry.audit import service
from registry.audit.schemas import AuditEntrySchema, AuditQuerySchema
from registry.common.auth import ADMIN, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, paginate

blp = Blueprint("audit", __name__, description="The audit log of staff reads of personal data (admins only; read-only)")


@blp.get("/audit")
@require(ADMIN)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditEntrySchema(many=True), headers=PAGINATED)
def list_entries(args):
    """Newest first; filter by the person whose data was read (`subject_id`) or by the reader."""
    page, per_page = args.pop("page"), args.pop("per_page")
    return paginate(service.entries(current_user, **args), page, per_page)
