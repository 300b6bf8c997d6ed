"""The authorization matrix of the whole app: every route rule of `app.url_map` × every method it
allows × eight callers, each with the outcome API.md gives it.

Callers: anonymous; `resident`, who owns the objects in the paths; another resident; staff of the
団体 (飛騨市) and of another (高山市); the 団体's host (ヌシ), who posted its needs; national; admin. The
API is called with bearer tokens, pages with a signed-in session and a valid CSRF token.

An outcome is written "status code": "201", "403 forbidden", "404 not_found", "409 not_accepted".
Pages: a redirect to the sign-in page is "302 login"; a form whose action was refused answers with a
redirect and a flashed message, written "302 not_found" (the code of the refusal).

One world is built through the service layer for the module; each test calls its route as every
caller, each call in a savepoint rolled back afterwards: every caller of every test meets the same
world, whatever the others did. Allowed calls get a valid body, so success means success. Every
response is also checked for personal data its caller may not see (see `leaks`).
"""
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Mapping
from urllib.parse import parse_qsl

import pytest
from flask import session
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from registry.accounts import service as accounts
from registry.workflows import accounts as workflows
from registry.accounts.login import WEB_SESSION_KEY
from registry.accounts.models import ApiToken, User
from registry.announcements import service as announcements
from registry.benefits import service as benefits
from registry.emergencies import service as emergencies
from registry.common.time import today_tokyo, utcnow
from registry.opendata import service as open_data
from registry.errors import HTTP_CODES
from registry.evidence import files as evidence_files, service as evidence
from registry.extensions import db
from registry.hosts import service as hosts
from registry.needs import checkin
from registry.invitations.models import Invitation
from registry.needs import service as needs
from registry.needs.models import ACCEPTED
from registry.needs.schemas import NeedCreateSchema
from registry.notifications import verification as email_verification
from registry.notifications.models import Notification
from registry.pages import common as page_common, hosts as host_pages
from registry.partners import service as partners
from registry.partners.models import SCOPES
from registry.registrations import service as registrations
from registry.registrations.models import PremiumRequest

from tests.conftest import SUMMARY, Browser, _clean as clean
from tests.evidence.images import plain_jpeg
from tests.factories import CHIYODA, GIFU, HIDA, TAJIMI, TAKAYAMA, add_activities, days, verify_identity
from tests.hosts.conftest import in_progress
from tests.needs.conftest import need_body
from tests.partners.conftest import REDIRECT, PartnerApp, authorize_path, pkce

PASSWORD = "matrix-password-1"

CALLERS = ("anonymous", "resident", "other_resident", "staff", "other_staff", "host", "national", "admin")
ANYONE = CALLERS
SIGNED_IN = CALLERS[1:]
OWNER = ("resident",)
RESIDENTS = ("resident", "other_resident")
STAFF = ("staff",)
ANY_STAFF = ("staff", "other_staff")
MANAGERS = ("staff", "host")  # of the 団体's needs: its staff, and the host who posted them
FIGURES = ("national", "admin")
NOT_OWNER = tuple(c for c in SIGNED_IN if c != "resident")


@dataclass(frozen=True)
class Expect:
    """`allow` succeed with `ok`; `hide` (a role that may do this, but not to this object) get `hidden`;
    `special` callers get what it says; every other caller 403 `forbidden`, anonymous 401 (pages: the
    sign-in page). `at` picks the world's object for a path parameter where the default does not fit,
    `path` a literal value; `query`, `json` and `form` (multipart on the API) may be functions of the world."""
    ok: int
    allow: tuple[str, ...]
    hide: tuple[str, ...] = ()
    hidden: str = "404 not_found"
    special: Mapping[str, str] = field(default_factory=dict)
    at: Mapping[str, str] = field(default_factory=dict)
    path: Mapping[str, str] = field(default_factory=dict)
    query: object = None
    json: object = None
    form: object = None

    def outcome_for(self, caller: str, page: bool) -> str:
        if caller in self.special:
            return self.special[caller]
        if caller in self.allow:
            return str(self.ok)
        if caller in self.hide:
            return self.hidden
        if caller == "anonymous":
            return "302 login" if page else "401 unauthorized"
        return "403 forbidden"


FLASHED = "302 not_found"  # a page form refused for an object the caller may not see


def new_need_form(w):
    body = need_body(starts_on=days(20), ends_on=days(20), apply_by=days(15))
    return {k: v for k, v in body.items() if k in ("kind", "title", "description", "host_name", "starts_on",
                                                   "ends_on", "apply_by", "capacity", "reward")}


def evidence_form(w):
    return {"kind": "volunteer", "done_on": days(-5), "description": "古川町の雪かき（町内会の証明）",
            "file": (io.BytesIO(plain_jpeg()), "proof.jpg", "image/jpeg")}


SIGNUP = {"email": "newcomer@authz.example.jp", "password": PASSWORD, "display_name": "新人",
          "home_municipality_code": CHIYODA, "birth_year": 1990}

# Partners (registry.partners): an account's token never works on /api/v1/partner/* (a partner's own
# tokens are tested in tests/partners/), and the OAuth endpoints want the partner's HTTP Basic.
ONLY_PARTNERS = {caller: "401 unauthorized" for caller in CALLERS}
_, CHALLENGE = pkce()


def consent_query(w):
    return dict(parse_qsl(authorize_path(w.partner_app, CHALLENGE).split("?", 1)[1]))


def partner_report(w):
    return {"organization_code": HIDA, "done_on": days(-1), "title": "雪かき", "kind": "volunteer", "external_id": "m-1"}


