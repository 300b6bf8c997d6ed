"""A calendar entry for an accepted application: one all-day VEVENT, written to RFC 5545
(TEXT escaping §3.3.11, lines folded at 75 octets §3.1, CRLF line ends). No calendar library is
installed, and one event does not need one."""
from datetime import datetime, timedelta, timezone

from flask_babel import gettext

from registry.needs.models import Application


def escape_text(value: str) -> str:
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str, limit: int = 75) -> str:
    """Splits a content line into lines of at most `limit` octets, never inside a UTF-8 character;
    each continuation starts with one space."""
    lines, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            lines.append(current)
            current, size = " ", 1
        current += char
        size += width
    lines.append(current)
    return "\r\n".join(lines)


def calendar_entry(application: Application, host: str, *, now: datetime) -> str:
    need = application.need
    details = [gettext("Host: %(host)s", host=host)]
    if need.reward:
        details.append(gettext("Reward: %(reward)s", reward=need.reward))
    if need.description:
        details.append(need.description)
    if need.remote:
        location = gettext("Remote")
    else:
        location = (need.place or {}).get("name") or host
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Furusato Registry//Needs//JA", "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH", "BEGIN:VEVENT",
        f"UID:application-{application.id}@furusato-registry",
        f"DTSTAMP:{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}",
        f"DTSTART;VALUE=DATE:{need.starts_on:%Y%m%d}",
        f"DTEND;VALUE=DATE:{need.ends_on + timedelta(days=1):%Y%m%d}",  # DTEND is exclusive
        f"SUMMARY:{escape_text(need.title)}",
        f"LOCATION:{escape_text(location)}",
        f"DESCRIPTION:{escape_text(chr(10).join(details))}",
        f"CONTACT:{escape_text(host)}",
    ]
    if need.place and not need.remote:
        lines.append(f"GEO:{need.lat:.6f};{need.lng:.6f}")
    lines += ["STATUS:CONFIRMED", "TRANSP:OPAQUE", "END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
