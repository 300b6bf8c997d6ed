"""Operations: structured logs with request ids, Prometheus metrics, and gunicorn's fork hook.

`init_operations(app)` runs first in `create_app`, so the request id and the clock start before any
other extension's hooks (a rate-limit refusal is logged and timed too).
"""
from flask import Flask

from registry.common.network import parse_networks
from registry.extensions import db
from registry.operations.logs import configure_logging, init_request_log
from registry.operations.metrics import init_metrics


def init_operations(app: Flask) -> None:
    try:
        parse_networks(app.config["METRICS_ALLOWED_NETWORKS"])
    except ValueError as error:
        raise RuntimeError(f"METRICS_ALLOWED_NETWORKS: {error}") from None
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    init_request_log(app)
    init_metrics(app)


def after_fork(app: Flask) -> None:
    """In a worker forked from a master that loaded the app (gunicorn `preload_app`): drop the pooled
    connections inherited from the master without closing them (they are the master's sockets)."""
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
