from marshmallow import fields

from registry.common.schemas import BaseSchema, Id, TokyoDateTime


class CertificateSchema(BaseSchema):
    registration_id = Id()
    organization_code = fields.String(metadata={"example": "212172"})
    tier = fields.String(metadata={"example": "basic"})
    token = fields.String(metadata={"description": "compact JWS (Ed25519, EdDSA); `kid` in its header"})
    verify_url = fields.String(metadata={"example": "https://example.jp/verify?token=eyJ..."})
    qr_svg = fields.String(metadata={"description": "SVG of a QR code encoding `verify_url`"})
    expires_at = TokyoDateTime()


class VerifyQuerySchema(BaseSchema):
    # Deliberately no maxLength: API.md answers 200 for *any* token, so an over-long one is
    # `bad_signature` (the service refuses anything over MAX_TOKEN_LENGTH before parsing it).
    token = fields.String(required=True)


class BenefitSummarySchema(BaseSchema):
    title = fields.String()
    kind = fields.String()


class VerificationSchema(BaseSchema):
    valid = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={
        "description": "when not valid: bad_signature, expired, withdrawn, moved_in or not_found"})
    organization_code = fields.String(allow_none=True)
    tier = fields.String(allow_none=True, metadata={"description": "as of now (a lapsed premium is basic)"})
    valid_until = fields.Date(allow_none=True, metadata={"description": "premium_valid_until, for premium"})
    benefits = fields.List(fields.Nested(BenefitSummarySchema))
    expires_at = TokyoDateTime(allow_none=True, metadata={"description": "the token's expiry"})


class JwkSchema(BaseSchema):
    kty = fields.String(metadata={"example": "OKP"})
    crv = fields.String(metadata={"example": "Ed25519"})
    x = fields.String()
    kid = fields.String()
    use = fields.String(metadata={"example": "sig"})
    alg = fields.String(metadata={"example": "EdDSA"})


class JwkSetSchema(BaseSchema):
    keys = fields.List(fields.Nested(JwkSchema))
