"""Recording staff (and host, admin) reads of personal data, in the reading request's transaction."""
from datetime import datetime

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from registry.accounts.models import User
from registry.audit.models import AuditEntry
from registry.common.auth import ADMIN
from registry.common.time import utcnow
from registry.errors import Problem
from registry.extensions import db

MAX_IDS = 500  # a page is at most 200 rows; a bound keeps one entry small


def record_read(actor: User, action: str, subject_ids, *, organization_code: str | None = None,
                now: datetime | None = None) -> AuditEntry:
    ids = sorted({str(i) for i in subject_ids if i is not None})
    entry = AuditEntry(actor_id=actor.id, actor_role=actor.role,
                       organization_code=organization_code or actor.organization_code, action=action,
                       subject_ids=ids[:MAX_IDS], subject_count=len(ids), at=now or utcnow())
    db.session.add(entry)
    db.session.flush()
    return entry


def entries(actor: User, *, subject_id=None, actor_id=None):
    """For admins only: the log, newest first (filters by person read or by reader)."""
    if actor.role != ADMIN:
        raise Problem(403, "forbidden")
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if subject_id is not None:
        if db.engine.dialect.name == "postgresql":
            stmt = stmt.where(type_coerce(AuditEntry.subject_ids, JSONB).contains([str(subject_id)]))
        else:  # a UUID's text holds no LIKE wildcards
            stmt = stmt.where(func.cast(AuditEntry.subject_ids, String).like(f'%"{subject_id}"%'))
    return stmt
