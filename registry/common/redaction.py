"""Keeping personal data out of logs and operator reports.

- `redact(text)` replaces every e-mail address with `<e-mail>`: the log formatters run it over each
  finished line, and the outbox runs it over a failed send's error (an SMTP refusal quotes the
  recipient) before storing or reporting it.
- `scrubbed_exception(exc_info)` is a traceback without the values a database put in its message:
  SQLAlchemy shows the SQL without its bound values (`hide_parameters`, config/__init__.py), and of a
  driver's error only the first line is kept, since PostgreSQL's DETAIL repeats the row's values
  (`Key (email_key)=(…) already exists`, `Failing row contains (…)`). Names cannot be recognised in
  free text; they are kept out at the source.
"""
import re
import traceback

from sqlalchemy.exc import StatementError

EMAIL_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
REDACTED_ADDRESS = "<e-mail>"
DRIVER_MODULES = ("psycopg", "psycopg2", "sqlite3")


def redact(text: str) -> str:
    return EMAIL_ADDRESS.sub(REDACTED_ADDRESS, text)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _qualified(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def safe_message(error: BaseException) -> str:
    if isinstance(error, StatementError):
        orig = error.orig
        head = f"({_qualified(orig)}) {_first_line(orig)}" if orig is not None else ""
        return f"{head}\n[SQL: {error.statement}]" if error.statement else head
    if type(error).__module__.split(".")[0] in DRIVER_MODULES:
        return _first_line(error)
    return str(error)


def scrubbed_exception(exc_info) -> str:
    """Like `traceback.format_exception`, with `safe_message` for every exception in the chain."""
    error = exc_info[1]
    if error is None:
        return "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if error.__cause__ is not None:
            link, following = "The above exception was the direct cause of the following exception:", error.__cause__
        elif error.__context__ is not None and not error.__suppress_context__:
            link, following = "During handling of the above exception, another exception occurred:", error.__context__
        else:
            link, following = None, None
        chain.append((error, link))
        error = following
    parts = []
    for error, link in reversed(chain):  # the first cause first, as Python prints them
        if link:  # how this one relates to the one printed before it
            parts.append(f"\n{link}\n\n")
        if error.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(error.__traceback__))
        message = safe_message(error)
        parts.append(f"{_qualified(error)}: {message}\n" if message else f"{_qualified(error)}\n")
    return "".join(parts).rstrip("\n")
