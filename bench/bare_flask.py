"""The floor as a reviewer measures it: Flask and Flask-SQLAlchemy alone, one INSERT and a commit,
no authentication, none of the registry's middleware (logs, metrics, limits, sessions). For
bench/writes.py only (never deployed).

    DATABASE_URL=postgresql://… gunicorn -w 2 -k sync bench.bare_flask:app
"""
import os
import uuid
from datetime import datetime, timezone

from flask import Flask, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, Uuid, insert

from config import database_url

metadata = MetaData()
bare_inserts = Table(  # the same table as bench/bare_app.py's
    "bench_bare_inserts", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_code", String(6), nullable=False),
    Column("ties", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

app = Flask(__name__)
raw = os.environ["DATABASE_URL"]
app.config["SQLALCHEMY_DATABASE_URI"] = database_url(raw, raw)
db = SQLAlchemy(app)


@app.post("/bench/insert")
def bare_insert():
    body = request.get_json()
    db.session.execute(insert(bare_inserts).values(
        id=uuid.uuid4(), organization_code=body["organization_code"], ties=body["ties"],
        created_at=datetime.now(timezone.utc)))
    db.session.commit()
    return {"status": "inserted"}, 201
