"""E-mail through a real SMTP server: content, once only, retries and giving up, crashes, consent."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.common.time import utcnow
from registry.extensions import db
from registry.registrations import notices as registration_notices
from registry.evidence import notices as evidence_notices
from registry.notifications import mail, sender
from registry.notifications.models import OutboxMessage
from registry.notifications.service import notify
from tests.notifications.conftest import send


def _approved(user, **kwargs):
    title, body = registration_notices.PREMIUM_APPROVED
    notification = notify(user, "premium_decided", title, body, "/my",
                          params={"organization": "飛騨市", "valid_until": "2027-03-31"}, **kwargs)
    db.session.commit()
    return notification


def _rows(user=None):
    stmt = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
    if user is not None:
        stmt = stmt.where(OutboxMessage.user_id == user.id)
    return list(db.session.scalars(stmt.execution_options(populate_existing=True)))


def test_an_email_arrives_once_in_japanese_then_english(app, smtp, verified_resident):
    user, _ = verified_resident()
    _approved(user)
    report = send(app)
    assert (report.sent, report.failed, report.retrying) == (1, 0, 0)
    [message] = smtp.messages
    [row] = _rows(user)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert message["To"] == user.email and message["X-Envelope-To"] == user.email
    assert "no-reply@furusato.example.jp" in message["From"]
    assert message["Message-ID"] == f"<{row.id}@furusato.example.jp>"
    assert message["Subject"] == "プレミアム登録が承認されました"
    assert message["Auto-Submitted"] == "auto-generated"
    assert smtp.logins == ["mailer"]  # user and password from SMTP_URL, percent-decoded
    assert message.is_multipart() and message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    ja, en = text.index("飛騨市のプレミアム登録は2027-03-31まで有効です。"), \
        text.index("Your premium registration with 飛騨市 is valid until 2027-03-31.")
    assert ja < en  # Japanese first
    assert "https://furusato.example.jp/my" in text
    assert '<a href="https://furusato.example.jp/my">' in html and 'lang="ja"' in html and 'lang="en"' in html
    assert html.index("プレミアム登録が承認されました") < html.index("Your premium registration was approved")
    assert send(app).sent == 0 and len(smtp.messages) == 1  # sent once, however often it runs


def test_html_escapes_what_people_wrote(app, smtp, verified_resident):
    user, _ = verified_resident()
    title, body = evidence_notices.EVIDENCE_REJECTED
    notify(user, "evidence_decided", title, body, "/my",
           params={"organization": "飛騨市", "reason": "<script>alert(1)</script> & 読めません"})
    db.session.commit()
    send(app)
    html = smtp.messages[0].get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>alert(1)</script> & 読めません" in smtp.messages[0].get_body(("plain",)).get_content()


def test_staff_written_text_is_sent_once_as_written(app, smtp, verified_resident):
    user, _ = verified_resident()
    user.consent_announcements = True
    notify(user, "announcement", "雪まつりのお知らせ", "2月10日に開催します。", "/my")
    db.session.commit()
    send(app)
    [message] = smtp.messages
    text = message.get_body(("plain",)).get_content()
    assert message["Subject"] == "雪まつりのお知らせ" and text.count("2月10日に開催します。") == 1


def test_a_temporary_refusal_is_retried_with_back_off_then_given_up(app, smtp, verified_resident):
    user, _ = verified_resident()
    _approved(user)
    start = utcnow()
    smtp.refusals.extend(["451 4.3.0 try again later"] * 5)
    clock = {"now": start}
    report = send(app, clock=lambda: clock["now"])
    [row] = _rows(user)
    assert report.retrying == 1 and row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at == start + timedelta(minutes=1) and "451" in row.last_error
    assert send(app, clock=lambda: start + timedelta(seconds=30)).retrying == 0  # not due yet
    for delay in (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30)):
        clock["now"] = _rows(user)[0].next_attempt_at
        send(app, clock=lambda: clock["now"])
        row = _rows(user)[0]
        assert row.status == "pending" and row.next_attempt_at - clock["now"] in (
            timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
    clock["now"] = row.next_attempt_at
    report = send(app, clock=lambda: clock["now"])
    [row] = _rows(user)
    assert row.status == "failed" and row.attempts == 5 and report.failed == 1
    assert report.given_up == [(row.id, 5, row.last_error)]
    assert smtp.messages == []
    clock["now"] += timedelta(days=1)
    assert send(app, clock=lambda: clock["now"]).sent == 0  # given up for good


def test_a_permanent_refusal_is_given_up_at_once(app, smtp, verified_resident):
    user, _ = verified_resident()
    _approved(user)
    smtp.refusals.append("550 5.1.1 no such mailbox")
    report = send(app)
    assert report.failed == 1 and _rows(user)[0].status == "failed" and "550" in _rows(user)[0].last_error


def test_a_failed_send_is_logged_and_reported_by_its_outbox_id_never_the_address(app, smtp, verified_resident):
    """Servers quote the recipient when they refuse it (and smtplib's error repeats it): the log line,
    the stored error and the command's report name the outbox row instead."""
    import io
    import json
    import logging
    from registry.operations.logs import make_handler

    user, _ = verified_resident()
    _approved(user)
    smtp.recipient_refusals.append("550 5.1.1 <{address}>: Recipient address rejected: User unknown")
    stream = io.StringIO()
    handler = make_handler("json", stream)
    logging.getLogger().addHandler(handler)
    try:
        result = app.test_cli_runner().invoke(args=["send-notifications"])
    finally:
        logging.getLogger().removeHandler(handler)
    [row] = _rows(user)
    assert result.exit_code == 1 and row.status == "failed" and "550" in row.last_error
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()
              if json.loads(text)["logger"] == "registry.notifications.sender"]
    assert line["level"] == "WARNING" and str(row.id) in line["message"] and "Recipient address rejected" in line["message"]
    assert f"gave up: e-mail {row.id} after 1 attempt(s)" in result.stderr
    for where in (stream.getvalue(), result.stdout, result.stderr, row.last_error):
        assert user.email not in where and user.email.split("@")[0] not in where


