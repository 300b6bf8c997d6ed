"""common.database.attempt: a page's action in a savepoint, inside the request's one transaction."""
import pytest
from sqlalchemy import select

from registry.accounts.models import LoginThrottle
from registry.common.database import attempt
from registry.errors import Problem
from registry.extensions import db


def _keys() -> set[str]:
    return set(db.session.scalars(select(LoginThrottle.email_key).where(LoginThrottle.email_key.like("attempt-%"))))


def _add(key: str, then=None):
    def action():
        db.session.add(LoginThrottle(email_key=key, failures=1))
        db.session.flush()
        if then is not None:
            raise then
        return key
    return action


def test_what_the_action_did_stays_for_the_request_to_commit():
    db.session.add(LoginThrottle(email_key="attempt-before", failures=1))
    assert attempt(_add("attempt-done")) == "attempt-done"
    assert _keys() == {"attempt-before", "attempt-done"}


@pytest.mark.parametrize("refusal", [Problem(409, "invalid_state"), ValueError("a bug")])
def test_a_refused_action_leaves_nothing_and_the_rest_of_the_request_stays(refusal):
    db.session.add(LoginThrottle(email_key="attempt-before", failures=1))
    with pytest.raises(type(refusal)):
        attempt(_add("attempt-refused", then=refusal))
    assert _keys() == {"attempt-before"}
    assert attempt(_add("attempt-after")) == "attempt-after"  # the session goes on working
    assert _keys() == {"attempt-before", "attempt-after"}


def test_a_refusal_that_keeps_changes_keeps_them():
    """A failed sign-in is refused (401) and still counted: `keep_changes`."""
    with pytest.raises(Problem) as raised:
        attempt(_add("attempt-counted", then=Problem(401, "invalid_credentials", keep_changes=True)))
    assert raised.value.status == 401
    assert _keys() == {"attempt-counted"}
