import io
import json
import logging

import pytest

from registry.operations.logs import make_handler


@pytest.fixture
def log_lines():
    """The JSON lines the production handler writes while the test runs, parsed."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def access_lines(lines):
    return [line for line in lines if line["logger"] == "registry.access"]
