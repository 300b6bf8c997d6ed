"""Liveness, readiness and metrics at the site root, and the interactive docs' static assets.

`/healthz` is open to anyone (a process that answers is alive); `/readyz` and `/metrics` only to the
operator's network (API.md), others get 404.
"""
from flask import Blueprint, current_app, send_from_directory
from prometheus_flask_exporter import PrometheusMetrics
from sqlalchemy import text

from registry.common.auth import operator_network, public
from registry.errors import problem_response
from registry.extensions import db
from registry.operations.metrics import exposition

blp = Blueprint("health", __name__)


@blp.get("/healthz")
@public
def healthz():
    """200 while the process serves, whatever the database does."""
    return {"status": "ok"}


@blp.get("/readyz")
@operator_network
def readyz():
    """200 when the database answers, 503 problem+json when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        db.session.rollback()
        return problem_response(503, "database_unavailable", headers={"Retry-After": "5"})
    return {"status": "ready"}


@blp.get("/metrics")
@operator_network
@PrometheusMetrics.do_not_track()  # scrapes are not traffic
def metrics():
    """Prometheus text format (registry/operations/metrics.py)."""
    body, content_type = exposition(current_app)
    return body, 200, {"Content-Type": content_type}


def register_docs_assets(app, api_prefix: str) -> None:
    """Swagger UI from the swagger-ui-bundle package, so the docs work on a closed network."""
    from swagger_ui_bundle import swagger_ui_path

    @public
    def swagger_static(filename):
        return send_from_directory(swagger_ui_path, filename)

    app.add_url_rule(f"{api_prefix}/docs/static/<path:filename>", "swagger_static", swagger_static)
