"""Japanese first: every marked string has a Japanese translation, compiled for the app."""
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "registry/translations/ja/LC_MESSAGES/messages.po"


def _marked() -> set[str]:
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}
    method_map = [("registry/**.py", "python"), ("registry/templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(str(ROOT), method_map=method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_marked_string_has_a_japanese_translation():
    with CATALOG.open("rb") as f:
        catalog = read_po(f, locale="ja")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(_marked() - translated)
    assert not missing, f"run scripts/update-translations.sh and translate: {missing}"


def test_catalog_is_compiled():
    mo = CATALOG.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= CATALOG.stat().st_mtime, "run `make install` to compile catalogs"


def _get(client, path, **headers):
    with client.application.app_context():  # a fresh context (and `g`) per request, as in production
        return client.get(path, headers=headers)


def test_responses_that_follow_accept_language_say_so(client):
    """API.md "Trust rules": a cache must not hand one language's answer to a reader of another."""
    ja = _get(client, "/api/v1/organizations/999999", **{"Accept-Language": "ja"})
    en = _get(client, "/api/v1/organizations/999999", **{"Accept-Language": "en"})
    assert ja.get_json()["title"] != en.get_json()["title"]  # the problem's words follow the header
    for response in (ja, en):
        assert "Accept-Language" in response.vary
    page = _get(client, "/", **{"Accept-Language": "en", "Accept": "text/html"})
    assert page.status_code == 200 and "Accept-Language" in page.vary
    assert "Accept-Language" in _get(client, "/no-such-page", Accept="text/html").vary


def test_responses_that_do_not_follow_it_do_not_say_so(client):
    assert "Accept-Language" not in _get(client, "/healthz", **{"Accept-Language": "en"}).vary
    chosen = _get(client, "/api/v1/organizations/999999?lang=en", **{"Accept-Language": "ja"})
    assert chosen.get_json()["title"] == "No such local government (団体)." and "Accept-Language" not in chosen.vary
    keys = _get(client, "/api/v1/certificates/keys", **{"Accept-Language": "en"})
    assert keys.status_code == 200 and "Accept-Language" not in keys.vary  # public, cached: one answer
