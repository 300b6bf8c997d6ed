"""The benefits service without HTTP: who may publish and delete, the current-benefits window on a
given day (both ends included), premium including basic, and flush-not-commit."""
from datetime import date, timedelta

import pytest

from registry.benefits import service
from registry.benefits.models import Benefit
from registry.extensions import db
from tests.factories import GIFU, HIDA, TAKAYAMA, account, flushed_not_committed, person, refused

TODAY = date(2026, 7, 1)


def _publish(staff, title, *, tier="basic", code=HIDA, **dates) -> Benefit:
    return service.create(staff, code, {"title": title, "tier": tier, "kind": "facility", **dates})


def _titles(found) -> list[str]:
    """The titles of a list_for page (or a statement's rows)."""
    items = found.items if hasattr(found, "items") else db.session.scalars(found)
    return [b.title for b in items]


def test_create_strips_and_keeps_who_published_and_flushes_without_committing():
    staff = account("staff", HIDA)
    benefit = service.create(staff, HIDA, {"title": "  温泉の住民料金 ", "tier": "premium", "kind": "facility"})
    assert (benefit.title, benefit.description, benefit.created_by, benefit.organization_code) == \
        ("温泉の住民料金", "", staff.id, HIDA)
    assert flushed_not_committed(Benefit, benefit.id)


def test_only_the_organizations_own_staff_publish():
    for outsider in (account("staff", TAKAYAMA), account("staff", GIFU), account("host", HIDA), account("admin"),
                     person()):
        assert refused(_publish, outsider, "x") == (403, "forbidden"), outsider.role
    assert refused(_publish, account("staff", HIDA), "x", code="999999") == (404, "unknown_organization")


def test_an_end_before_the_start_is_refused():
    staff = account("staff", HIDA)
    assert refused(_publish, staff, "x", valid_from=TODAY, valid_until=TODAY - timedelta(days=1)) == \
        (422, "validation_error")
    assert _publish(staff, "one day", valid_from=TODAY, valid_until=TODAY).valid_until == TODAY


def test_current_means_from_and_until_included_on_the_day_given():
    staff = account("staff", HIDA)
    _publish(staff, "always")
    _publish(staff, "starts today", valid_from=TODAY)
    _publish(staff, "ends today", valid_until=TODAY)
    _publish(staff, "starts tomorrow", valid_from=TODAY + timedelta(days=1))
    _publish(staff, "ended yesterday", valid_until=TODAY - timedelta(days=1))
    assert sorted(_titles(service.list_for(None, HIDA, today=TODAY))) == ["always", "ends today", "starts today"]
    assert len(_titles(service.list_for(staff, HIDA, everything=True, today=TODAY))) == 5


def test_everything_is_for_the_organizations_own_staff():
    assert refused(service.list_for, None, HIDA, everything=True) == (401, "unauthorized")
    for outsider in (account("staff", TAKAYAMA), person()):
        assert refused(service.list_for, outsider, HIDA, everything=True) == (403, "forbidden")
    assert refused(service.list_for, None, "999999") == (404, "unknown_organization")


def test_premium_includes_basic_and_basic_comes_first():
    staff = account("staff", HIDA)
    _publish(staff, "premium one", tier="premium")
    _publish(staff, "basic one")
    assert service.tiers_given("premium") == ("basic", "premium") and service.tiers_given("basic") == ("basic",)
    assert _titles(service.list_for(None, HIDA, tier="premium", today=TODAY)) == ["basic one", "premium one"]
    assert _titles(service.list_for(None, HIDA, tier="basic", today=TODAY)) == ["basic one"]
    assert service.benefits_for(HIDA, "premium", today=TODAY) == [
        {"title": "basic one", "kind": "facility"}, {"title": "premium one", "kind": "facility"}]
    assert service.benefits_for(TAKAYAMA, "premium", today=TODAY) == []


def test_current_benefits_of_several_organizations_at_once():
    _publish(account("staff", HIDA), "hida")
    _publish(account("staff", GIFU), "gifu", code=GIFU, valid_until=TODAY - timedelta(days=1))
    found = service.current_by_organization([HIDA, GIFU, TAKAYAMA], today=TODAY)
    assert {code: [b.title for b in found[code]] for code in found} == {HIDA: ["hida"], GIFU: [], TAKAYAMA: []}
    assert service.current_by_organization([]) == {}


def test_delete_is_for_the_organizations_own_staff():
    staff = account("staff", HIDA)
    benefit = _publish(staff, "x")
    for outsider in (account("staff", TAKAYAMA), account("host", HIDA)):
        assert refused(service.delete, outsider, benefit.id) == (404, "not_found")
    service.delete(staff, benefit.id)
    assert db.session.get(Benefit, benefit.id) is None
    assert refused(service.delete, staff, benefit.id) == (404, "not_found")


@pytest.mark.parametrize("actor_role, code, allowed", [("staff", HIDA, True), ("staff", GIFU, False),
                                                       ("host", HIDA, False), ("national", None, False)])
def test_is_staff_of(actor_role, code, allowed):
    assert service.is_staff_of(account(actor_role, code), HIDA) is allowed
    assert service.is_staff_of(None, HIDA) is False
