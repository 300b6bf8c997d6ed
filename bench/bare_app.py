"""The registry application plus one bare endpoint, for bench/writes.py only (never deployed).

`POST /bench/insert` takes a body shaped like a registration's, does one INSERT and returns 201: the
floor a registration is compared with — the same application object, gunicorn server, engine and
connection pool, commit point and response headers, without authentication, validation, rules or
figures.

    gunicorn -c config/gunicorn.py bench.bare_app:app
"""
from flask import request
from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, Uuid, insert

from registry import create_app
from registry.common.auth import public
from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.extensions import db

bare_inserts = Table(
    "bench_bare_inserts", MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("organization_code", String(6), nullable=False),
    Column("ties", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@public
def bare_insert():
    body = request.get_json()
    db.session.execute(insert(bare_inserts).values(
        id=new_id(), organization_code=body["organization_code"], ties=body["ties"], created_at=utcnow()))
    return {"status": "inserted"}, 201


app = create_app()
app.add_url_rule("/bench/insert", "bench_bare_insert", bare_insert, methods=["POST"])
