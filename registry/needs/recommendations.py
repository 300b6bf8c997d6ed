"""Two-way recommendations: open needs for a resident, scouting candidates for a need.

Both work in two steps, so they stay fast with 100,000 open needs and 1,000,000 residents: a short
list from a few indexed queries, each with a LIMIT (the 団体 the person is tied to, the grid cells
near home, remote needs wanting their skills, the soonest needs; for a need: the 団体's registrants,
residents living nearby, residents with the skills), then every item of that short list scored in
Python by one function, `score`, which also writes the reasons in the caller's language.

Urgent needs (a 団体 in an emergency: registry/emergencies/) come first for the people tied to their
団体 — an active registration with it, or, for a prefecture's need, with one of its municipalities,
as the emergency's notice reaches them — with a reason that says so; one more short-list query
(`ix_needs_urgent_org_starts`, with a LIMIT) finds them, so the cost stays bounded.

What staff and hosts see of a candidate (API.md "Trust rules"): only what the person consented to
share — interests only with `share_profile` — and where they live only as a coarse band between
their home prefecture and the need's 団体 (same prefecture, neighbouring, far), never kilometres; the
score moves with that band alone, and who is short-listed does not depend on the need's place, so
moving a need around the map tells nothing more.
"""
import math
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from registry.accounts.models import User
from registry.accounts.service import ADULT_AGE, age_band, is_adult
from registry.audit import models as audit
from registry.audit.service import record_read
from registry.common.auth import RESIDENT
from registry.extensions import db
from registry.needs import service
from registry.needs.models import SIDE_JOB, Application, Need, cells_near
from registry.organizations import neighbours
from registry.organizations.models import MUNICIPALITY, Organization
from registry.registrations.models import ACTIVE, Activity, Registration

PER_SOURCE = 50  # rows each short-list query may bring
NEAR_KM = 60  # "near home" for the short list; scoring fades distance out at FADE_KM
FADE_KM = 150
REASON_KM = 100  # distances up to this are worth telling
WEEKEND = {5, 6}


def normalize(term: str) -> str:
    return unicodedata.normalize("NFKC", term).strip().casefold()


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


@dataclass
class Person:
    """What scoring knows of a resident."""
    user: User
    home: Organization | None
    tiers: dict[str, str] = field(default_factory=dict)  # 団体 code → effective tier, active registrations
    prefectures: set[str] = field(default_factory=set)  # prefectures of those registrations (derived links)
    activity_orgs: set[str] = field(default_factory=set)  # 団体 where they did a designated activity
    ties: set[str] = field(default_factory=set)  # 団体 an emergency of which reaches them (home or not)

    @cached_property
    def skills(self) -> set[str]:
        return {normalize(s) for s in self.user.skills or []}

    @cached_property
    def interests(self) -> set[str]:
        return {normalize(s) for s in self.user.interests or []}


def _people(users: list[User], today: date, *, activity_org: str | None = None) -> list[Person]:
    """Persons for many users in three queries (registrations, activities, home 団体)."""
    if not users:
        return []
    ids = [u.id for u in users]
    homes = {o.code: o for o in db.session.scalars(select(Organization).where(
        Organization.code.in_({u.home_municipality_code for u in users if u.home_municipality_code})))}
    people = {u.id: Person(u, homes.get(u.home_municipality_code)) for u in users}
    for reg in db.session.scalars(select(Registration).where(Registration.user_id.in_(ids),
                                                             Registration.status == ACTIVE)):
        person = people[reg.user_id]
        person.tiers[reg.organization_code] = reg.effective_tier(today)
        person.prefectures.add(reg.prefecture_code)
        person.ties.update((reg.organization_code, reg.prefecture_code))
    activities = select(Activity.user_id, Activity.organization_code).where(Activity.user_id.in_(ids)).distinct()
    if activity_org:
        activities = activities.where(Activity.organization_code == activity_org)
    for user_id, code in db.session.execute(activities):
        people[user_id].activity_orgs.add(code)
    for person in people.values():  # living in a prefecture is no tie to it
        if person.home is not None:
            person.prefectures.discard(person.home.prefecture_code)
    return [people[i] for i in ids]


def _days(need: Need) -> set[int]:
    span = min((need.ends_on - need.starts_on).days, 6)
    return {(need.starts_on + timedelta(days=d)).weekday() for d in range(span + 1)}


