import pytest

from registry.accounts import service
from registry.errors import Problem


def test_create_user_rules():
    staff = service.create_user(email="s@example.jp", password="staff-password-1", role="staff", organization_code="212172")
    assert staff.organization_code == "212172"
    with pytest.raises(Problem):
        service.create_user(email="t@example.jp", password="staff-password-1", role="staff")
    with pytest.raises(Problem):
        service.create_user(email="n@example.jp", password="staff-password-1", role="national", organization_code="212172")
    with pytest.raises(Problem) as taken:
        service.create_user(email="S@example.jp", password="staff-password-1", role="admin")
    assert taken.value.code == "email_taken"


def test_age_bands():
    from datetime import date
    today = date(2026, 11, 23)
    assert service.age_band(2010, today) == "under_18"
    assert service.age_band(2008, today) == "18_29"
    assert service.age_band(1956, today) == "70_plus"
    assert service.age_band(None, today) is None


def test_create_user_cli(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "--email", "n@example.jp", "--password", "national-pass-1",
                                 "--role", "national"])
    assert result.exit_code == 0, result.output
    assert service.find_by_email("N@example.jp").role == "national"
    bad = runner.invoke(args=["create-user", "--email", "x@example.jp", "--password", "national-pass-1",
                              "--role", "staff", "--organization", "999999"])
    assert bad.exit_code != 0 and "unknown_organization" in bad.output
