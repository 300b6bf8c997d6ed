import uuid

from flask import current_app
from flask_login import current_user

from registry.common.auth import ROLES, public, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, paginate
from registry.notifications import service, verification
from registry.notifications.schemas import (
    EmailVerifiedSchema, NotificationQuerySchema, NotificationSchema, VerificationRequestSchema, VerifyEmailSchema,
)

blp = Blueprint("notifications", __name__, description="The notifications inbox and e-mail address verification")


def _me():
    return current_user._get_current_object()


def _item(notification) -> dict:
    title, body = service.render(notification)
    return {"id": notification.id, "kind": notification.kind, "title": title, "body": body,
            "link": notification.link, "created_at": notification.created_at, "read_at": notification.read_at}


@blp.get("/me/notifications")
@require(*ROLES)
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, NotificationSchema(many=True), headers=PAGINATED)
def list_notifications(args):
    """Own notifications, newest first; `?unread=true` for the unread ones (`X-Total-Count` counts them)."""
    items, headers = paginate(service.inbox(_me(), unread=args.get("unread")), args["page"], args["per_page"])
    return [_item(n) for n in items], headers


@blp.post("/me/notifications/<uuid:notification_id>/read")
@require(*ROLES)
@blp.response(200, NotificationSchema)
def read_notification(notification_id: uuid.UUID):
    """Mark read; the first reading time stays."""
    return _item(service.mark_read(_me(), notification_id))


@blp.post("/auth/verify-email")
@public
@blp.arguments(VerifyEmailSchema)
@blp.response(200, EmailVerifiedSchema)
def verify_email(data):
    """The link e-mailed at signup: marks the address verified (notification e-mails go only to
    verified addresses); a bad, used-up or expired token is 422 `invalid_token`."""
    verification.verify(data["token"], current_app.config["SECRET_KEY"])
    return {"email_verified": True}


@blp.post("/me/email-verification")
@require(*ROLES)
@blp.response(202, VerificationRequestSchema)
def request_email_verification():
    """Send the address check again (`mail_off` when the service sends no e-mail)."""
    me = _me()
    if me.email_verified_at is not None:
        return {"status": "already_verified"}
    queued = verification.request_verification(me, settings=current_app.config)
    return {"status": "queued" if queued else "mail_off"}