MATRIX: dict[tuple[str, str], Expect] = {
    # --- accounts -------------------------------------------------------------------------------------------
    ("POST", "/api/v1/auth/signup"): Expect(201, ANYONE, json=SIGNUP),
    ("POST", "/api/v1/auth/login"): Expect(200, ANYONE, json=lambda w: {"email": w.walk_in_email, "password": PASSWORD}),
    ("POST", "/api/v1/auth/logout"): Expect(204, SIGNED_IN),
    ("POST", "/api/v1/auth/password-reset"): Expect(202, ANYONE, json=lambda w: {"email": w.walk_in_email}),
    ("POST", "/api/v1/auth/set-password"): Expect(200, ANYONE, json=lambda w: {"token": w.invitation, "password": PASSWORD}),
    ("POST", "/api/v1/auth/verify-email"): Expect(200, ANYONE, json=lambda w: {"token": w.email_token}),
    ("GET", "/api/v1/me"): Expect(200, SIGNED_IN),
    ("PATCH", "/api/v1/me"): Expect(200, SIGNED_IN, json={"display_name": "改名"}),
    ("DELETE", "/api/v1/me"): Expect(204, RESIDENTS),
    ("GET", "/api/v1/me/tokens"): Expect(200, SIGNED_IN),
    ("DELETE", "/api/v1/me/tokens/<uuid:token_id>"): Expect(204, OWNER, hide=NOT_OWNER),
    ("POST", "/api/v1/me/email-verification"): Expect(202, SIGNED_IN),
    ("GET", "/api/v1/me/notifications"): Expect(200, SIGNED_IN),
    ("POST", "/api/v1/me/notifications/<uuid:notification_id>/read"): Expect(200, OWNER, hide=NOT_OWNER),
    # --- 団体, benefits, announcements --------------------------------------------------------------------
    ("GET", "/api/v1/organizations"): Expect(200, ANYONE),
    ("GET", "/api/v1/organizations/<string:code>"): Expect(200, ANYONE),
    ("GET", "/api/v1/organizations/<string:code>/benefits"): Expect(200, ANYONE),
    ("POST", "/api/v1/organizations/<string:code>/benefits"): Expect(
        201, STAFF, json={"title": "温泉割引", "description": "", "tier": "basic", "kind": "facility"}),
    ("DELETE", "/api/v1/benefits/<uuid:benefit_id>"): Expect(204, STAFF, hide=("other_staff",)),
    # Another 団体's staff may see the 団体 (it is public) but not act for it: 403.
    ("POST", "/api/v1/organizations/<string:code>/announcements"): Expect(201, STAFF, json={"title": "お知らせ", "body": "本文"}),
    ("GET", "/api/v1/organizations/<string:code>/announcements"): Expect(200, STAFF),
    ("GET", "/api/v1/organizations/<string:code>/announcements/<uuid:announcement_id>"): Expect(200, STAFF),
    ("GET", "/api/v1/me/announcements"): Expect(200, RESIDENTS),
    ("POST", "/api/v1/me/announcements/<uuid:announcement_id>/read"): Expect(200, OWNER, hide=("other_resident",)),
    ("GET", "/api/v1/me/invitations"): Expect(200, RESIDENTS),
    ("POST", "/api/v1/me/invitations/<uuid:invitation_id>/accept"): Expect(201, OWNER, hide=("other_resident",)),
    # --- registrations, certificates, premium, identity -----------------------------------------------------
    ("POST", "/api/v1/registrations"): Expect(201, RESIDENTS, json={"organization_code": TAJIMI, "ties": ["volunteer"]}),
    ("GET", "/api/v1/registrations"): Expect(200, RESIDENTS),
    ("GET", "/api/v1/registrations/<uuid:registration_id>"): Expect(200, OWNER, hide=("other_resident",)),
    ("DELETE", "/api/v1/registrations/<uuid:registration_id>"): Expect(204, OWNER, hide=("other_resident",)),
    ("GET", "/api/v1/registrations/<uuid:registration_id>/certificate"): Expect(200, OWNER, hide=("other_resident",)),
    ("GET", "/api/v1/registrations/<uuid:registration_id>/premium-progress"): Expect(200, OWNER, hide=("other_resident",)),
    ("POST", "/api/v1/registrations/<uuid:registration_id>/premium-request"): Expect(202, OWNER, hide=("other_resident",)),
    ("POST", "/api/v1/registrations/<uuid:registration_id>/premium-renewal"): Expect(
        202, OWNER, hide=("other_resident",), at={"registration_id": "premium_registration"}),
    ("GET", "/api/v1/certificates/verify"): Expect(200, ANYONE, query={"token": "not-a-certificate"}),
    ("GET", "/api/v1/certificates/keys"): Expect(200, ANYONE),
    ("GET", "/api/v1/premium-requests"): Expect(200, ANY_STAFF),
    ("POST", "/api/v1/premium-requests/<uuid:request_id>/approve"): Expect(200, STAFF, hide=("other_staff",)),
    ("POST", "/api/v1/premium-requests/<uuid:request_id>/reject"): Expect(
        200, STAFF, hide=("other_staff",), json={"reason": "活動の記録が足りません"}),
    ("POST", "/api/v1/me/identity-verifications"): Expect(201, RESIDENTS, json={"method": "in_person"}),
    ("GET", "/api/v1/identity-verifications"): Expect(200, ANY_STAFF + ("admin",)),
    ("POST", "/api/v1/identity-verifications/<uuid:verification_id>/confirm"): Expect(
        200, STAFF + ("admin",), hide=("other_staff",)),
    ("POST", "/api/v1/identity-verifications/<uuid:verification_id>/reject"): Expect(
        200, STAFF + ("admin",), hide=("other_staff",), json={"reason": "写真が不鮮明です"}),
    ("GET", "/api/v1/organizations/<string:code>/registrants"): Expect(200, STAFF, hide=("other_staff",)),
    # --- premium evidence -------------------------------------------------------------------------------------
    ("POST", "/api/v1/registrations/<uuid:registration_id>/activity-evidence"): Expect(
        201, OWNER, hide=("other_resident",), form=evidence_form),
    ("GET", "/api/v1/registrations/<uuid:registration_id>/activity-evidence"): Expect(200, OWNER, hide=("other_resident",)),
    ("GET", "/api/v1/activity-evidence"): Expect(200, ANY_STAFF),
    ("GET", "/api/v1/activity-evidence/<uuid:evidence_id>"): Expect(200, ("resident", "staff"), hide=("other_resident", "other_staff")),
    ("GET", "/api/v1/activity-evidence/<uuid:evidence_id>/file"): Expect(
        200, ("resident", "staff"), hide=("other_resident", "other_staff")),
    ("POST", "/api/v1/activity-evidence/<uuid:evidence_id>/approve"): Expect(200, STAFF, hide=("other_staff",)),
    ("POST", "/api/v1/activity-evidence/<uuid:evidence_id>/reject"): Expect(
        200, STAFF, hide=("other_staff",), json={"reason": "日付が読めません"}),
    # --- needs and applications -------------------------------------------------------------------------------
    # A need is public once open: another 団体's staff see it, so managing it is 403, not 404; its
    # applications are not public, so deciding one is 404.
    ("POST", "/api/v1/needs"): Expect(201, MANAGERS, json=lambda w: need_body()),
    ("GET", "/api/v1/needs"): Expect(200, ANYONE),
    ("GET", "/api/v1/needs/<uuid:need_id>"): Expect(  # the draft: only those who manage it see it
        200, MANAGERS, hide=tuple(c for c in CALLERS if c not in MANAGERS), at={"need_id": "draft"}),
    ("PATCH", "/api/v1/needs/<uuid:need_id>"): Expect(200, MANAGERS, json={"title": "古川町の雪かき（変更）"}),
    ("POST", "/api/v1/needs/<uuid:need_id>/publish"): Expect(200, STAFF, hide=("other_staff",), at={"need_id": "draft"}),
    ("POST", "/api/v1/needs/<uuid:need_id>/close"): Expect(200, MANAGERS),
    ("POST", "/api/v1/needs/<uuid:need_id>/cancel"): Expect(200, MANAGERS),
    ("POST", "/api/v1/needs/<uuid:need_id>/applications"): Expect(201, RESIDENTS, json={}, at={"need_id": "fresh_need"}),
    ("GET", "/api/v1/needs/<uuid:need_id>/applications"): Expect(200, MANAGERS),
    ("GET", "/api/v1/needs/<uuid:need_id>/candidates"): Expect(200, MANAGERS, at={"need_id": "fresh_need"}),
    ("GET", "/api/v1/needs/<uuid:need_id>/check-in-code"): Expect(200, MANAGERS, at={"need_id": "accepted_need"}),
    ("POST", "/api/v1/needs/<uuid:need_id>/check-in"): Expect(  # the other resident was not accepted
        200, OWNER, special={"other_resident": "409 not_accepted"}, at={"need_id": "accepted_need"},
        json=lambda w: {"code": w.check_in_code()}),
    ("POST", "/api/v1/needs/<uuid:need_id>/complete-checked-in"): Expect(200, MANAGERS, at={"need_id": "accepted_need"}),
    ("GET", "/api/v1/me/needs"): Expect(200, ANY_STAFF + ("host",)),
    ("POST", "/api/v1/applications/<uuid:application_id>/accept"): Expect(200, MANAGERS, hide=("other_staff",)),
    ("POST", "/api/v1/applications/<uuid:application_id>/decline"): Expect(200, MANAGERS, hide=("other_staff",)),
    ("POST", "/api/v1/applications/<uuid:application_id>/complete"): Expect(
        200, MANAGERS, hide=("other_staff",), at={"application_id": "accepted_application"}),
    ("POST", "/api/v1/applications/<uuid:application_id>/no-show"): Expect(
        200, MANAGERS, hide=("other_staff",), at={"application_id": "accepted_application"}),
    ("DELETE", "/api/v1/applications/<uuid:application_id>"): Expect(204, OWNER, hide=("other_resident",)),
    ("GET", "/api/v1/applications/<uuid:application_id>/calendar.ics"): Expect(
        200, OWNER, hide=("other_resident",), at={"application_id": "accepted_application"}),
    ("GET", "/api/v1/me/applications"): Expect(200, RESIDENTS),
    ("GET", "/api/v1/me/activities"): Expect(200, RESIDENTS),
    ("GET", "/api/v1/me/recommendations"): Expect(200, RESIDENTS),
    # --- hosts --------------------------------------------------------------------------------------------------
    ("POST", "/api/v1/organizations/<code>/hosts"): Expect(
        201, STAFF, hide=("other_staff",), json={"email": "inn@authz.example.jp", "display_name": "女将", "host_name": "古川の宿"}),
    ("GET", "/api/v1/organizations/<code>/hosts"): Expect(200, STAFF, hide=("other_staff",)),
    ("GET", "/api/v1/hosts/<uuid:host_id>"): Expect(200, MANAGERS, hide=("other_staff",)),
    ("PATCH", "/api/v1/hosts/<uuid:host_id>"): Expect(200, STAFF, hide=("other_staff",), json={"trusted": False}),
    ("DELETE", "/api/v1/hosts/<uuid:host_id>"): Expect(204, STAFF, hide=("other_staff",)),
    ("POST", "/api/v1/hosts/<uuid:host_id>/invitation"): Expect(201, STAFF, hide=("other_staff",)),
    # --- figures and audit ------------------------------------------------------------------------------------
    ("GET", "/api/v1/stats/totals"): Expect(200, STAFF + FIGURES, query={"organization": HIDA}),
    ("GET", "/api/v1/stats/by-prefecture"): Expect(200, FIGURES),
    ("GET", "/api/v1/stats/by-organization"): Expect(200, FIGURES),
    ("GET", "/api/v1/stats/timeseries"): Expect(200, FIGURES),
    ("GET", "/api/v1/stats/flows"): Expect(200, FIGURES),
    ("GET", "/api/v1/stats/by-tier"): Expect(200, FIGURES),
    ("GET", "/api/v1/stats/by-tie"): Expect(200, FIGURES),
    ("GET", "/api/v1/stats/by-age-band"): Expect(200, FIGURES),
    ("GET", "/api/v1/stats/by-type"): Expect(200, FIGURES),
    # the funnel: staff read their own 団体 (another's is 403), the national office any and the country
    ("GET", "/api/v1/stats/funnel"): Expect(200, STAFF + FIGURES, query={"organization": HIDA}),
    # --- open data: public --------------------------------------------------------------------------------------
    ("GET", "/api/v1/open-data/releases"): Expect(200, ANYONE),
    ("GET", "/open-data/<release>/<name>"): Expect(200, ANYONE, at={"release": "open_data_release"},
                                                     path={"name": "metadata.json"}),
    ("GET", "/open-data"): Expect(200, ANYONE),
    ("GET", "/api/v1/audit"): Expect(200, ("admin",)),
    # --- emergencies -----------------------------------------------------------------------------------------
    # The world's emergency names 飛騨市; the bystander (registered there) offered help. 高山市's staff are
    # outside its reach; the other resident (高山市 only) is not tied to it.
    ("POST", "/api/v1/emergencies"): Expect(201, ("staff", "national"), json={
        "title": "大雨災害", "message": "支援をお願いします", "organization_codes": [HIDA]}),
    ("GET", "/api/v1/emergencies"): Expect(200, ANYONE),
    ("GET", "/api/v1/emergencies/<uuid:emergency_id>"): Expect(200, ANYONE),
    ("POST", "/api/v1/emergencies/<uuid:emergency_id>/close"): Expect(200, ("staff", "national")),
    ("POST", "/api/v1/emergencies/<uuid:emergency_id>/offers"): Expect(201, OWNER, json={"kinds": ["remote"]}),
    ("GET", "/api/v1/emergencies/<uuid:emergency_id>/offers"): Expect(200, STAFF),
    ("POST", "/api/v1/emergencies/<uuid:emergency_id>/proxies"): Expect(
        201, ("staff", "national"), json={"organization_code": TAKAYAMA}),
    # --- partners (連携サービス) -------------------------------------------------------------------------------------
    ("GET", "/api/v1/partner/me"): Expect(200, (), special=ONLY_PARTNERS),
    ("POST", "/api/v1/partner/activities"): Expect(201, (), special=ONLY_PARTNERS, json=partner_report),
    ("GET", "/api/v1/me/partner-grants"): Expect(200, RESIDENTS),
    ("DELETE", "/api/v1/me/partner-grants/<uuid:grant_id>"): Expect(204, OWNER, hide=("other_resident",)),
    ("GET", "/api/v1/organizations/<string:code>/trusted-partners"): Expect(200, STAFF),
    ("POST", "/api/v1/organizations/<string:code>/trusted-partners"): Expect(
        201, STAFF, json=lambda w: {"client_id": w.ids["other_partner"]}),
    ("DELETE", "/api/v1/organizations/<string:code>/trusted-partners/<string:client_id>"): Expect(204, STAFF),
    ("POST", "/oauth/token"): Expect(200, (), special={c: "400 bad_request" for c in CALLERS}),  # no grant_type
    ("POST", "/oauth/revoke"): Expect(200, (), special=ONLY_PARTNERS),  # no client credentials
    ("GET", "/oauth/authorize"): Expect(200, RESIDENTS, query=consent_query),
    ("POST", "/oauth/authorize"): Expect(302, RESIDENTS, query=consent_query, form={"decision": "allow"}),
    # --- operations and documentation -------------------------------------------------------------------------
    ("GET", "/healthz"): Expect(200, ANYONE),
    ("GET", "/readyz"): Expect(200, ANYONE),
    ("GET", "/metrics"): Expect(200, ANYONE),  # the operator's network (the test client is 127.0.0.1)
    ("GET", "/api/v1/openapi.json"): Expect(200, ANYONE),
    ("GET", "/api/v1/docs"): Expect(200, ANYONE),
    ("GET", "/api/v1/docs/static/<path:filename>"): Expect(200, ANYONE, path={"filename": "index.css"}),
    ("GET", "/static/<path:filename>"): Expect(200, ANYONE, path={"filename": "site.css"}),
    # --- pages: anyone ------------------------------------------------------------------------------------------
    ("GET", "/"): Expect(200, ANYONE),
    ("GET", "/signup"): Expect(302, SIGNED_IN, special={"anonymous": "200"}),  # signed in: to one's home page
    ("POST", "/signup"): Expect(302, ANYONE, form=SIGNUP),
    ("GET", "/login"): Expect(200, ANYONE),
    ("POST", "/login"): Expect(302, ANYONE, form=lambda w: {"email": w.walk_in_email, "password": PASSWORD}),
    ("GET", "/logout"): Expect(200, ANYONE),
    ("POST", "/logout"): Expect(302, ANYONE),
    ("GET", "/verify-email"): Expect(200, ANYONE, query=lambda w: {"token": w.email_token}),
    ("POST", "/verify-email"): Expect(200, ANYONE, form=lambda w: {"token": w.email_token}),
    ("GET", "/set-password"): Expect(200, ANYONE, query=lambda w: {"token": w.invitation}),
    ("POST", "/set-password"): Expect(
        302, ANYONE, form=lambda w: {"token": w.invitation, "password": PASSWORD, "password_again": PASSWORD}),
    ("GET", "/verify"): Expect(200, ANYONE, query={"token": "not-a-certificate"}),
    ("GET", "/organizations/<code>"): Expect(200, ANYONE),
    ("GET", "/needs"): Expect(200, ANYONE),
    ("GET", "/needs/<uuid:need_id>"): Expect(200, ANYONE),
    # --- pages: residents ---------------------------------------------------------------------------------------
    ("POST", "/organizations/<code>/register"): Expect(302, RESIDENTS, path={"code": TAJIMI}, form={"ties": "volunteer"}),
    ("POST", "/needs/<uuid:need_id>/apply"): Expect(302, RESIDENTS, at={"need_id": "fresh_need"}),
    ("GET", "/my"): Expect(200, RESIDENTS),
    ("POST", "/my/profile"): Expect(302, RESIDENTS, form={"display_name": "改名", "consent_share_profile": "on"}),
    ("POST", "/my/registrations/<uuid:registration_id>/withdraw"): Expect(302, OWNER, hide=("other_resident",), hidden=FLASHED),
    ("POST", "/my/registrations/<uuid:registration_id>/premium-request"): Expect(
        302, OWNER, hide=("other_resident",), hidden=FLASHED),
    ("POST", "/my/registrations/<uuid:registration_id>/evidence"): Expect(
        302, OWNER, hide=("other_resident",), hidden=FLASHED, form=evidence_form),
    ("POST", "/my/applications/<uuid:application_id>/cancel"): Expect(302, OWNER, hide=("other_resident",), hidden=FLASHED),
    ("GET", "/my/applications/<uuid:application_id>/calendar.ics"): Expect(
        200, OWNER, hide=("other_resident",), at={"application_id": "accepted_application"}),
    ("POST", "/my/announcements/<uuid:announcement_id>/read"): Expect(302, OWNER, hide=("other_resident",), hidden=FLASHED),
    ("POST", "/my/invitations/<uuid:invitation_id>/accept"): Expect(302, OWNER, hide=("other_resident",), hidden=FLASHED),
    ("POST", "/my/notifications/<uuid:notification_id>/read"): Expect(302, OWNER, hide=("other_resident",), hidden=FLASHED),
    ("POST", "/my/erase"): Expect(302, RESIDENTS, form={"confirm": "erase"}),
    ("GET", "/my/check-in"): Expect(200, RESIDENTS),
    ("POST", "/my/partner-grants/<uuid:grant_id>/revoke"): Expect(302, OWNER, hide=("other_resident",), hidden=FLASHED),
    ("POST", "/my/check-in"): Expect(302, OWNER, special={"other_resident": "409 not_accepted"},
                                     form=lambda w: {"need": w.ids["accepted_need"], "code": w.check_in_code()}),
    # --- pages: staff ---------------------------------------------------------------------------------------------
    # Staff pages act for the signed-in staff member's own 団体; another 団体's objects are refused.
    ("GET", "/staff"): Expect(200, ANY_STAFF),
    ("POST", "/staff/announcements"): Expect(302, ANY_STAFF, form={"title": "お知らせ", "body": "本文"}),
    ("POST", "/staff/benefits"): Expect(302, ANY_STAFF, form={"title": "温泉割引", "tier": "basic", "kind": "facility"}),
    ("POST", "/staff/benefits/<uuid:benefit_id>/delete"): Expect(302, STAFF, hide=("other_staff",), hidden=FLASHED),
    ("GET", "/staff/needs/new"): Expect(200, ANY_STAFF),
    ("POST", "/staff/needs/new"): Expect(302, ANY_STAFF, form=new_need_form),
    ("GET", "/staff/needs/<uuid:need_id>"): Expect(200, MANAGERS),
    ("POST", "/staff/applications/<uuid:application_id>/<any(accept, decline, complete, 'no-show'):decision>"): Expect(
        302, MANAGERS, hide=("other_staff",), hidden=FLASHED, path={"decision": "accept"}),
    ("POST", "/staff/premium-requests/<uuid:request_id>/<any(approve, reject):decision>"): Expect(
        302, STAFF, hide=("other_staff",), hidden=FLASHED, path={"decision": "approve"}),
    ("POST", "/staff/identity-verifications/<uuid:verification_id>/<any(confirm, reject):decision>"): Expect(
        302, STAFF, hide=("other_staff",), hidden=FLASHED, path={"decision": "confirm"}),
    ("POST", "/staff/evidence/<uuid:evidence_id>/<any(approve, reject):decision>"): Expect(
        302, STAFF, hide=("other_staff",), hidden=FLASHED, path={"decision": "approve"}),
    ("GET", "/staff/hosts"): Expect(200, ANY_STAFF),
    ("POST", "/staff/hosts"): Expect(200, ANY_STAFF, form={"email": "inn@authz.example.jp", "display_name": "女将",
                                                          "host_name": "古川の宿"}),
    ("POST", "/staff/hosts/<uuid:host_id>/<any(trust, untrust):change>"): Expect(
        302, STAFF, hide=("other_staff",), hidden=FLASHED, path={"change": "untrust"}),
    ("POST", "/staff/hosts/<uuid:host_id>/deactivate"): Expect(302, STAFF, hide=("other_staff",), hidden=FLASHED),
    ("POST", "/staff/hosts/<uuid:host_id>/invitation"): Expect(200, STAFF, hide=("other_staff",), hidden=FLASHED),
    ("POST", "/staff/hosts/needs/<uuid:need_id>/publish"): Expect(
        302, STAFF, hide=("other_staff",), hidden=FLASHED, at={"need_id": "draft"}),
    # --- pages: hosts -----------------------------------------------------------------------------------------------
    ("GET", "/host"): Expect(200, ("host",)),
    ("GET", "/host/needs/new"): Expect(200, ("host",)),
    ("POST", "/host/needs/new"): Expect(302, ("host",), form=new_need_form),
    ("GET", "/host/needs/<uuid:need_id>"): Expect(200, ("host",)),
    ("GET", "/host/needs/<uuid:need_id>/check-in"): Expect(200, MANAGERS, at={"need_id": "accepted_need"}),
    ("POST", "/host/needs/<uuid:need_id>/complete-checked-in"): Expect(302, ("host",), at={"need_id": "accepted_need"}),
    ("POST", "/host/applications/<uuid:application_id>/<any(accept, decline, complete, 'no-show'):decision>"): Expect(
        302, ("host",), path={"decision": "accept"}),
    # --- pages: emergencies ----------------------------------------------------------------------------------------
    ("GET", "/emergencies/<uuid:emergency_id>"): Expect(200, ANYONE),
    ("POST", "/emergencies/<uuid:emergency_id>/offer"): Expect(
        302, OWNER, special={"other_resident": "422 forbidden"}, form={"kinds": "remote"}),
    ("GET", "/staff/emergencies"): Expect(200, ANY_STAFF + ("national",)),
    ("POST", "/staff/emergencies"): Expect(302, ("staff", "national"), special={"other_staff": "422 forbidden"},
                                           form={"title": "大雨災害", "message": "支援を", "organization_codes": HIDA}),
    ("GET", "/staff/emergencies/<uuid:emergency_id>"): Expect(200, ("staff", "national")),
    ("POST", "/staff/emergencies/<uuid:emergency_id>/close"): Expect(
        302, ("staff", "national"), special={"other_staff": "302 forbidden"}),
    ("POST", "/staff/emergencies/<uuid:emergency_id>/proxies"): Expect(
        302, ("staff", "national"), special={"other_staff": "302 forbidden"}, form={"organization_code": TAKAYAMA}),
    ("POST", "/staff/emergencies/<uuid:emergency_id>/announcements"): Expect(
        302, STAFF, special={"other_staff": "302 forbidden"},
        form={"organization_code": HIDA, "title": "給水所", "body": "公民館で給水しています"}),
    # --- pages: the national dashboard ------------------------------------------------------------------------------
    ("GET", "/dashboard"): Expect(200, FIGURES),
    ("GET", "/dashboard/<name>.csv"): Expect(200, FIGURES, path={"name": "by-prefecture"}),
}

