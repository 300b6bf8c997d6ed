import uuid

from flask import current_app
from flask_login import current_user

from registry.certificates import service
from registry.certificates.keys import app_key
from registry.certificates.schemas import CertificateSchema, JwkSetSchema, VerificationSchema, VerifyQuerySchema
from registry.common import limits
from registry.common.auth import RESIDENT, public, require
from registry.common.openapi import Blueprint

blp = Blueprint("certificates", __name__, description="登録証: registration certificates and their public check")

NO_STORE = {"Cache-Control": "no-store"}


@blp.get("/registrations/<uuid:registration_id>/certificate")
@require(RESIDENT)
@blp.response(200, CertificateSchema)
@blp.alt_response(409, response="CONFLICT")
def get_certificate(registration_id: uuid.UUID):
    """A fresh certificate for an active registration: a signed token and the QR of its check page."""
    certificate = service.issue(current_user._get_current_object(), registration_id, key=app_key(current_app),
                                ttl_hours=current_app.config["CERTIFICATE_TTL_HOURS"],
                                site_root=current_app.config["SITE_URL"])
    return certificate, NO_STORE


@blp.get("/certificates/verify")
@limits.certificate_check
@public
@blp.arguments(VerifyQuerySchema, location="query")
@blp.response(200, VerificationSchema)
def verify_certificate(args):
    """Check a certificate: 200 for any token, good or bad, with no personal data."""
    return service.verify(args["token"], keys=service.public_keys(app_key(current_app))), NO_STORE


@blp.get("/certificates/keys")
@public
@blp.response(200, JwkSetSchema)
def certificate_keys():
    """The JWK set that verifies certificates offline."""
    return service.key_set(app_key(current_app)), {"Cache-Control": "public, max-age=3600"}
