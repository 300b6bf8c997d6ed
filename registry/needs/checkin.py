"""Check-in on the day: proof that an accepted applicant came (DESIGN.md "Hosts (ヌシ) and proof of
participation").

The code is a 6-digit HOTP-style truncation of HMAC-SHA256 over the need's id and the current minute
(Unix time // 60), keyed by a key derived from SECRET_KEY for this purpose alone. Nothing is stored:
the host's screen shows the current minute's code, and a code of the current or the previous minute
is accepted, so a code shown is good for 60–120 seconds. Guessing: 2 good codes in 10^6 per try,
and tries are rate limited per account (limits.PER_ACCOUNT_CHECK_IN); a need's code says nothing
of another need's, nor of the next minute's, without the key.
"""
import hashlib
import hmac
import io
import uuid
from datetime import date, datetime, timezone
from urllib.parse import urlencode

import segno
from sqlalchemy import select

from registry.accounts.models import User
from registry.i18n import N_
from registry.common.time import today_tokyo, utcnow
from registry.errors import Problem, not_found
from registry.extensions import db
from registry.needs import service as needs
from registry.needs.models import ACCEPTED, CANCELLED, CLOSED, COMPLETED, OPEN, Application, Need

PURPOSE = b"registry.check-in-code.v1"
DIGITS = 6
STEP_SECONDS = 60
PAGE_PATH = "/my/check-in"


def _key(secret_key: str | bytes) -> bytes:
    secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(secret, PURPOSE, hashlib.sha256).digest()