def score(person: Person, need, names: dict[str, str], *, for_staff: bool = False) -> tuple[float, list]:
    """How well a person and a need (a Need, or a row of its SCORED columns) fit, and why, in words
    (lazy strings: rendered in the caller's language). `names` holds the 団体 names to mention."""
    points, reasons = 0.0, []
    org, pref = need.organization_code, need.prefecture_code
    if not for_staff and is_urgent_for(person, need):
        points += 50
        reasons.append(_l("Urgent: %(name)s needs help in an emergency", name=names[org]))
    tier = person.tiers.get(org)
    if tier == "premium":
        points += 40
        reasons.append(_l("Premium registrant (担い手) of %(name)s", name=names[org]))
    elif tier:
        points += 30
        reasons.append(_l("Registered with %(name)s", name=names[org]))
    elif pref != org and pref in person.tiers:  # a prefecture registration counts a bit for its municipalities
        points += 15
        reasons.append(_l("Registered with %(name)s", name=names[pref]))
    elif pref == org and pref in person.prefectures:  # the derived link of a municipality registration
        points += 10
        reasons.append(_l("Hometown resident of %(name)s", name=names[pref]))
    if org in person.activity_orgs:
        points += 15
        reasons.append(_l("Took part in activities of %(name)s before", name=names[org]))

    skills = person.skills
    matched = [s for s in need.skills if normalize(s) in skills][:3]
    for skill in matched:
        points += 12
        reasons.append(_l("Skill match: %(skill)s", skill=skill))
    if not for_staff or person.user.consent_share_profile:  # interests are shared only by consent
        interests, title = person.interests, normalize(need.title)
        liked = [s for s in need.skills if normalize(s) in interests and s not in matched]
        liked += [i for i in person.user.interests or [] if normalize(i) in title and i not in liked]
        for interest in liked[:2]:
            points += 6
            reasons.append(_l("Interest: %(interest)s", interest=interest))

    if need.remote:
        points += 10
        reasons.append(_l("Remote"))
    elif for_staff:
        points += _band_points(person, need, reasons)
    elif need.lat is not None and person.home is not None:
        km = distance_km(person.home.lat, person.home.lng, need.lat, need.lng)
        points += 25 * max(0.0, 1 - km / FADE_KM)
        if km <= REASON_KM:
            reasons.append(_l("%(km)s km from home", km=round(km)))

    days = _days(need)
    weekend_only, weekdays_only = days <= WEEKEND, not days & WEEKEND
    availability = person.user.availability or "any"
    if weekend_only and availability in ("weekends", "any"):
        points += 10 if availability == "weekends" else 3
        reasons.append(_l("Free on weekends") if for_staff else _l("On a weekend"))
    elif weekdays_only and availability == "weekdays":
        points += 10
        reasons.append(_l("Free on weekdays") if for_staff else _l("On weekdays"))
    elif (weekend_only and availability == "weekdays") or (weekdays_only and availability == "weekends"):
        points -= 10
    if need.accepted_count >= need.capacity:
        points -= 15  # an application would be waitlisted
    return round(max(points, 0.0), 1), reasons


def is_urgent_for(person: Person, need) -> bool:
    """An urgent need of a 団体 the person is tied to: it comes first in their recommendations."""
    return bool(need.urgent) and need.organization_code in person.ties


BAND_POINTS = {neighbours.SAME: 20, neighbours.NEIGHBOURING: 10, neighbours.FAR: 0}


def _band_points(person: Person, need, reasons: list) -> float:
    """For staff: where the candidate lives, only as the band between their home prefecture and the
    need's 団体 (not its place, which staff can move)."""
    band = neighbours.band(person.home.code if person.home is not None else None, need.organization_code)
    if band == neighbours.SAME:
        reasons.append(_l("Lives in the same prefecture"))
    elif band == neighbours.NEIGHBOURING:
        reasons.append(_l("Lives in a neighbouring prefecture"))
    return BAND_POINTS.get(band, 0)