# Path parameters → the world's object, unless an entry says otherwise (`at`, `path`).
DEFAULT_OBJECTS = {
    "registration_id": "registration", "application_id": "application", "need_id": "need", "evidence_id": "evidence",
    "benefit_id": "benefit", "host_id": "host", "verification_id": "verification", "notification_id": "notification",
    "announcement_id": "announcement", "invitation_id": "roster_invitation", "token_id": "token", "request_id": "premium_request", "code": "organization",
    "emergency_id": "emergency",
    "grant_id": "partner_grant", "client_id": "partner",
}
PARAMETER = re.compile(r"<(?:[^<>]*:)?(\w+)>")
FIGURE_ROUTES = ("/api/v1/stats/", "/dashboard")


def is_page(rule: str) -> bool:
    return not (rule.startswith("/api/") or rule in ("/healthz", "/readyz", "/metrics"))


# --- the world --------------------------------------------------------------------------------------------------

@dataclass
class Person:
    email: str
    id: str
    display_name: str


class World:
    """飛騨市 with its staff and a trusted host; 高山市's staff; the resident who owns the objects;
    another resident (registered with 高山市 only); a bystander registered with 飛騨市 who shares no
    profile; national and admin accounts; a walk-in account to sign in as. Built once and committed;
    the tests only read it, each call's changes being rolled back (the evidence file, deleted on
    commit by an erasure, is put back by `restore_files`)."""

    def __init__(self, app):
        self.app = app
        self.ids: dict[str, str] = {"organization": HIDA}
        self.tokens: dict[str, str | None] = {"anonymous": None}

    def build(self):
        u: dict[str, User] = {}
        ttl = self.app.config["TOKEN_TTL_DAYS"]
        u["resident"] = self._resident("owner", "Owner 持ち主", share_profile=True, scouting=True)
        u["other_resident"] = self._resident("other", "Other 他人", share_profile=True, scouting=False)
        u["bystander"] = self._resident("bystander", "Bystander 通行人", share_profile=False, scouting=False)
        walk_in = self._resident("walk-in", "Walk-in 飛び込み", share_profile=False, scouting=False)
        self.walk_in_email, self.email_token = walk_in.email, email_verification.make_token(walk_in, self.app.config["SECRET_KEY"])
        for caller, role, code in (("staff", "staff", HIDA), ("other_staff", "staff", TAKAYAMA),
                                   ("national", "national", None), ("admin", "admin", None)):
            u[caller] = accounts.create_user(email=f"{caller}@authz.example.jp", password=PASSWORD, role=role,
                                             organization_code=code, display_name=f"{caller.title()} 職員")

        host_profile = hosts.invite(u["staff"], HIDA, email="host@authz.example.jp", display_name="Host 主",
                                    host_name="古川の宿", settings=self.app.config)[0]
        u["host"] = host_profile.user
        _, self.invitation, _, _ = hosts.invite(u["staff"], HIDA, email="invitee@authz.example.jp",
                                                display_name="Invitee 招待", host_name="杉の宿", settings=self.app.config)

        registration = registrations.register(u["resident"], HIDA, ["volunteer"])
        registrations.register(u["other_resident"], TAKAYAMA, ["family"])
        bystander_registration = registrations.register(u["bystander"], HIDA, ["birthplace"])
        self.hida_registrations = {str(registration.id), str(bystander_registration.id)}

        # The resident may ask for premium: identity verified, three activities; and holds a premium
        # prefecture registration whose renewal window is open.
        verify_identity(u["resident"])
        add_activities(u["resident"], HIDA)
        premium = registrations.register(u["resident"], GIFU, ["volunteer"])
        registrations.request_premium(u["resident"], premium.id, settings=self.app.config)
        request = db.session.scalar(select(PremiumRequest).where(PremiumRequest.registration_id == premium.id))
        registrations.approve_premium(u["admin"], request.id, settings=self.app.config)
        premium.premium_valid_until = today_tokyo() + timedelta(days=30)
        pending = PremiumRequest(registration_id=bystander_registration.id, user_id=u["bystander"].id,
                                 organization_code=HIDA, kind="new", status="pending")
        db.session.add(pending)
        verification = registrations.request_identity_verification(u["bystander"], "in_person")

        # The host's needs: a draft (posted before staff trusted the host), then open ones.
        draft = needs.create_need(u["host"], self._need())
        host_profile.trusted = True
        need = needs.create_need(u["host"], self._need(**in_progress()))
        accepted_need = needs.create_need(u["host"], self._need(**in_progress()))
        fresh_need = needs.create_need(u["host"], self._need())
        application = needs.apply(u["resident"], need.id, "行けます")
        needs.apply(u["bystander"], need.id, "手伝います")
        accepted = needs.apply(u["resident"], accepted_need.id)
        needs.decide(u["staff"], accepted.id, ACCEPTED)  # notifies the resident
        self.need_applicants = {str(u["resident"].id), str(u["bystander"].id)}

        consent = {"consents": {"announcements": True}}
        workflows.update_profile(u["resident"], consent)
        workflows.update_profile(u["other_resident"], consent)
        announcement = announcements.post(u["staff"], HIDA, "雪まつり", "2月に開催します")
        benefit = benefits.create(u["staff"], HIDA, {"title": "温泉割引", "description": "", "tier": "basic",
                                                     "kind": "facility"})
        proof = evidence.submit(u["resident"], registration.id,
                                {"kind": "volunteer", "done_on": today_tokyo() - timedelta(days=3),
                                 "description": "古川町の雪かき"}, plain_jpeg(),
                                store=evidence_files.store_for(self.app.config))
        self.evidence_file = (proof.file_name, evidence_files.store_for(self.app.config).read(proof.file_name))
        notification = db.session.scalar(select(Notification).where(Notification.user_id == u["resident"].id))
        emergency = emergencies.declare(u["staff"], "大雨災害", "支援をお願いします", [HIDA])
        emergencies.make_offer(u["bystander"], emergency.id, {"kinds": ["remote"], "skills": ["力仕事"],
                                                               "message": "手伝えます"})
        roster_invitation = Invitation(organization_code=TAKAYAMA, user_id=u["resident"].id, ties=["family"])
        db.session.add(roster_invitation)
        db.session.flush()
        # Partners: one the resident allowed and 飛騨市 trusts, and another.
        partner, secret = partners.create_partner("ヒダスケ!", [REDIRECT])
        other_partner, _ = partners.create_partner("SMOUT", ["https://smout.example/cb"])
        grant = partners.consent(u["resident"], partner, list(SCOPES))
        partners.trust(u["staff"], HIDA, partner.client_id)
        self.partner_app = PartnerApp(partner.client_id, secret, partner.name)

        for caller in SIGNED_IN:
            self.tokens[caller] = accounts.issue_token(u[caller], ttl_days=ttl)
        spare = accounts.issue_token(u["resident"], ttl_days=ttl)  # the one the path names
        token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == accounts.hash_token(spare)))
        self.ids.update(registration=registration.id, premium_registration=premium.id, premium_request=pending.id,
                        verification=verification.id, draft=draft.id, need=need.id, accepted_need=accepted_need.id,
                        fresh_need=fresh_need.id, application=application.id, accepted_application=accepted.id,
                        announcement=announcement.id, benefit=benefit.id, evidence=proof.id, host=u["host"].id,
                        notification=notification.id, token=token.id, staff=u["staff"].id,
                        roster_invitation=roster_invitation.id, partner=partner.client_id,
                        other_partner=other_partner.client_id, partner_grant=grant.id, emergency=emergency.id)
        last_month = today_tokyo().replace(day=1) - timedelta(days=1)
        self.ids["open_data_release"] = open_data.publish(
            f"{last_month.year:04d}-{last_month.month:02d}", min_cell=10, now=utcnow()).release.release
        self.ids = {key: str(value) for key, value in self.ids.items()}
        self.people = {name: Person(user.email, str(user.id), user.display_name) for name, user in u.items()}
        # Flask-Login's session value and the browser session open on the server (accounts.login)
        self.sessions = {caller: (u[caller].get_id(), accounts.start_web_session(u[caller])) for caller in SIGNED_IN}
        return self

    def _resident(self, name, display_name, *, share_profile, scouting) -> User:
        user = accounts.create_resident(email=f"{name}@authz.example.jp", password=PASSWORD, display_name=display_name,
                                        home_municipality_code=CHIYODA, birth_year=1990)
        return workflows.update_profile(user, {"skills": ["力仕事"], "consents": {
            "share_profile": share_profile, "scouting": scouting}})

    @staticmethod
    def _need(**fields) -> dict:
        return NeedCreateSchema().load(need_body(**fields))

    def restore_files(self) -> None:
        name, content = self.evidence_file
        path = evidence_files.store_for(self.app.config).path(name)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)

    def check_in_code(self) -> str:
        staff = db.session.get(User, uuid.UUID(self.ids["staff"]))
        with self.app.test_request_context():
            return checkin.current_code(staff, uuid.UUID(self.ids["accepted_need"]),
                                        secret_key=self.app.config["SECRET_KEY"], site_root="http://localhost/")["code"]


