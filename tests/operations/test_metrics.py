"""GET /metrics: request metrics per route rule, registration events on commit, the national figures,
and only for the operator's network."""
import uuid
from datetime import date

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError

from config import TestingConfig
from registry import create_app
from registry.extensions import db
from registry.figures import ledger
from registry.operations.metrics import REGISTRATION_EVENTS, note_registration_event
from registry.figures.models import RegistrationEvent
from tests.operations.scrape import parse, scrape, value

DURATION_COUNT = "flask_http_request_duration_seconds_count"


def events(kind: str) -> float:
    registry = CollectorRegistry()
    registry.register(REGISTRATION_EVENTS)
    return registry.get_sample_value("registry_registration_events_total", {"kind": kind}) or 0.0


def test_requests_are_counted_by_route_rule_not_path(client):
    before = scrape(client)
    for code in ("212172", "131016", "999999"):
        client.get(f"/api/v1/organizations/{code}")
    client.get("/api/v1/no-such-thing/12345")
    response = client.get("/metrics")
    assert response.mimetype == "text/plain" and "version=" in response.headers["Content-Type"]
    after = parse(response.get_data(as_text=True))
    rule = "/api/v1/organizations/<string:code>"
    assert value(after, DURATION_COUNT, method="GET", rule=rule, status="200") - \
        value(before, DURATION_COUNT, method="GET", rule=rule, status="200") == 2
    assert value(after, DURATION_COUNT, method="GET", rule=rule, status="404") - \
        value(before, DURATION_COUNT, method="GET", rule=rule, status="404") == 1
    assert value(after, DURATION_COUNT, method="GET", rule="unmatched", status="404") - \
        value(before, DURATION_COUNT, method="GET", rule="unmatched", status="404") == 1
    labels = {v for (_, sample_labels) in after for _, v in sample_labels}
    assert not any(code in label for label in labels for code in ("212172", "131016", "12345"))
    scrapes = [labels for (_, labels) in after if ("rule", "/metrics") in labels and ("status", "200") in labels]
    assert scrapes == []  # scrapes are not traffic (refused ones are counted)


def test_figures_and_registration_events(api, signup):
    client = api.client
    before = scrape(client)
    _, token = signup()
    created = api.post("/registrations", token=token, json={"organization_code": "212172", "ties": ["family"]})
    assert created.status_code == 201
    second = api.post("/registrations", token=token, json={"organization_code": "270008", "ties": ["volunteer"]})
    assert second.status_code == 201, second.get_json()
    middle = scrape(client)
    assert value(middle, "registry_figures_actual_people") - value(before, "registry_figures_actual_people") == 1
    assert value(middle, "registry_figures_cumulative_registrations") - \
        value(before, "registry_figures_cumulative_registrations") == 2
    assert value(middle, "registry_figures_available") == 1
    assert value(middle, "registry_registration_events_total", kind="registered") - \
        value(before, "registry_registration_events_total", kind="registered") == 2
    assert api.delete(f"/registrations/{created.get_json()['id']}", token=token).status_code == 204
    after = scrape(client)
    assert value(after, "registry_registration_events_total", kind="withdrawn") - \
        value(before, "registry_registration_events_total", kind="withdrawn") == 1
    assert value(after, "registry_figures_cumulative_registrations") - \
        value(before, "registry_figures_cumulative_registrations") == 1


def test_a_rolled_back_request_counts_no_event(api, signup, monkeypatch):
    _, token = signup()
    record = ledger.FigureChange.record

    def record_then_fail(self, *args, **kwargs):
        event = record(self, *args, **kwargs)  # the ledger event is flushed, then the request fails
        raise RuntimeError("injected after the ledger event")

    registered = events("registered")
    monkeypatch.setattr(ledger.FigureChange, "record", record_then_fail)
    response = api.post("/registrations", token=token, json={"organization_code": "212172", "ties": ["family"]})
    assert response.status_code == 500
    assert events("registered") == registered
    monkeypatch.undo()
    assert api.post("/registrations", token=token,
                    json={"organization_code": "212172", "ties": ["family"]}).status_code == 201
    assert events("registered") == registered + 1


