"""A real SMTP server (aiosmtpd) started by the test suite; tests read what arrived.

Import the fixtures into a conftest: `from tests.notifications.smtp import smtp_server, smtp  # noqa`.
"""
import email
import email.policy
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.processes import free_port

USER, PASSWORD = "mailer", "p@ss:word"


class Inbox:
    """What the server accepted, and the refusals it is told to give."""

    def __init__(self):
        self._lock = threading.Lock()
        self.messages: list[email.message.EmailMessage] = []
        self.refusals: list[str] = []  # replies to DATA, used one by one ("451 …", "550 …")
        # replies to RCPT, used one by one; "{address}" is replaced by the recipient, as servers quote it
        self.recipient_refusals: list[str] = []
        self.delay = 0.0  # seconds to take over each message (to make sending runs overlap)
        self.logins: list[str] = []

    def clear(self):
        with self._lock:
            self.messages.clear()
            self.refusals.clear()
            self.recipient_refusals.clear()
            self.logins.clear()
            self.delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self._lock:
            if self.recipient_refusals:
                return self.recipient_refusals.pop(0).replace("{address}", address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            if self.refusals:
                return self.refusals.pop(0)
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            self.messages.append(message)
        return "250 OK"

    def by_message_id(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.messages:
            counts[message["Message-ID"]] = counts.get(message["Message-ID"], 0) + 1
        return counts


def _authenticator(inbox):
    def check(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        if ok:
            inbox.logins.append(USER)
        return AuthResult(success=ok)
    return check


@pytest.fixture(scope="session")
def smtp_server():
    """(inbox, url): a server that offers a login over plain SMTP (as a local relay may); the URL
    carries user and password, and the inbox records the logins."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_authenticator(inbox),
                            auth_require_tls=False)
    controller.start()
    yield inbox, f"smtp://{USER}:p%40ss%3Aword@127.0.0.1:{port}"
    controller.stop()


@pytest.fixture
def smtp(app, smtp_server):
    """The inbox, emptied, with the app configured to send to it."""
    inbox, url = smtp_server
    inbox.clear()
    saved = {k: app.config.get(k) for k in ("SMTP_URL", "MAIL_FROM", "SITE_URL")}
    app.config.update(SMTP_URL=url, MAIL_FROM="ふるさと住民登録 <no-reply@furusato.example.jp>",
                      SITE_URL="https://furusato.example.jp")
    yield inbox
    app.config.update(saved)
    inbox.clear()
