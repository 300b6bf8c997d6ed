"""Clock helpers. Calendar dates are Asia/Tokyo days whatever the server's zone (API.md)."""
from datetime import date, datetime, timedelta, timezone
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


def last_day_of_year_from(first: date) -> date:
    """The last day of the year that starts on `first`: the day before the same date a year on, and
    from 29 February the 28th (民法143条: with no such date, the period ends with that month)."""
    try:
        anniversary = first.replace(year=first.year + 1)
    except ValueError:
        anniversary = date(first.year + 1, 3, 1)
    return anniversary - timedelta(days=1)