def _names(codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = db.session.execute(select(Organization.code, Organization.name).where(Organization.code.in_(codes)))
    return dict(rows.all())


# What scoring reads of a need: the short list is loaded as these columns only, and the whole need
# only for the results.
SCORED = (Need.id, Need.organization_code, Need.prefecture_code, Need.title, Need.skills, Need.remote, Need.lat,
          Need.lng, Need.starts_on, Need.ends_on, Need.capacity, Need.accepted_count, Need.urgent)


def recommend_needs(user: User, limit: int, *, today: date) -> list[dict]:
    """Open needs for a resident, best first — urgent needs of the 団体 they are tied to before all
    others — leaving out those they applied to (and side jobs for minors, who may not apply to them)."""
    [person] = _people([user], today)
    base = select(*SCORED).where(service.open_clause(today), Need.id.not_in(
        select(Application.need_id).where(Application.user_id == user.id)))
    if not is_adult(user, today):
        base = base.where(Need.kind != SIDE_JOB)
    short_list = {}

    def gather(stmt, room: int = PER_SOURCE) -> int:
        rows = db.session.execute(stmt.order_by(Need.starts_on, Need.id).limit(room)).all()
        short_list.update((row.id, row) for row in rows)
        return len(rows)

    if person.ties:  # urgent needs of the 団体 they are tied to (ix_needs_urgent_org_starts)
        gather(base.where(Need.urgent, Need.organization_code.in_(sorted(person.ties)[:40])))
    for code in list(dict.fromkeys([*person.tiers, *person.activity_orgs]))[:20]:
        gather(base.where(Need.organization_code == code))
    for code in sorted(person.prefectures)[:10]:
        gather(base.where(Need.prefecture_code == code))
    if person.home is not None:  # one cell at a time, nearest first, until the room is filled
        room = PER_SOURCE
        for cell in cells_near(person.home.lat, person.home.lng, NEAR_KM):
            room -= gather(base.where(Need.geo_cell == cell, ~Need.remote), room)
            if room <= 0:
                break
    terms = list(dict.fromkeys((user.skills or []) + (user.interests or [])))
    if terms:
        gather(base.where(Need.remote, service.has_any(Need.skills, terms)))
    if len(short_list) < limit:  # the soonest open needs, so nobody gets an empty list
        gather(base, limit + len(short_list))
    names = _names({*person.tiers, *person.activity_orgs, *person.prefectures, *person.ties})
    scored = sorted(((*score(person, row, names), row) for row in short_list.values()),
                    key=lambda item: (not is_urgent_for(person, item[2]), -item[0], item[2].starts_on,
                                      item[2].id))[:limit]
    needs = {n.id: n for n in db.session.scalars(select(Need).where(Need.id.in_([row.id for *_, row in scored])))}
    return [{"need": needs[row.id], "score": points, "reasons": reasons} for points, reasons, row in scored]


def _municipalities_of(prefecture_code: str) -> list[str]:
    return list(db.session.scalars(select(Organization.code).where(
        Organization.kind == MUNICIPALITY, Organization.prefecture_code == prefecture_code)))


def candidates(actor: User, need_id: uuid.UUID, limit: int, *, today: date) -> list[dict]:
    """Adult residents who consented to scouting and have not applied, best first, for the need's
    staff or host: the read is audited."""
    need = service.managed_need(actor, need_id)
    base = select(User).where(User.consent_scouting, User.role == RESIDENT, User.erased_at.is_(None),
                              User.deactivated_at.is_(None), User.birth_year <= today.year - ADULT_AGE,
                              User.id.not_in(select(Application.user_id).where(Application.need_id == need.id)))
    found: dict[uuid.UUID, User] = {}

    def gather(stmt, room: int = PER_SOURCE) -> None:
        for user in db.session.scalars(stmt.limit(room)):
            found.setdefault(user.id, user)

    gather(base.join(Registration, Registration.user_id == User.id).where(
        Registration.organization_code.in_({need.organization_code, need.prefecture_code}),
        Registration.status == ACTIVE))
    if not need.remote:  # people living in the 団体's prefecture, then its neighbours (never by the place)
        seen = len(found)
        for prefecture in neighbours.prefecture_codes_near(need.organization_code):
            room = PER_SOURCE - (len(found) - seen)
            if room <= 0:
                break
            gather(base.where(User.home_municipality_code.in_(_municipalities_of(prefecture))), room)
    if need.skills:
        gather(base.where(service.has_any(User.skills, need.skills)))

    people = _people(list(found.values()), today, activity_org=need.organization_code)
    names = _names({need.organization_code, need.prefecture_code})
    ranked = []
    for person in people:
        points, reasons = score(person, need, names, for_staff=True)
        user = person.user
        ranked.append({"registrant": {"id": user.id, "display_name": user.display_name,
                                      "age_band": age_band(user.birth_year, today), "skills": user.skills or []},
                       "score": points, "reasons": reasons})
    ranked.sort(key=lambda r: (-r["score"], r["registrant"]["id"]))
    record_read(actor, audit.CANDIDATES, [r["registrant"]["id"] for r in ranked[:limit]])
    return ranked[:limit]
