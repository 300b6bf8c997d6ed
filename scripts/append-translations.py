#!/usr/bin/env python3
"""Appends Japanese translations to the catalog without rewriting it (so parallel edits don't clash).

    scripts/append-translations.py FILE.py   # FILE.py defines JA = {english msgid: japanese}
Entries whose msgid is already in the catalog are skipped."""
import runpy
import sys
from pathlib import Path

from babel.messages.pofile import read_po

CATALOG = Path(__file__).resolve().parents[1] / "registry/translations/ja/LC_MESSAGES/messages.po"


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main(path: str) -> None:
    wanted = runpy.run_path(path)["JA"]
    with CATALOG.open("rb") as f:
        present = {m.id for m in read_po(f, locale="ja") if m.id}
    new = {k: v for k, v in wanted.items() if k not in present}
    with CATALOG.open("a", encoding="utf-8") as f:
        for msgid, msgstr in new.items():
            flag = "#, python-format\n" if "%(" in msgid else ""
            f.write(f"\n{flag}msgid {quote(msgid)}\nmsgstr {quote(msgstr)}\n")
    print(f"appended {len(new)} translation(s)")


if __name__ == "__main__":
    main(sys.argv[1])
