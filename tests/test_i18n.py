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