def test_an_unreachable_server_stops_the_run_without_spending_every_attempt(app, smtp, verified_resident):
    user, _ = verified_resident()
    for _ in range(3):
        _approved(user)
    with socket_closed_port() as url:
        mailer = mail.SmtpMailer(mail.parse_smtp_url(url, timeout=2))
        report = sender.send_due(mailer, config=app.config)
    assert report.stopped and report.sent == 0
    assert sorted(row.attempts for row in _rows(user)) == [0, 0, 1]
    assert all(row.status == "pending" for row in _rows(user))


class Crash(Exception):
    """The process dies right after the mail server accepted the message."""


class CrashingMailer:
    def __init__(self, real, crash_on: int):
        self.real, self.crash_on, self.count = real, crash_on, 0

    def send(self, message):
        self.real.send(message)
        self.count += 1
        if self.count == self.crash_on:
            raise Crash()


def test_a_crash_after_acceptance_repeats_only_that_message_with_the_same_message_id(app, smtp, verified_resident):
    user, _ = verified_resident()
    for _ in range(3):
        _approved(user)
    real = mail.SmtpMailer(mail.settings_from(app.config))
    with pytest.raises(Crash):
        sender.send_due(CrashingMailer(real, crash_on=2), config=app.config)
    real.close()
    db.session.rollback()  # the process died: its open transaction is gone
    assert [row.status for row in _rows(user)] == ["sent", "pending", "pending"]
    assert send(app).sent == 2
    counts = smtp.by_message_id()
    crashed = _rows(user)[1]
    assert sorted(counts.values()) == [1, 1, 2] and counts[f"<{crashed.id}@furusato.example.jp>"] == 2
    assert all(row.status == "sent" for row in _rows(user))


