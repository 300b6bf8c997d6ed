"""The partners' service layer: consents (one grant per person and partner), their withdrawal and
erasure, a 団体's trust, and reports as evidence (through registry.evidence.service.report)."""
import pytest
from sqlalchemy import func, select

from registry.common.time import today_tokyo
from registry.errors import Problem
from registry.evidence import service as evidence
from registry.evidence.models import APPROVED, PENDING, ActivityEvidence
from registry.extensions import db
from registry.partners import service
from registry.partners.models import PartnerAuthorizationCode, PartnerGrant, PartnerToken
from registry.registrations import service as registrations
from registry.registrations.models import Activity
from tests.factories import HIDA, TAKAYAMA, account, partner_token, person, refused


@pytest.fixture
def partner():
    return service.create_partner("ヒダスケ!", ["https://partner.example/cb"])[0]


def _report(**fields) -> dict:
    return {"organization_code": HIDA, "done_on": today_tokyo(), "title": "雪かき", "kind": "volunteer",
            "external_id": "e-1", **fields}


def test_one_grant_per_person_and_partner(partner):
    someone = person()
    first = service.consent(someone, partner, ["registrations:read"])
    again = service.consent(someone, partner, ["activities:write"])
    assert again.id == first.id and again.scopes == ["registrations:read", "activities:write"]
    service.revoke_grant(someone, first.id)
    renewed = service.consent(someone, partner, ["activities:write"])
    assert renewed.id == first.id and renewed.scopes == ["activities:write"] and renewed.revoked_at is None
    assert [g.partner_name for g in service.grants_of(someone).items] == ["ヒダスケ!"]


def test_only_the_person_withdraws_their_grant(partner):
    someone, other = person(), person()
    grant = service.consent(someone, partner, ["registrations:read"])
    assert refused(service.revoke_grant, other, grant.id) == (404, "not_found")
    service.revoke_grant(someone, grant.id)
    assert refused(service.revoke_grant, someone, grant.id) == (404, "not_found")


def test_erasure_deletes_grants_codes_and_tokens():
    someone = person()
    partner_token(someone)
    partner_token(someone, "registrations:read")
    service.erase_for(someone)
    for model in (PartnerGrant, PartnerAuthorizationCode, PartnerToken):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0


def test_trust_belongs_to_the_organizations_staff(partner):
    staff, other = account("staff", HIDA), account("staff", TAKAYAMA)
    trusted, created = service.trust(staff, HIDA, partner.client_id)
    assert created and trusted.partner_name == "ヒダスケ!"
    assert service.trust(staff, HIDA, partner.client_id)[1] is False
    assert refused(service.trust, other, HIDA, partner.client_id) == (403, "forbidden")
    assert refused(service.trust, staff, HIDA, "not-a-client") == (422, "validation_error")
    assert service.find_partner(partner.client_id.replace("-", "")) is None  # only the exact client id
    assert service.find_partner(partner.client_id.upper()) is None
    assert service.is_trusted(HIDA, partner.id) and not service.is_trusted(TAKAYAMA, partner.id)
    service.untrust(staff, HIDA, partner.client_id)
    assert not service.is_trusted(HIDA, partner.id)


def test_a_report_is_evidence_and_a_trusted_one_an_activity(partner):
    someone = person()
    registrations.register(someone, HIDA, ["volunteer"])
    waiting, created = evidence.report(someone, _report(), partner_id=partner.id, partner_name=partner.name,
                                       trusted=False)
    assert created and waiting.status == PENDING and waiting.source == "partner"
    assert evidence.report(someone, _report(title="別"), partner_id=partner.id, partner_name=partner.name,
                           trusted=False) == (waiting, False)
    approved, _ = evidence.report(someone, _report(external_id="e-2"), partner_id=partner.id,
                                  partner_name=partner.name, trusted=True)
    assert approved.status == APPROVED and approved.decided_by is None
    activity = db.session.scalar(select(Activity).where(Activity.evidence_id == approved.id))
    assert activity.source == "evidence" and activity.organization_code == HIDA
    with pytest.raises(Problem) as not_registered:
        evidence.report(someone, _report(organization_code=TAKAYAMA, external_id="e-3"), partner_id=partner.id,
                        partner_name=partner.name, trusted=True)
    assert not_registered.value.code == "not_registered"


def test_erasure_empties_a_reports_texts_and_the_partners_id(partner):
    someone = person()
    registrations.register(someone, HIDA, ["volunteer"])
    evidence.report(someone, _report(title="棚田の草刈り"), partner_id=partner.id, partner_name=partner.name,
                    trusted=False)
    evidence.erase_for(someone)
    row = db.session.scalar(select(ActivityEvidence))
    assert (row.description, row.external_id, row.status) == ("", None, "rejected")
