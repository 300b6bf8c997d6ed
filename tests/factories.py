"""What many tests make, in one place: the 団体 codes they use, people and staff made through the
services (no HTTP), identity checks and designated activities, dates relative to today.

The fixtures built on these (signup, make_account, staff, resident, verified_resident, browser,
upload_dir) are in tests/conftest.py.
"""
import secrets
import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import inspect, select

from registry.accounts import service as accounts
from registry.accounts.models import User
from registry.common.time import today_tokyo
from registry.errors import Problem
from registry.extensions import db
from registry.figures.recount import maintained_counters
from registry.figures.stages import COLUMN, PREFIX
from registry.partners import service as partners, tokens as partner_tokens
from registry.registrations import service as registrations
from registry.registrations.models import IdentityVerification

# 団体 codes (6 digits with the check digit), each under one name in every test.
HIDA, TAKAYAMA, GIFU_CITY, TAJIMI, SEKI, GERO = "212172", "212032", "212016", "212041", "212059", "212202"
GIFU = "210005"  # 岐阜県: the prefecture of the six above
CHIYODA, HACHIOJI, TOKYO = "131016", "132012", "130001"  # 千代田区, 八王子市, 東京都
SAPPORO, SAPPORO_CHUO, HOKKAIDO = "011002", "011011", "010006"  # 札幌市, its ward 中央区 (no 団体), 北海道
NAHA = "472018"  # 那覇市

PASSWORD = "password-123"
PREMIUM_SETTINGS = {"PREMIUM_LIMIT": 3, "PREMIUM_ACTIVITIES_REQUIRED": 3}


def days(n: int, today: date | None = None) -> str:
    """The ISO date `n` days from today (Asia/Tokyo); negative for the past."""
    return ((today or today_tokyo()) + timedelta(days=n)).isoformat()


def days_ago(n: int) -> str:
    """The ISO date `n` days before today (Asia/Tokyo)."""
    return days(-n)


def user_of(user_json) -> User:
    """The User row of a user as the API answered it."""
    return db.session.get(User, uuid.UUID(user_json["id"]))


def register(api, token: str, code: str = HIDA, ties=("family",)) -> dict:
    """Registers through the API (asserting 201) and answers the registration."""
    response = api.post("/registrations", token=token, json={"organization_code": code, "ties": list(ties)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def premium_requested(api, token: str, user: User, code: str = HIDA) -> tuple[dict, dict]:
    """Registers through the API, meets the premium requirements (identity, three activities) and
    requests premium (asserting 202): (the registration, the request) as JSON."""
    reg = register(api, token, code)
    verify_identity(user)
    add_activities(user, code)
    db.session.commit()  # releases the test's savepoint only
    response = api.post(f"/registrations/{reg['id']}/premium-request", token=token)
    assert response.status_code == 202, response.get_json()
    return reg, response.get_json()


def person(home: str = CHIYODA, birth_year: int | None = 1990, *, now: datetime | None = None, **profile) -> User:
    """A resident made by the accounts service (no sign-up mail, no token); `profile` sets any
    other column (consent_share_profile, skills, …)."""
    user = accounts.create_resident(email=f"p-{uuid.uuid4().hex[:10]}@example.jp", password=PASSWORD,
                                    display_name="テスト住民", home_municipality_code=home,
                                    birth_year=birth_year if birth_year is not None else 1990, now=now)
    if birth_year is None:  # a roster's person may have none
        user.birth_year = None
    for name, value in profile.items():
        setattr(user, name, value)
    db.session.flush()
    return user


def account(role: str = "staff", organization: str | None = HIDA) -> User:
    """A staff, host, national or admin account as the CLI makes it (no 団体 for national and admin)."""
    if role in ("national", "admin"):
        organization = None
    return accounts.create_user(email=f"{role}-{uuid.uuid4().hex[:10]}@example.jp", password=PASSWORD, role=role,
                                organization_code=organization)


def verify_identity(user: User, *, now: datetime | None = None) -> IdentityVerification:
    """A verified identity check, as if staff had confirmed it."""
    verification = registrations.request_identity_verification(user, "mynumber_card", now=now)
    verification.status = "verified"
    db.session.flush()
    return verification


def add_activities(user: User, organization_code: str, n: int = 3, days_ago: int = 10,
                   today: date | None = None) -> None:
    """`n` designated activities for a 団体 on consecutive days, the newest `days_ago` days ago."""
    today = today or today_tokyo()
    for i in range(n):
        registrations.record_activity(user, organization_code, today - timedelta(days=days_ago + i))


# --- checking service contracts --------------------------------------------------------------------------

def refused(call, *args, **kwargs) -> tuple[int, str]:
    """(status, code) of the Problem that `call(*args, **kwargs)` raises (failing when it raises none)."""
    with pytest.raises(Problem) as raised:
        call(*args, **kwargs)
    return raised.value.status, raised.value.code


def flushed_not_committed(model, ident) -> bool:
    """True when the row `ident` of `model` is in the database (flushed) and goes away when the
    session rolls back (nothing committed it). Rolls the test's session back."""
    [key] = inspect(model).primary_key
    row = select(key).where(key == ident)
    with db.session.no_autoflush:
        flushed = db.session.execute(row).first() is not None
    db.session.rollback()
    return flushed and db.session.execute(row).first() is None


def counters() -> dict:
    """The maintained figures summed over their slots, {(metric, key): {field: value}}, zeros left out
    (the relationship funnel's cells apart: `funnel_counters`)."""
    return {key: dict(values) for key, values in maintained_counters().items() if not key[0].startswith("funnel:")}


def funnel_counters() -> dict:
    """The relationship funnel's cells, {(cohort, scope): {stage: people}} (scope a 団体's code, "*" the
    country, "+" the sum over the 団体), zeros left out."""
    stage_of = {column: stage for stage, column in COLUMN.items()}
    return {(metric[len(PREFIX):], key): {stage_of[f]: n for f, n in values.items() if n}
            for (metric, key), values in maintained_counters().items() if metric.startswith(PREFIX)}


def partner_token(user: User, scope: str = "registrations:read activities:write") -> str:
    """An access token of a new partner for `user`, as if they had allowed it on the consent page and
    the partner had exchanged the code (tests/partners/ drive that flow over HTTP)."""
    partner, _secret = partners.create_partner("テスト連携", ["https://partner.example/cb"])
    code = partner_tokens.save_code(secrets.token_urlsafe(32), partner=partner, user=user,
                                    redirect_uri="https://partner.example/cb", scope=scope, challenge="c" * 43,
                                    method="S256")
    access = secrets.token_urlsafe(32)
    partner_tokens.save_token({"access_token": access, "expires_in": partner_tokens.ACCESS_TOKEN_SECONDS,
                               "scope": scope}, partner=partner, user=user, origin=code)
    return access