def test_consent_withdrawn_or_address_erased_before_sending_cancels(app, smtp, verified_resident, api):
    user, token = verified_resident()
    user.consent_announcements = True
    notify(user, "announcement", "お知らせ", "本文", None)
    db.session.commit()
    api.patch("/me", token=token, json={"consents": {"announcements": False}})
    report = send(app)
    assert report.cancelled == 1 and report.sent == 0 and _rows(user)[0].status == "cancelled"
    other, other_token = verified_resident()
    _approved(other)
    other.email_verified_at = None
    db.session.commit()
    assert send(app).cancelled == 1 and smtp.messages == []


def test_a_wrong_password_stops_the_run(app, smtp, verified_resident):
    user, _ = verified_resident()
    _approved(user)
    mailer = mail.SmtpMailer(mail.parse_smtp_url(app.config["SMTP_URL"].replace("p%40ss", "wrong"), timeout=2))
    report = sender.send_due(mailer, config=app.config)
    assert report.stopped and smtp.messages == [] and smtp.logins == []
    assert _rows(user)[0].status == "pending" and _rows(user)[0].attempts == 1


def test_expired_messages_are_not_sent(app, smtp, verified_resident):
    user, _ = verified_resident()
    _approved(user, now=utcnow() - timedelta(days=4))
    report = send(app)
    assert report.cancelled == 1 and _rows(user)[0].last_error == "expired" and smtp.messages == []


def test_the_command_creates_reminders_sends_and_reports(app, smtp, verified_resident):
    user, _ = verified_resident()
    _approved(user)
    result = app.test_cli_runner().invoke(args=["send-notifications"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.output and "reminders:" in result.output
    assert len(smtp.messages) == 1


def test_the_command_reports_what_it_gave_up_and_exits_non_zero(app, smtp, verified_resident):
    user, _ = verified_resident()
    _approved(user)
    smtp.refusals.append("554 5.7.1 rejected")
    result = app.test_cli_runner().invoke(args=["send-notifications"])
    assert result.exit_code == 1 and "gave up 1" in result.stdout
    assert re.search(r"gave up: e-mail [0-9a-f-]+ after 1 attempt\(s\): .*554", result.stderr)


def test_without_smtp_url_nothing_is_sent(app, verified_resident, monkeypatch):
    user, _ = verified_resident()
    _approved(user)
    monkeypatch.setitem(app.config, "SMTP_URL", None)
    result = app.test_cli_runner().invoke(args=["send-notifications"])
    assert result.exit_code == 0 and "SMTP_URL is not set" in result.output and "1 waiting" in result.output


@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.example.jp", ("mail.example.jp", 25, "plain", None, None)),
    ("smtp://u%40x:p%3Aw@127.0.0.1:2525", ("127.0.0.1", 2525, "plain", "u@x", "p:w")),
    ("smtp+starttls://u:p@mail.example.jp", ("mail.example.jp", 587, "starttls", "u", "p")),
    ("smtps://mail.example.jp", ("mail.example.jp", 465, "tls", None, None)),
])
def test_smtp_urls(url, expected):
    s = mail.parse_smtp_url(url)
    assert (s.host, s.port, s.security, s.username, s.password) == expected


@pytest.mark.parametrize("url", ["http://mail.example.jp", "smtp://", "mail.example.jp:25", ""])
def test_bad_smtp_urls(url):
    with pytest.raises(ValueError):
        mail.parse_smtp_url(url)


class socket_closed_port:
    """An SMTP URL whose port nobody listens on."""

    def __enter__(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return f"smtp://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        return False


def test_a_title_with_line_breaks_makes_a_one_line_subject(app, smtp, verified_resident):
    user, _ = verified_resident()
    user.consent_announcements = True
    notify(user, "announcement", "雪まつり\r\nBcc: victim@example.jp", "本文", None)
    db.session.commit()
    assert send(app).sent == 1
    [message] = smtp.messages
    assert message["Subject"] == "雪まつり Bcc: victim@example.jp" and message["Bcc"] is None
    assert message["X-Envelope-To"] == user.email
