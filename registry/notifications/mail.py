"""E-mail: composing a message (plain text and HTML, Japanese first) and handing it to SMTP.

`SMTP_URL` is `smtp://[user:password@]host[:port]` (plain, port 25 by default),
`smtp+starttls://…` (STARTTLS, port 587) or `smtps://…` (TLS from the start, port 465); user and
password are percent-decoded. `MAIL_FROM` is the sender, `SITE_URL` the root of the links.
"""
import html
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import unquote, urlsplit

from flask_babel import force_locale, gettext

from registry.notifications import texts

SCHEMES = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}
LANGUAGES = ("ja", "en")  # the order in every e-mail


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # plain, starttls, tls
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def parse_smtp_url(url: str, *, timeout: float = 30.0) -> SmtpSettings:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:password@host:port (or smtp+starttls://, smtps://)")
    security, default_port = SCHEMES[parts.scheme]
    return SmtpSettings(host=parts.hostname, port=parts.port or default_port, security=security,
                        username=unquote(parts.username) if parts.username else None,
                        password=unquote(parts.password) if parts.password else None, timeout=timeout)


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): retrying cannot help."""


class SmtpMailer:
    """One connection per run, opened on the first message and reopened when the server drops it."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            connection = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.security == "starttls":
                connection.starttls(context=ssl.create_default_context())
        if s.username:
            connection.login(s.username, s.password or "")
        return connection

    def send(self, message: EmailMessage) -> None:
        """Returns once the server accepted the message. Raises PermanentFailure for a 5xx refusal,
        smtplib.SMTPException or OSError for what may work later."""
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = self._connect()
            try:
                refused = self._connection.send_message(message)
            except smtplib.SMTPServerDisconnected:
                self._connection = None
                if attempt == 2:
                    raise
                continue
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
                if _permanent(error):
                    raise PermanentFailure(str(error)) from error
                raise
            except smtplib.SMTPNotSupportedError as error:  # e.g. a non-ASCII address, no SMTPUTF8
                raise PermanentFailure(str(error)) from error
            if refused:
                raise PermanentFailure(f"recipient refused: {refused}")
            return

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._connection = None


def _permanent(error: smtplib.SMTPException) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
    else:
        codes = [getattr(error, "smtp_code", 0)]
    return bool(codes) and all(500 <= code < 600 for code in codes)


# --- composing ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Section:
    language: str
    title: str
    body: str


def message_id(outbox_id, mail_from: str) -> str:
    """Stable per outbox row: a message sent again after a crash carries the same Message-ID."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "furusato-registry.invalid"
    return f"<{outbox_id}@{domain}>"


def absolute(link: str | None, site_url: str) -> str | None:
    if not link:
        return None
    if link.startswith(("http://", "https://")):
        return link
    return site_url.rstrip("/") + "/" + link.lstrip("/")


def localized(render) -> list[Section]:
    """`render()` → (title, body) in each language, Japanese first; one section when both read the
    same (text written by staff, which is not translated)."""
    sections = []
    for language in LANGUAGES:
        with force_locale(language):
            title, body = render()
        if not any(s.title == title and s.body == body for s in sections):
            sections.append(Section(language, title, body))
    return sections


def compose(*, outbox_id, to: str, sections: list[Section], url: str | None, mail_from: str,
            created_at: datetime) -> EmailMessage:
    """The e-mail: subject in Japanese, plain text and HTML with every language (Japanese first)
    and the link. Everything in it is fixed by the outbox row, so a repeat is the same message."""
    footers = []
    for section in sections:
        with force_locale(section.language):
            footers.append(gettext(texts.MAIL_FOOTER))
    message = EmailMessage()
    message["Subject"] = " ".join(sections[0].title.split())  # one line, whatever staff typed
    message["From"] = mail_from
    message["To"] = to
    message["Message-ID"] = message_id(outbox_id, mail_from)
    message["Date"] = format_datetime(created_at)
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = ", ".join(s.language for s in sections)
    message.set_content(_plain(sections, url, footers))
    message.add_alternative(_html(sections, url, footers), subtype="html")
    return message


def _plain(sections: list[Section], url: str | None, footers: list[str]) -> str:
    parts = []
    for section, footer in zip(sections, footers):
        block = [section.title, "", section.body] if section.body else [section.title]
        if url:
            block += ["", url]
        block += ["", "-- ", footer]
        parts.append("\n".join(block))
    return "\n\n========================================\n\n".join(parts) + "\n"


def _html(sections: list[Section], url: str | None, footers: list[str]) -> str:
    blocks = []
    for section, footer in zip(sections, footers):
        body = "<br>\n".join(html.escape(line) for line in section.body.splitlines())
        link = f'<p><a href="{html.escape(url, quote=True)}">{html.escape(url)}</a></p>' if url else ""
        blocks.append(f'<div lang="{section.language}">\n<h1 style="font-size:1.2em">{html.escape(section.title)}</h1>\n'
                      f"<p>{body}</p>\n{link}\n<p style=\"color:#555;font-size:0.9em\">{html.escape(footer)}</p>\n</div>")
    return ('<!DOCTYPE html>\n<html lang="ja">\n<head><meta charset="utf-8"></head>\n<body>\n'
            + "\n<hr>\n".join(blocks) + "\n</body>\n</html>\n")


def settings_from(config: Mapping) -> SmtpSettings | None:
    url = config.get("SMTP_URL")
    return parse_smtp_url(url, timeout=float(config.get("SMTP_TIMEOUT", 30))) if url else None
