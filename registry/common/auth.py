"""Who is calling, and the one-line rule each endpoint states about who may call it.

API clients send `Authorization: Bearer <token>`; pages use the session cookie. A bearer header, when
present, is the only credential considered (a bad one is 401 even beside a valid cookie), and the
API never accepts a cookie for unsafe methods, so cross-site requests cannot act through it.
"""
from functools import wraps

from flask import current_app, request
from flask_login import current_user

from registry.common.network import all_inside, caller_addresses, parse_networks
from registry.errors import Problem, not_found
from registry.extensions import csrf

RESIDENT, STAFF, HOST, NATIONAL, ADMIN = "resident", "staff", "host", "national", "admin"
ROLES = (RESIDENT, STAFF, HOST, NATIONAL, ADMIN)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A partner (連携サービス, registry.partners) calls with its own OAuth tokens, and only under this
# path; an account's token is never read there, and a partner's token works nowhere else.
PARTNER = "partner"
PARTNER_API_PATH = "/api/v1/partner/"


def partner_path(path: str) -> bool:
    return path.startswith(PARTNER_API_PATH)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def check_form_token() -> None:
    """The pages' forms: an unsafe method carries the session's CSRF token, else 400 and nothing
    changes (the API takes no cookies for writes, so it needs none)."""
    if request.method not in SAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


def session_allowed() -> bool:
    """May this request be authenticated by the session cookie?"""
    if "Authorization" in request.headers:
        return False
    if request.path.startswith("/api/") and request.method not in SAFE_METHODS:
        return False
    return True


def current_actor():
    """The signed-in user, or None."""
    return current_user if current_user.is_authenticated else None


def require(*roles: str):
    """`@require("resident")`: 401 without valid credentials, 403 for any other role."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            actor = current_actor()
            if actor is None:
                raise Problem(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
            if roles and actor.role not in roles:
                raise Problem(403, "forbidden")
            return view(*args, **kwargs)

        wrapper.required_roles = roles  # read by the authorization-matrix test
        return wrapper

    return decorator


def public(view):
    """Marks an endpoint anyone may call, so the authorization-matrix test knows it is intended."""
    view.required_roles = ()
    return view


def peer_address() -> str | None:
    """The address of whoever opened the connection: the nearest proxy, if any. `request.remote_addr`
    is the client once `PROXY_HOPS` trusts X-Forwarded-For (ProxyFix keeps the peer's own value), and
    the operator's network checks the peer as well as every forwarded address."""
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    return original.get("REMOTE_ADDR", request.remote_addr)


def operator_network(view):
    """Marks an endpoint for the operator's own network (`METRICS_ALLOWED_NETWORKS`): no sign-in, and
    a caller from anywhere else gets 404, as if nothing were there (API.md: /readyz, /metrics)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        networks = parse_networks(current_app.config["METRICS_ALLOWED_NETWORKS"])
        if not all_inside(caller_addresses(peer_address(), request.headers), networks):
            raise not_found()
        return view(*args, **kwargs)

    wrapper.required_roles = ()  # anyone who can reach it; the network is the rule
    return wrapper
