"""Clock helpers. Calendar dates are Asia/Tokyo days whatever the server's zone (API.md)."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def today_tokyo(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(TOKYO).date()


def one_year_before(day: date) -> date:
    """The same calendar date a year earlier (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)