class Callers:
    """One test's callers: the API with each caller's bearer token, and a browser per caller signed in
    (or not) with a valid CSRF token; fresh per test, as a call may sign its browser out."""

    def __init__(self, world: World, api):
        self.world, self.api = world, api
        self.browsers = {caller: self._browser(world.sessions.get(caller)) for caller in CALLERS}

    def _browser(self, signed_in: tuple[str, str] | None) -> Browser:
        app = self.world.app
        with app.app_context(), app.test_request_context():  # a fresh `g`: a new token
            signed = generate_csrf()
            raw = session["csrf_token"]
        browser = Browser(app.test_client())
        with browser.client.session_transaction() as cookie:
            cookie["csrf_token"] = raw
            if signed_in is not None:
                cookie["_user_id"], cookie[WEB_SESSION_KEY] = signed_in
                cookie["_fresh"] = True
        browser.token = signed
        return browser

    def call(self, caller: str, method: str, rule: str, expect: Expect):
        w = self.world
        values = {**{name: w.ids[key] for name, key in DEFAULT_OBJECTS.items()},
                  **{name: w.ids[key] for name, key in expect.at.items()}, **expect.path}
        url = PARAMETER.sub(lambda m: values[m.group(1)], rule)
        query, body, form = (value(w) if callable(value) else value for value in (expect.query, expect.json, expect.form))
        if is_page(rule):
            browser = self.browsers[caller]
            if method == "GET":
                return browser.get(url, query_string=query)
            return browser.post(url, form, query_string=query)
        kwargs = {"query_string": query}
        if body is not None:
            kwargs["json"] = body
        if form is not None:
            kwargs.update(data=form, content_type="multipart/form-data")
        return self.api.call(method, url, token=w.tokens[caller], **kwargs)