def test_only_what_the_outermost_commit_keeps_is_counted(signup):
    user, _ = signup()

    def ledger_event(kind):  # what FigureChange.record does after its counters
        db.session.execute(insert(RegistrationEvent.__table__),
                           {"user_id": uuid.UUID(user["id"]), "kind": kind, "day": date(2026, 4, 1)})
        note_registration_event(db.session(), kind)

    counts = {kind: events(kind) for kind in ("registered", "withdrawn", "moved_in")}
    with pytest.raises(LookupError):
        with db.session.begin_nested():
            ledger_event("registered")
            raise LookupError  # the savepoint rolls back
    with db.session.begin_nested():
        ledger_event("moved_in")  # released into the outer transaction
    ledger_event("withdrawn")
    assert {kind: events(kind) for kind in counts} == counts  # nothing counted before the commit
    db.session.commit()
    assert events("registered") == counts["registered"]
    assert events("moved_in") == counts["moved_in"] + 1
    assert events("withdrawn") == counts["withdrawn"] + 1
    ledger_event("withdrawn")
    db.session.rollback()
    assert events("withdrawn") == counts["withdrawn"] + 1


def test_figures_unavailable_still_answers(client, monkeypatch):
    from registry.figures import service

    def down(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(service, "counter_sums", down)
    client.get("/healthz")
    samples = scrape(client)
    assert value(samples, "registry_figures_available") == 0
    assert ("registry_figures_actual_people", frozenset()) not in samples
    assert any(name == "flask_http_request_duration_seconds_count" for name, _ in samples)  # the rest still there


# --- only the operator's network -------------------------------------------------------------------

@pytest.mark.parametrize("address, headers, allowed", [
    ("127.0.0.1", {}, True),
    ("::1", {}, True),
    ("10.20.30.40", {}, True),
    ("172.16.5.4", {}, True),
    ("192.168.1.10", {}, True),
    ("::ffff:192.168.1.10", {}, True),
    ("203.0.113.9", {}, False),
    ("172.32.0.1", {}, False),
    ("2001:db8::1", {}, False),
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, False),  # through a local proxy from outside
    ("127.0.0.1", {"X-Forwarded-For": "10.0.0.1, 203.0.113.9"}, False),
    ("127.0.0.1", {"X-Forwarded-For": "10.0.0.7"}, True),
    ("127.0.0.1", {"X-Real-IP": "198.51.100.2"}, False),
    ("127.0.0.1", {"Forwarded": 'for="[2001:db8::7]:4711";proto=https'}, False),
    ("127.0.0.1", {"Forwarded": "for=192.168.0.9:8080"}, True),
    ("127.0.0.1", {"Forwarded": "for=unknown"}, False),
    ("127.0.0.1", {"X-Forwarded-For": "not-an-address"}, False),
])
@pytest.mark.parametrize("path", ["/metrics", "/readyz"])
def test_metrics_and_readiness_only_for_the_operators_network(client, path, address, headers, allowed):
    response = client.get(path, headers=headers, environ_base={"REMOTE_ADDR": address})
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == "not_found"
        assert b"flask_http" not in response.data


def test_liveness_is_open_to_anyone(client):
    response = client.get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_allowed_networks_setting(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_ALLOWED_NETWORKS", "203.0.113.0/24, 2001:db8::/32")
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "2001:db8::5"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 404


def test_a_malformed_network_stops_the_start():
    with pytest.raises(RuntimeError, match="METRICS_ALLOWED_NETWORKS.*10.0.0.0/33"):
        create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": "sqlite://",
                                   "METRICS_ALLOWED_NETWORKS": "127.0.0.0/8,10.0.0.0/33"})
