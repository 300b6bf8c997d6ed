"""Recording staff (and host, admin) reads of personal data, in the reading request's transaction.

`record_read` is the one way a read is recorded; every domain calls it where its service hands a
staff, host or admin account data about people: lists and pages (registrants, a need's applicants
and check-in roster, candidates, evidence and its files, premium requests, identity checks, hosts)
and the objects that decisions answer with (an accepted application carries the applicant's name
and message). A person reading their own data is not recorded.

- One entry per read: who (actor id and role, their 団体), what (`action`, models.ACTIONS, and the
  ids of the people on that page), when. Ids only: nothing in an entry names anyone.
- A read that shows nobody is recorded too (no subjects): the log answers "who looked, when" as
  well as "who saw whom", and an empty result is no reason for a read to leave no trace.
- The entry is added to the session, not flushed: it is written with the request's commit (the
  one commit point), together with whatever else the request wrote, so a page showing four kinds
  of data writes its four entries as one multi-row INSERT; a request that fails writes none, and
  then showed nothing.
- Partners' calls are recorded too (`record_partner`): the partner is the actor, the person it
  acted for the subject; so are a person's consents to partners and staff's trust in them.
- Append-only: no endpoint or page writes, edits or deletes entries; admins read them (GET /audit).
"""
from datetime import datetime

from sqlalchemy import String, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from registry.accounts.models import User
from registry.audit.models import ACTIONS, PARTNER_ACTIONS, PARTNER_ROLE, AuditEntry
from registry.common.auth import ADMIN
from registry.common.time import utcnow
from registry.errors import Problem
from registry.extensions import db

MAX_IDS = 500  # a page is at most 200 rows; a bound keeps one entry small


def record_read(actor: User, action: str, subject_ids, *, organization_code: str | None = None,
                now: datetime | None = None) -> AuditEntry:
    """`subject_ids`: the people whose data the response or page shows (may be empty)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    ids = sorted({str(i) for i in subject_ids if i is not None})
    entry = AuditEntry(actor_id=actor.id, actor_role=actor.role,
                       organization_code=organization_code or actor.organization_code, action=action,
                       subject_ids=ids[:MAX_IDS], subject_count=len(ids), at=now or utcnow())
    db.session.add(entry)
    return entry


def record_partner(partner_id, action: str, subject_ids, *, organization_code: str | None = None,
                   now: datetime | None = None) -> AuditEntry:
    """A partner's call (registry.partners): the partner is the actor (`actor_role` "partner"),
    `subject_ids` the person it acted for. Added to the session like `record_read`."""
    if action not in PARTNER_ACTIONS:
        raise ValueError(f"unknown partner audit action {action!r}")
    ids = sorted({str(i) for i in subject_ids if i is not None})
    entry = AuditEntry(actor_id=None, partner_id=partner_id, actor_role=PARTNER_ROLE,
                       organization_code=organization_code, action=action, subject_ids=ids[:MAX_IDS],
                       subject_count=len(ids), at=now or utcnow())
    db.session.add(entry)
    return entry


def entries(actor: User, *, subject_id=None, actor_id=None):
    """For admins only: the log, newest first (filters by person read or by reader)."""
    if actor.role != ADMIN:
        raise Problem(403, "forbidden")
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if actor_id is not None:
        stmt = stmt.where(or_(AuditEntry.actor_id == actor_id, AuditEntry.partner_id == actor_id))
    if subject_id is not None:
        if db.engine.dialect.name == "postgresql":
            stmt = stmt.where(type_coerce(AuditEntry.subject_ids, JSONB).contains([str(subject_id)]))
        else:  # a UUID's text holds no LIKE wildcards
            stmt = stmt.where(func.cast(AuditEntry.subject_ids, String).like(f'%"{subject_id}"%'))
    return stmt