# --- outcomes and what each caller may read ---------------------------------------------------------------------

def outcome(response, page: bool, refused: list[str]) -> str:
    """"status code" (see the module's docstring)."""
    status = response.status_code
    if response.mimetype == "application/problem+json":
        return f"{status} {response.get_json()['code']}"
    if page and status in (301, 302, 303) and response.headers["Location"].split("?")[0].endswith("/login"):
        return f"{status} login"
    if page and refused:  # a form's refusal (flashed, or shown on the form)
        return f"{status} {refused[-1]}"
    if status >= 400:
        return f"{status} {HTTP_CODES.get(status, '')}".strip()
    return str(status)


def text_of(response) -> str:
    if response.is_json and response.data:  # JSON escapes non-ASCII text; compare the decoded values
        return json.dumps(response.get_json(), ensure_ascii=False)
    return response.get_data().decode("utf-8", "replace")


def leaks(world: World, caller: str, method: str, rule: str, response) -> list[str]:
    """Personal data in `response` that `caller` may not see."""
    p = world.people
    residents = ("resident", "other_resident", "bystander")
    unseen: list[tuple[str, str]] = []  # (whose, which field)

    def hide(names, *fields_):
        unseen.extend((name, f) for name in names for f in fields_)

    if caller in ("resident", "other_resident"):  # never another resident's e-mail or id
        hide([n for n in residents if n != caller], "email", "id")
    elif caller in ("staff", "host"):  # e-mail never; the other 団体's registrant not at all
        hide(residents, "email")
        hide(["other_resident"], "id", "display_name")
    elif caller == "other_staff":
        hide(residents, "email")
        hide(["resident", "bystander"], "id", "display_name")
    elif caller == "admin":
        hide(residents, "email")
    else:  # anonymous and national see no personal data at all
        hide(residents, "email", "id", "display_name")
    if caller == "staff" and rule in OFFER_ROUTES:  # an offer is consent to be contacted by the 団体's staff
        unseen.remove(("bystander", "email"))
    if rule.startswith(FIGURE_ROUTES):  # figures name nobody (but the reader, on a page's header)
        hide([name for name in p if name != caller], "email", "id", "display_name")
    text = text_of(response)
    found = [f"{whose}'s {what}" for whose, what in unseen if getattr(p[whose], what) in text]
    if rule.startswith(FIGURE_ROUTES) and response.is_json:
        found += [f"field {key}" for key in keys_of(response.get_json()) & {"email", "display_name", "user_id", "id"}]
    if response.status_code < 300 and (method, rule) in LISTINGS:
        found += LISTINGS[(method, rule)](world, response.get_json())
    return found


