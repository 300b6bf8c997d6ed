"""`flask --app wsgi create-partner`: an operator registers a partner; the secret is printed once and
kept only as a digest, and the partner it prints goes through the whole flow."""
import hashlib
import re
import uuid

import pytest
from sqlalchemy import func, select

from registry.extensions import db
from registry.partners.models import Partner
from tests.partners.conftest import PartnerApp, code_for, exchange

PRINTED = re.compile(r"client_id: (?P<client_id>\S+)\nclient_secret: (?P<secret>\S+)\n")


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["create-partner", *args])


def test_create_partner_prints_its_credentials_once(app, api, oauth, resident_with_browser):
    result = _run(app, "--name", "おてつたび", "--redirect-uri", "https://otetsutabi.example/cb",
                  "--redirect-uri", "http://127.0.0.1:8080/cb")
    assert result.exit_code == 0, result.output + result.stderr
    printed = PRINTED.fullmatch(result.stdout).groupdict()
    assert "cannot be shown again" in result.stderr
    row = db.session.get(Partner, uuid.UUID(printed["client_id"]))
    assert row.name == "おてつたび" and row.redirect_uris == ["https://otetsutabi.example/cb", "http://127.0.0.1:8080/cb"]
    assert row.secret_hash == hashlib.sha256(printed["secret"].encode()).hexdigest()
    assert len(printed["secret"]) >= 43  # 256 random bits
    partner = PartnerApp(printed["client_id"], printed["secret"], "おてつたび", "https://otetsutabi.example/cb")
    code, verifier = code_for(resident_with_browser, partner)
    token = exchange(oauth, partner, code, verifier)
    assert token.status_code == 200
    assert api.get("/partner/me", token=token.get_json()["access_token"]).status_code == 200


@pytest.mark.parametrize("args", [
    ["--name", "x", "--redirect-uri", "http://partner.example/cb"],  # plain http off the loopback
    ["--name", "x", "--redirect-uri", "https://partner.example/cb#frag"],
    ["--name", "x", "--redirect-uri", "/relative/cb"],
    ["--name", "x", "--redirect-uri", "https://partner.example/c b"],
    ["--name", "x", "--redirect-uri", "javascript:alert(1)"],
    ["--name", " ", "--redirect-uri", "https://partner.example/cb"],
    ["--name", "x" * 201, "--redirect-uri", "https://partner.example/cb"],
    ["--name", "x"],
])
def test_create_partner_refuses_what_cannot_work(app, args):
    before = db.session.scalar(select(func.count(Partner.id)))
    result = _run(app, *args)
    assert result.exit_code == 2, result.output
    assert db.session.scalar(select(func.count(Partner.id))) == before
