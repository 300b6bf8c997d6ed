"""登録証: issuing a registration's certificate and checking one (API.md "Registrations").

A certificate is a compact JWS (Ed25519, `alg` EdDSA, `kid` in the header) whose claims are the
registration id (`sub`), the 団体 code (`org`), the tier, `iat` and `exp`. Anyone may check it here,
or offline with the published JWK set; the check never reveals who holds it.
"""
import io
import uuid
from collections.abc import Mapping
from datetime import datetime, time, timedelta, timezone
from urllib.parse import urlencode

import jwt
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.accounts.models import User
from registry.benefits import service as benefits
from registry.certificates.keys import CertificateKey
from registry.i18n import N_
from registry.common.time import TOKYO, today_tokyo, utcnow
from registry.errors import Problem
from registry.extensions import db
from registry.organizations import service as organizations
from registry.organizations.models import Organization
from registry.registrations import service as registrations
from registry.registrations.models import ACTIVE, PREMIUM, Registration

ALGORITHM = "EdDSA"
CLAIMS = ("sub", "org", "tier", "iat", "exp")
MAX_TOKEN_LENGTH = 2048  # a real token is about 350 characters; anything longer is not one of ours
VERIFY_PATH = "/verify"

# Reasons a token is not valid (the registration's own status is used for ended ones).
BAD_SIGNATURE, EXPIRED, NOT_FOUND = "bad_signature", "expired", "not_found"


# --- issuing --------------------------------------------------------------------------------------

def issue(user: User, registration_id: uuid.UUID, *, key: CertificateKey, ttl_hours: int, site_root: str,
          now: datetime | None = None) -> dict:
    """The owner's certificate for an active registration: token, QR of the verify page, expiry."""
    reg = registrations.get_owned(user, registration_id)  # someone else's or unknown: 404
    if reg.status != ACTIVE:
        raise Problem(409, "invalid_state", N_("This registration is no longer active."))
    now = now or utcnow()
    token, expires_at = sign(reg, key=key, ttl_hours=ttl_hours, now=now)
    url = verify_url(site_root, token)
    return {"registration_id": reg.id, "organization_code": reg.organization_code,
            "tier": reg.effective_tier(today_tokyo(now)), "token": token, "verify_url": url,
            "qr_svg": qr_svg(url), "expires_at": expires_at}


def sign(reg: Registration, *, key: CertificateKey, ttl_hours: int, now: datetime) -> tuple[str, datetime]:
    """A token for `reg` as it stands at `now`, valid `ttl_hours`; a premium token never outlives
    the premium (it ends with the last day of `premium_valid_until`, Tokyo time), so a counter
    checking offline never sees a lapsed premium."""
    tier = reg.effective_tier(today_tokyo(now))
    issued_at = int(now.timestamp())
    expires = issued_at + int(timedelta(hours=ttl_hours).total_seconds())
    if tier == PREMIUM:
        premium_end = datetime.combine(reg.premium_valid_until + timedelta(days=1), time(), tzinfo=TOKYO)
        expires = min(expires, int(premium_end.timestamp()))
    claims = {"sub": str(reg.id), "org": reg.organization_code, "tier": tier, "iat": issued_at, "exp": expires}
    token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, datetime.fromtimestamp(expires, timezone.utc)


def verify_url(site_root: str, token: str) -> str:
    return f"{site_root.rstrip('/')}{VERIFY_PATH}?{urlencode({'token': token})}"


def qr_svg(url: str) -> str:
    """An SVG QR code of `url`: error level M, the standard 4-module quiet zone on white, so a phone
    reads it off a screen. It has a viewBox and no fixed size, so CSS scales the whole code to the
    width it is given (a fixed 340-pixel code in a narrower box was cut, not scaled)."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="svg", scale=4, border=4, dark="#000", light="#fff",
                                                 xmldecl=False, nl=False, omitsize=True, title="登録証 QR")
    return out.getvalue().decode("utf-8")


# --- checking -------------------------------------------------------------------------------------

def public_keys(*keys: CertificateKey) -> dict[str, Ed25519PublicKey]:
    """The keys a token may be signed with, by `kid` (several while a key is being rotated)."""
    return {key.kid: key.public_key for key in keys}


def key_set(*keys: CertificateKey) -> dict:
    """The JWK set published at `GET /certificates/keys`."""
    return {"keys": [key.public_jwk() for key in keys]}


def verify(token: str, *, keys: Mapping[str, Ed25519PublicKey], now: datetime | None = None) -> dict:
    """The public answer for any string: never raises, never names the holder."""
    now = now or utcnow()
    claims = _verified_claims(token, keys)
    if claims is None:
        return _invalid(BAD_SIGNATURE)
    if claims["exp"] <= now.timestamp():
        return _invalid(EXPIRED)
    reg = db.session.get(Registration, claims["sub"])
    if reg is None:
        return _invalid(NOT_FOUND)
    if reg.status != ACTIVE:
        return _invalid(reg.status)  # withdrawn, moved_in
    tier = reg.effective_tier(today_tokyo(now))  # as of now: a lapsed premium is basic
    return {"valid": True, "reason": None, "organization_code": reg.organization_code, "tier": tier,
            "valid_until": reg.premium_valid_until if tier == PREMIUM else None,
            "benefits": benefits.benefits_for(reg.organization_code, tier),
            "expires_at": datetime.fromtimestamp(claims["exp"], timezone.utc)}


def check(token: str, *, keys: Mapping[str, Ed25519PublicKey],
          now: datetime | None = None) -> tuple[dict, Organization | None]:
    """The check page's answer: `verify`'s, and for a valid certificate the 団体 it names."""
    result = verify(token, keys=keys, now=now)
    return result, organizations.find(result["organization_code"]) if result["valid"] else None


def _invalid(reason: str) -> dict:
    return {"valid": False, "reason": reason, "organization_code": None, "tier": None, "valid_until": None,
            "benefits": [], "expires_at": None}


def _verified_claims(token, keys: Mapping[str, Ed25519PublicKey]) -> dict | None:
    """The claims of a well-formed token signed by one of `keys`, else None. Expiry is checked by
    the caller against its own clock."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            return None
        claims = jwt.decode(token, key, algorithms=[ALGORITHM],
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "verify_aud": False, "verify_iss": False, "require": list(CLAIMS)})
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None
    if not all(isinstance(claims[name], str) for name in ("sub", "org", "tier")) or \
            not all(type(claims[name]) is int for name in ("iat", "exp")):
        return None
    try:
        claims["sub"] = uuid.UUID(claims["sub"])
    except ValueError:
        return None
    return claims
