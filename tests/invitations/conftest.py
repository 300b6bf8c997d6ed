"""Roster files and the `import-roster` command for the invitations tests."""
import csv
from urllib.parse import parse_qs, urlparse

import pytest

from tests.factories import HIDA

HEADER = "email,display_name,home_municipality_code,ties,birth_year"


@pytest.fixture
def roster_file(tmp_path):
    """roster_file(*lines, bom=False, newline="\\n", header=HEADER) → the path of a CSV with these data lines."""
    counter = iter(range(1, 1000))

    def write(*lines, bom=False, newline="\n", header=HEADER):
        path = tmp_path / f"roster-{next(counter)}.csv"
        text = newline.join(([header] if header is not None else []) + list(lines)) + newline
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
        return str(path)

    return write


@pytest.fixture
def import_roster(app):
    """import_roster(path, code=HIDA, invites=None) → click's Result (exit_code, stdout, stderr)."""

    def run(path, code=HIDA, invites=None):
        args = ["import-roster", str(path), "--organization", code]
        if invites is not None:
            args += ["--invites", str(invites)]
        return app.test_cli_runner().invoke(args=args)

    return run


def read_links(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def token_of(link: str) -> str:
    return parse_qs(urlparse(link).query)["token"][0]


def bad_lines(result) -> list[str]:
    return result.stderr.splitlines()