def _minute(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_for(need_id: uuid.UUID, minute: int, secret_key: str | bytes) -> str:
    """The need's code for one minute (RFC 4226 dynamic truncation of HMAC-SHA256)."""
    digest = hmac.new(_key(secret_key), need_id.bytes + minute.to_bytes(8, "big"), hashlib.sha256).digest()
    offset = digest[-1] & 0x0F
    number = int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFF_FFFF
    return f"{number % 10 ** DIGITS:0{DIGITS}d}"


def is_valid(need_id: uuid.UUID, code: str, secret_key: str | bytes, now: datetime) -> bool:
    """The current or the previous minute's code, compared in constant time."""
    code = (code or "").strip()
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return False
    minute = _minute(now)
    return any(hmac.compare_digest(code, code_for(need_id, m, secret_key)) for m in (minute, minute - 1))


def in_progress(need: Need, today: date) -> bool:
    return need.status in (OPEN, CLOSED) and need.starts_on <= today <= need.ends_on


def page_url(site_root: str, need_id: uuid.UUID, code: str) -> str:
    return f"{site_root.rstrip('/')}{PAGE_PATH}?{urlencode({'need': str(need_id), 'code': code})}"


def qr_svg(url: str) -> str:
    """An SVG QR code of `url` (as certificates draw theirs), for a phone to read off a screen."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="svg", scale=4, border=4, dark="#000", light="#fff",
                                                 xmldecl=False, nl=False, omitsize=True, title="check-in QR")
    return out.getvalue().decode("utf-8")


def current_code(actor: User, need_id: uuid.UUID, *, secret_key: str, site_root: str,
                 now: datetime | None = None) -> dict:
    """GET /needs/{id}/check-in-code: the need's host or its 団体's staff, while the need is in
    progress (starts_on ≤ today ≤ ends_on, Tokyo; not a draft, not cancelled), else 409
    `not_in_progress`."""
    _need, shown = screen(actor, need_id, secret_key=secret_key, site_root=site_root, now=now)
    if shown is None:
        raise Problem(409, "not_in_progress")
    return shown


def screen(actor: User, need_id: uuid.UUID, *, secret_key: str, site_root: str,
           now: datetime | None = None) -> tuple[Need, dict | None]:
    """The host's check-in screen: (the need, its current code as `current_code` answers it), the
    code None while the need is not in progress. 404/403 as `needs.managed_need`."""
    now = now or utcnow()
    need = needs.managed_need(actor, need_id)
    if not in_progress(need, today_tokyo(now)):
        return need, None
    minute = _minute(now)
    code = code_for(need.id, minute, secret_key)
    url = page_url(site_root, need.id, code)
    return need, {"need_id": need.id, "code": code, "qr_svg": qr_svg(url), "url": url,
                  "expires_at": datetime.fromtimestamp((minute + 2) * STEP_SECONDS, timezone.utc)}


def check_in(user: User, need_id: uuid.UUID, code: str, *, secret_key: str,
             now: datetime | None = None) -> Application:
    """POST /needs/{id}/check-in by the applicant. Refusals change nothing: 404 for a need the
    person cannot see, 409 `already_checked_in` (the first time stays), 409 `not_accepted`,
    409 `invalid_state` for a cancelled need, 422 `invalid_check_in` for a wrong or expired code."""
    now = now or utcnow()
    need = db.session.get(Need, need_id)
    if need is None or not needs.can_view(user, need):
        raise not_found()
    need = needs.lock_need(need.id)  # every change to a need's applications holds the need's lock
    application = db.session.scalar(
        select(Application).where(Application.need_id == need.id, Application.user_id == user.id,
                                  Application.status != "cancelled")
        .execution_options(populate_existing=True))
    if application is not None and application.checked_in_at is not None:
        raise Problem(409, "already_checked_in")
    if application is None or application.status != ACCEPTED:
        raise Problem(409, "not_accepted")
    if need.status == CANCELLED:
        raise Problem(409, "invalid_state", N_("This need has been cancelled."))
    if not is_valid(need.id, code, secret_key, now):
        raise Problem(422, "invalid_check_in", errors={"code": [N_("This code is wrong or has expired.")]})
    application.checked_in_at = application.updated_at = now
    db.session.flush()
    return application


def complete_checked_in(actor: User, need_id: uuid.UUID, *, now: datetime | None = None) -> int:
    """POST /needs/{id}/complete-checked-in: every checked-in accepted application becomes
    `completed` through the needs service's own decision (designated activity included); the
    number completed."""
    now = now or utcnow()
    need = needs.managed_need(actor, need_id, lock=True)
    ids = list(db.session.scalars(
        select(Application.id).where(Application.need_id == need.id, Application.status == ACCEPTED,
                                     Application.checked_in_at.is_not(None))
        .order_by(Application.created_at, Application.id)))
    for application_id in ids:
        needs.decide(actor, application_id, COMPLETED, now=now)
    return len(ids)


def due_today(user: User, *, today: date | None = None) -> list[Application]:
    """The person's accepted applications whose need is in progress today and not yet checked in
    (for a "check in" button on /my)."""
    today = today or today_tokyo()
    return list(db.session.scalars(
        select(Application).join(Need, Need.id == Application.need_id)
        .where(Application.user_id == user.id, Application.status == ACCEPTED,
               Application.checked_in_at.is_(None), Need.status.in_((OPEN, CLOSED)),
               Need.starts_on <= today, Need.ends_on >= today)
        .order_by(Need.starts_on, Need.id)))


def resident_page(user: User, *, need_id: uuid.UUID | None, checked_id: uuid.UUID | None,
                  today: date | None = None) -> dict:
    """/my/check-in: what is due today (`due`), the need a code's link names if the person may see
    it (`prefilled`), and their checked-in application to the need just checked in to (`checked`)."""
    due = due_today(user, today=today)
    checked = None
    if checked_id is not None:
        checked = db.session.scalar(select(Application).where(
            Application.user_id == user.id, Application.need_id == checked_id, Application.checked_in_at.is_not(None)))
    prefilled = None
    if need_id is not None:
        candidate = db.session.get(Need, need_id)
        prefilled = candidate if candidate is not None and needs.can_view(user, candidate) else None
    return {"due": due, "checked": checked, "prefilled": prefilled}
