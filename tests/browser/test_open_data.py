"""/open-data on a phone (the releases, each file's link, what each file holds) and the relationship
funnel drawn on the national dashboard, each page checked by axe-core on arrival (conftest.py)."""
from datetime import datetime, time, timedelta

import pytest

from registry.common.time import TOKYO, today_tokyo, utcnow
from registry.extensions import db
from registry.figures.month_end import month_span
from registry.opendata import service as open_data
from registry.registrations import service as registrations
from tests.factories import HIDA, TAKAYAMA, person

pytestmark = [pytest.mark.committing, pytest.mark.slow]  # chromium and a live server


def _last_month() -> str:
    day = today_tokyo().replace(day=1) - timedelta(days=1)
    return f"{day.year:04d}-{day.month:02d}"


def _registered(app, month: str, n: int = 12) -> None:
    first, _, _ = month_span(month)
    with app.app_context():
        for i in range(n):
            registrations.register(person(), HIDA if i % 3 else TAKAYAMA, ["family"] if i % 2 else ["volunteer"],
                                   now=datetime.combine(first.replace(day=5), time(12), TOKYO))
        db.session.commit()


def test_open_data_on_a_phone_lists_the_release_and_its_files(app, phone):
    month = _last_month()
    _registered(app, month)
    with app.app_context():
        open_data.publish(month, min_cell=app.config["MIN_CELL"], now=utcnow())
        db.session.commit()
    p = phone()
    p.goto("/open-data")
    release = p.page.locator("[data-role=release]")
    assert release.count() == 1
    assert month in release.inner_text() and month_span(month)[1].isoformat() in release.inner_text()
    links = release.get_by_role("link")
    assert links.count() == 9
    assert p.page.get_by_role("link", name="CC BY 4.0", exact=False).count() == 1
    p.no_sideways_scroll()
    p.shot("open-data-phone")
    href = release.get_by_role("link", name="by-organization.csv").get_attribute("href")
    served = p.page.request.get(href)
    assert served.status == 200 and served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.body().startswith(b"\xef\xbb\xbf")
    assert p.errors == []


def test_the_dashboard_draws_the_funnel_with_its_table(app, signed_in):
    _registered(app, _last_month(), n=12)  # 12 registered: published (MIN_CELL 10); the other stages 0
    p = signed_in("national")
    p.page.wait_for_url("**/dashboard")
    p.page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-funnel'))",
                             timeout=10_000)
    drawn = p.page.evaluate("""() => { const c = Chart.getChart(document.getElementById('chart-funnel'));
        return {labels: c.data.labels, stages: c.data.datasets.length, first: c.data.datasets[0].data}; }""")
    assert drawn == {"labels": [_last_month()], "stages": 6, "first": [12]}
    table = p.page.locator("#chart-funnel-table")
    assert table.locator("tbody tr").count() == 1 and _last_month() in table.inner_text()
    assert p.page.locator("#chart-funnel").get_attribute("aria-describedby") == "chart-funnel-table"
    p.page.locator("#funnel").scroll_into_view_if_needed()
    p.no_sideways_scroll()
    p.shot("dashboard-funnel", full_page=False)
    assert p.errors == []
