"""How `import_roster` writes: chunk by chunk (results as one), written again when an account appears
between the look-up and the write, nothing left behind without a links file, the e-mail check the
API's, the links file as the csv module writes it, and the bulk ids and tokens it uses."""
import csv
import io
import re
import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import example, given, settings, strategies as st
from marshmallow import ValidationError, fields
from sqlalchemy import Column, MetaData, String, func, select, text

from registry.accounts import links as tokens
from registry.accounts.models import SetPasswordToken, User
from registry.common.ids import ascending_ids
from registry.extensions import db
from registry.invitations import roster, roster_rows, roster_writes
from registry.invitations.models import Invitation
from registry.organizations.models import Organization
from tests.invitations.conftest import HIDA, read_links


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _import(path, links=None, **kw):
    return roster.import_roster(str(path), db.session.get(Organization, HIDA), site_url="https://example.jp",
                                links=links, **kw)


def _invited_emails() -> set[str]:
    return set(db.session.scalars(select(User.email_key).join(Invitation, Invitation.user_id == User.id)))


ODD_EMAIL = '"o\'brien\\\\x"@Example.jp'  # a quoted local part, with an escaped backslash


def _csv_line(*fields) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def test_small_chunks_write_what_one_chunk_would(signup, make_account, roster_file):
    """Chunks of two rows: every kind of row lands in its own chunk or shares one, and the report,
    the accounts, the invitations and the links (in line order) are what one chunk gives."""
    signup(email="known@example.jp")
    make_account("staff", HIDA)
    staff = db.session.scalar(select(User.email).where(User.role == "staff"))
    path = roster_file("a@example.jp,エー,131016,,1990",
                       "known@example.jp,既知,131016,family,1990",
                       f"{staff},職員,131016,,1990",
                       "b@example.jp,ビー,131016,,",
                       "not-an-email,悪い,131016,,1990",
                       "d@example.jp,ディー,131016,,1990",
                       "c@example.jp,シー,011011,volunteer,1980",
                       "A@example.jp,重複,131016,,1990",
                       _csv_line(ODD_EMAIL, "\\N \\t 太郎", "131016", "family;volunteer", ""))
    links = []
    report = _import(path, links=lambda email, link: links.append(email), chunk_size=2)
    assert report.bad == [(4, "the account with this email is a staff account, which cannot register"),
                          (6, "email is not a valid e-mail address"), (9, "email is already on line 2")]
    assert (report.rows, report.new_accounts, report.existing_accounts, report.already_invited) == (9, 5, 1, 0)
    assert links == ["a@example.jp", "b@example.jp", "d@example.jp", "c@example.jp", ODD_EMAIL]
    assert _invited_emails() == {"a@example.jp", "known@example.jp", "b@example.jp", "d@example.jp", "c@example.jp",
                                 ODD_EMAIL.lower()}
    assert _count(SetPasswordToken) == 5
    stored = db.session.scalar(select(User).where(User.email_key == ODD_EMAIL.lower()))
    assert (stored.email, stored.display_name, stored.birth_year) == (ODD_EMAIL, "\\N \\t 太郎", None)  # as written
    invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == stored.id))
    assert invitation.ties == ["family", "volunteer"] and invitation.status == "pending"
    again = _import(path, links=lambda email, link: links.append(email), chunk_size=3)
    assert (again.new_accounts, again.existing_accounts, again.already_invited) == (0, 0, 6)
    assert len(links) == 5


def test_an_account_that_appears_after_the_look_up_is_invited_not_created(
        signup, make_account, roster_file, monkeypatch):
    """A signup between a chunk's look-up and its write: the account's unique e-mail key refuses the
    chunk, which is looked up and written again (the signup's account then gets the invitation)."""
    signup(email="late@example.jp")
    make_account("host", HIDA)
    host = db.session.scalar(select(User.email).where(User.role == "host"))
    real_look_up, calls = roster_writes.ChunkWriter._look_up, []

    def look_up_missing_the_signup_once(self, keys):
        calls.append(list(keys))
        found = real_look_up(self, keys)
        if len(calls) == 1:
            found.pop("late@example.jp")
        return found

    monkeypatch.setattr(roster_writes.ChunkWriter, "_look_up", look_up_missing_the_signup_once)
    path = roster_file("early@example.jp,早い,131016,,1990", "late@example.jp,遅い,131016,,1990",
                       f"{host},ホスト,131016,,1990")
    links = []
    report = _import(path, links=lambda email, link: links.append(email))
    assert calls == [["early@example.jp", "late@example.jp", host]] * 2
    assert (report.new_accounts, report.existing_accounts) == (1, 1)
    assert report.bad == [(4, "the account with this email is a host account, which cannot register")]  # once
    assert links == ["early@example.jp"]
    assert _count(User) == 3 and _count(SetPasswordToken) == 1
    assert _invited_emails() == {"early@example.jp", "late@example.jp"}


