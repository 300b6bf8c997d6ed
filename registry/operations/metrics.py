"""Prometheus metrics for `GET /metrics` (prometheus-flask-exporter over prometheus_client).

- `flask_http_request_duration_seconds{method, rule, status}`: a latency histogram per route rule
  (its `_count` is the request count), so ids in paths never become label values;
  `flask_http_request_total{method, status}` from the exporter as well.
- `registry_registration_events_total{kind}`: registration changes (registered, withdrawn, moved_in,
  premium_…), counted when the transaction that wrote their ledger event commits, never when it
  rolls back.
- `registry_figures_actual_people`, `registry_figures_cumulative_registrations`: the national figures,
  read from the maintained counters when scraped (a sum over a few rows), and
  `registry_figures_available` 0 when the database did not answer.

Under gunicorn, `PROMETHEUS_MULTIPROC_DIR` (set by config/gunicorn.py) puts prometheus_client in
multiprocess mode: every worker writes its samples to files there and a scrape, whichever worker
answers it, adds up all of them.
"""
import logging
import os

from flask import Flask, request
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_flask_exporter import PrometheusMetrics
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from registry.extensions import db
from registry.figures import service as figures
from registry.registrations import events

log = logging.getLogger(__name__)

# Created unregistered: each app registers it in its own registry (tests make several apps).
REGISTRATION_EVENTS = Counter("registry_registration_events", "Registration changes committed, by ledger event kind",
                              ["kind"], registry=None)
_PENDING = "registry.metrics.pending_events"


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def rule(req) -> str:
    """The label for a request: its route rule (`/api/v1/registrations/<uuid:registration_id>`)."""
    return req.url_rule.rule if req.url_rule is not None else "unmatched"


class FiguresCollector:
    """The national figures at scrape time, from the counters registry/figures/service.py keeps."""

    def collect(self):
        available = GaugeMetricFamily(
            "registry_figures_available", "1 when this scrape read the national figures, 0 when the database did not")
        try:
            sums = figures.counter_sums("total", "").get("") or {"people": 0, "registrations": 0}
        except SQLAlchemyError as error:
            db.session.rollback()
            log.warning("figures unavailable for /metrics: %s", getattr(error, "orig", error))
            available.add_metric([], 0)
            yield available
            return
        yield GaugeMetricFamily("registry_figures_actual_people",
                                "National actual people: distinct people with at least one active registration",
                                value=sums["people"])
        yield GaugeMetricFamily("registry_figures_cumulative_registrations",
                                "National cumulative registrations: active explicit registrations",
                                value=sums["registrations"])
        available.add_metric([], 1)
        yield available


FIGURES = FiguresCollector()


def init_metrics(app: Flask) -> None:
    registry = CollectorRegistry()
    # path=None: /metrics is our own view (registry/health.py), restricted to the operator's network.
    exporter = PrometheusMetrics(app, path=None, registry=registry, group_by=rule)
    registry.register(REGISTRATION_EVENTS)
    registry.register(FIGURES)
    app.extensions["registry_metrics"] = exporter
    events.changed.connect(_note_change)


def exposition(app: Flask) -> tuple[bytes, str]:
    """The text a scrape gets (OpenMetrics when its Accept header asks for it)."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # every worker's request and event samples, added up
        registry.register(FIGURES)
    else:
        registry = app.extensions["registry_metrics"].registry
    encode, content_type = choose_encoder(request.headers.get("Accept"))
    return encode(registry), content_type


# --- registration events, counted on commit ---------------------------------------------------------
# Each change the registrations domain announces with a ledger kind is noted with the transaction it
# happened in (the innermost savepoint, else the outermost transaction). Rolling back a savepoint drops
# what was noted inside it; the outermost commit counts what is left; the outermost transaction ending
# any other way drops it all.

def _note_change(change) -> None:
    if change.kind is not None:  # a restatement writes no ledger event
        note_registration_event(db.session(), change.kind)


def note_registration_event(session, kind: str) -> None:
    scope = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((kind, scope))


def _encloses(transaction, scope) -> bool:
    while scope is not None:
        if scope is transaction:
            return True
        scope = scope.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session, previous_transaction):
    pending = session.info.get(_PENDING)
    if not pending:
        return
    # What the database rolled back: the nearest savepoint or outermost transaction (a failed
    # flush's inner transaction takes its enclosing one with it).
    undone = previous_transaction
    while undone.parent is not None and not undone.nested:
        undone = undone.parent
    session.info[_PENDING] = [(kind, scope) for kind, scope in pending if not _encloses(undone, scope)]


@event.listens_for(Session, "after_commit")
def _count_committed(session):
    if session.get_nested_transaction() is not None:
        return  # a savepoint released: the outer transaction may still roll back
    for kind, _scope in session.info.pop(_PENDING, ()):
        REGISTRATION_EVENTS.labels(kind=kind).inc()


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session, transaction):
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