def keys_of(data) -> set[str]:
    if isinstance(data, dict):
        return set(data) | set().union(*(keys_of(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(keys_of(v) for v in data))
    return set()


def registrants(world: World, rows) -> list[str]:
    """Only the 団体's own registrants, and of each only what they consented to share."""
    found = []
    if {row["registration_id"] for row in rows} != world.hida_registrations:
        found.append("registrants other than the 団体's")
    for row in rows:
        profile = row["profile"]
        if profile is not None and set(profile) != {"display_name", "age_band", "skills", "interests"}:
            found.append(f"profile fields {sorted(profile)}")
        if profile is not None and profile["display_name"] == world.people["bystander"].display_name:
            found.append("the profile of someone who did not consent")
    return found


def applicants(world: World, rows) -> list[str]:
    found = [f"applicant fields {sorted(row['applicant'])}" for row in rows
             if set(row["applicant"]) != {"id", "display_name"}]
    if {row["applicant"]["id"] for row in rows} != world.need_applicants:
        found.append("applicants of other needs")
    return found


def candidates(world: World, rows) -> list[str]:
    """Only people who consented to scouting, and of them only the summary."""
    found = [f"candidate fields {sorted(row['registrant'])}" for row in rows
             if set(row["registrant"]) != {"id", "display_name", "age_band", "skills"}]
    if not {row["registrant"]["id"] for row in rows} <= {world.people["resident"].id}:
        found.append("candidates who did not consent to scouting")
    return found


def offers(world: World, rows) -> list[str]:
    """Only the people who offered help, with what API.md lists."""
    found = [f"offer fields {sorted(row)}" for row in rows if set(row) != {
        "id", "display_name", "age_band", "skills", "kinds", "available_from", "available_until", "message", "email",
        "created_at", "updated_at"}]
    if {row["email"] for row in rows} != {world.people["bystander"].email}:
        found.append("offers of people who made none")
    return found


OFFER_ROUTES = ("/api/v1/emergencies/<uuid:emergency_id>/offers", "/staff/emergencies/<uuid:emergency_id>")
LISTINGS: dict[tuple[str, str], Callable] = {
    ("GET", "/api/v1/emergencies/<uuid:emergency_id>/offers"): offers,
    ("GET", "/api/v1/organizations/<string:code>/registrants"): registrants,
    ("GET", "/api/v1/needs/<uuid:need_id>/applications"): applicants,
    ("GET", "/api/v1/needs/<uuid:need_id>/candidates"): candidates,
}


# --- the tests --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tally(request):
    """Counts the (route × method) × caller combinations checked; the terminal summary shows it."""
    counts = {"routes": 0, "combinations": 0}
    yield counts
    request.config.stash.setdefault(SUMMARY, []).append(
        f"authorization matrix: {counts['routes']} route × method entries × {len(CALLERS)} callers = "
        f"{counts['combinations']} combinations checked")


@pytest.fixture
def refused(monkeypatch) -> list[str]:
    """The codes of the refusals pages turn into a message (flashed or shown on the form)."""
    codes: list[str] = []
    original = page_common.problem_feedback

    def recording(problem):
        codes.append(problem.code)
        return original(problem)

    for module in (page_common, host_pages):
        monkeypatch.setattr(module, "problem_feedback", recording)
    return codes


@pytest.fixture(scope="module")
def world(app):
    """Built once for the module and committed (each test still runs in its rolled-back transaction);
    every table but the reference data is emptied afterwards."""
    with app.app_context():
        built = World(app).build()
        db.session.commit()
        db.session.remove()
    yield built
    clean(app)


@pytest.fixture
def callers(world, api) -> Callers:
    world.restore_files()
    return Callers(world, api)


def test_every_route_has_an_expectation(app):
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert sorted(routes - set(MATRIX)) == [], "routes without an expectation"
    assert sorted(set(MATRIX) - routes) == [], "expectations of routes that do not exist"


@pytest.mark.parametrize("method, rule", list(MATRIX), ids=[f"{m} {r}" for m, r in MATRIX])
def test_route(world, callers, refused, tally, method, rule):
    expect, page = MATRIX[(method, rule)], is_page(rule)
    got, wanted, leaked = {}, {}, {}
    for caller in CALLERS:
        refused.clear()
        savepoint = db.session.connection().begin_nested()
        try:
            response = callers.call(caller, method, rule, expect)
        finally:
            savepoint.rollback()
            db.session.expire_all()
        got[caller] = outcome(response, page, refused)
        wanted[caller] = expect.outcome_for(caller, page)
        if found := leaks(world, caller, method, rule, response):
            leaked[caller] = found
    tally["routes"] += 1
    tally["combinations"] += len(CALLERS)
    assert got == wanted
    assert leaked == {}