def test_without_a_links_file_nothing_is_left_behind(signup, roster_file, dialect):
    """Existing accounts' invitations written before a new person turns up are undone by the run
    itself (not only by the caller's rollback), foreign-key triggers included."""
    signup(email="known@example.jp")
    path = roster_file("known@example.jp,既知,131016,,1990", "new@example.jp,新人,131016,,1990",
                       "also-new@example.jp,新人,131016,,1990", "bad,悪い,131016,,1990")
    with pytest.raises(roster.LinksFileRequired) as raised:
        _import(path, chunk_size=1)
    assert raised.value.people == 2
    assert raised.value.report.bad == [(5, "email is not a valid e-mail address")]
    assert _count(Invitation) == 0 and _count(User) == 1
    if dialect == "postgresql":
        assert db.session.scalar(text("SHOW session_replication_role")) == "origin"


@pytest.mark.parametrize("model", [User, Invitation, SetPasswordToken])
def test_a_column_added_to_a_table_it_writes_stops_the_import_naming_it(model, roster_file, monkeypatch):
    """The import's columns come from the models (registry/common/bulk.py): one it does not give is an
    error that names it, never a column silently left NULL."""
    drifted = model.__table__.to_metadata(MetaData())
    drifted.append_column(Column("drift_probe", String(10)))
    monkeypatch.setattr(model, "__table__", drifted)
    with pytest.raises((TypeError, RuntimeError), match="drift_probe"):
        _import(roster_file("new@example.jp,新人,131016,,1990"), links=lambda email, link: None)


# --- the e-mail check ------------------------------------------------------------------------------

def _api_accepts(value: str) -> bool:
    try:
        fields.Email().deserialize(value)
    except ValidationError:
        return False
    return True


LOCAL = st.text(st.sampled_from("ab.Z9_-+!#$%&'*/=?^`{|}~\"\\ @(),:;<>[]\t\x01\x7fé漢"), max_size=12)
DOMAIN = st.text(st.sampled_from("ab.Z9-[]0123456789:éa漢 _"), max_size=14)


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.emails(), st.builds(lambda *parts: "@".join(parts), LOCAL, DOMAIN),
                 st.builds(lambda a, b, c: f"{a}@{b}@{c}", LOCAL, LOCAL, DOMAIN), st.text(max_size=20)))
@example('"a@b"@example.jp')
@example('"a\\\tb"@example.jp')
@example("a@[192.168.0.1]")
@example("a@localhost")
@example("a.@example.jp")
@example("a@example.123")
@example("@example.jp")
@example("a@")
def test_the_email_check_accepts_exactly_what_the_api_accepts(value):
    assert roster_rows.is_email(value) == _api_accepts(value)


# --- the links file --------------------------------------------------------------------------------

def test_the_links_file_is_what_the_csv_module_writes(tmp_path):
    rows = [("plain@example.jp", "https://example.jp/set-password?token=abc"),
            ('"a,b"@example.jp', "https://example.jp/set-password?token=def"),
            ('"say ""hi"""@example.jp', "https://example.jp/set-password?token=ghi"),
            ("plain2@example.jp", "https://example.jp/set,password?token=jkl")]
    links = roster.LinksFile(str(tmp_path / "links.csv"))
    for email, link in rows:
        links.write(email, link)
    links.publish()
    expected = io.StringIO(newline="")
    csv.writer(expected).writerows([("email", "link"), *rows])
    assert (tmp_path / "links.csv").read_bytes() == expected.getvalue().encode("utf-8")
    assert [(r["email"], r["link"]) for r in read_links(tmp_path / "links.csv")] == rows


# --- bulk ids and tokens ---------------------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 3000, 10_000])
def test_bulk_ids_are_version_7_of_this_millisecond_distinct_and_ascending(count):
    before = int(datetime.now(timezone.utc).timestamp() * 1000)
    ids = ascending_ids(count)
    after = int(datetime.now(timezone.utc).timestamp() * 1000)
    parsed = [uuid.UUID(bytes=i) for i in ids]
    assert len(set(ids)) == count
    assert {u.version for u in parsed} == {7} and {u.variant for u in parsed} == {uuid.RFC_4122}
    assert all(before <= u.int >> 80 <= after for u in parsed)
    places = [(u.int >> 64) & 0xFFF for u in parsed]  # rand_a: the place in the batch
    assert places == sorted(places)
    if count <= 4096:
        assert ids == sorted(ids) and len(set(places)) == count
    else:  # places shared by a few ids each, spread over all 4096
        assert len(set(places)) == 4096 and max(places.count(p) for p in set(places)) <= -(-count // 4096)
    if count > 100:  # the rest is random, the variant's two free bits too
        assert {(u.int >> 60) & 0xF for u in parsed} == {8, 9, 10, 11}


def test_bulk_minted_tokens_are_like_mint():
    minted = tokens.mint_many(500)
    raw, digest = tokens.mint()
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", r) for r, _ in minted + [(raw, digest)])
    assert all(d == tokens._digest(r) for r, d in minted)
    assert len({r for r, _ in minted}) == 500
