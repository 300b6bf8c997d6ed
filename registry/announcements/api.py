import uuid

from flask_login import current_user

from registry.announcements import service
from registry.announcements.schemas import (
    AnnouncementCreateSchema, AnnouncementDeliverySchema, AnnouncementSchema, InboxAnnouncementSchema,
)
from registry.common.auth import RESIDENT, STAFF, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, headers, paginate
from registry.common.schemas import PaginationSchema

blp = Blueprint("announcements", __name__, description="Announcements from 団体 to their registrants")


def _me():
    return current_user._get_current_object()


@blp.post("/organizations/<string:code>/announcements")
@require(STAFF)
@blp.arguments(AnnouncementCreateSchema)
@blp.response(201, AnnouncementSchema)
def post_announcement(data, code: str):
    """Send an announcement to the 団体's registrants (and, for a prefecture, its municipalities')."""
    return service.post(_me(), code, data["title"], data["body"])


@blp.get("/organizations/<string:code>/announcements")
@require(STAFF)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, AnnouncementSchema(many=True), headers=PAGINATED)
def list_sent_announcements(args, code: str):
    """What the 団体 has sent, newest first."""
    found = service.sent_by(_me(), code, page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.get("/organizations/<string:code>/announcements/<uuid:announcement_id>")
@require(STAFF)
@blp.response(200, AnnouncementDeliverySchema)
def get_sent_announcement(code: str, announcement_id: uuid.UUID):
    """One announcement the 団体 sent, with its delivery so far: `recipients` (null until
    send-notifications starts the fan-out), `notified` (in the app), `emailed`, `failed`."""
    return service.sent(_me(), code, announcement_id)


@blp.get("/me/announcements")
@require(RESIDENT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, InboxAnnouncementSchema(many=True), headers=PAGINATED)
def my_announcements(args):
    """Announcements of my 団体 and their prefectures, newest first, with `read_at`; empty unless I
    consented to announcements."""
    rows, headers = paginate(service.inbox(_me()), args["page"], args["per_page"], rows=True)
    return [_item(announcement, read_at) for announcement, read_at in rows], headers


@blp.post("/me/announcements/<uuid:announcement_id>/read")
@require(RESIDENT)
@blp.response(200, InboxAnnouncementSchema)
def read_announcement(announcement_id: uuid.UUID):
    return _item(*service.mark_read(_me(), announcement_id))


def _item(announcement, read_at) -> dict:
    return {"id": announcement.id, "organization_code": announcement.organization_code,
            "title": announcement.title, "body": announcement.body, "created_at": announcement.created_at,
            "read_at": read_at}
