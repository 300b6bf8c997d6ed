"""Open-data releases: the list under /api/v1, the files at the site root with immutable caching."""
from flask import Blueprint as FlaskBlueprint, Response, current_app, request

from registry.common.auth import public
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, headers
from registry.common.schemas import PaginationSchema
from registry.opendata import service
from registry.opendata.schemas import ReleaseSchema

blp = Blueprint("open_data", __name__, description=(
    "Monthly open-data releases (CC BY 4.0): per 団体, per prefecture, flows and the 関係人口 typology, as of "
    "each month's last day, suppressed as the national figures are. Each file is served at the site root "
    "under /open-data/{release}/{file} and never changes."))
files = FlaskBlueprint("open_data_files", __name__)
IMMUTABLE = "public, max-age=31536000, immutable"


def file_url(release: str, name: str) -> str:
    return f"{current_app.config['SITE_URL']}/open-data/{release}/{name}"


@blp.get("/open-data/releases")
@public
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, ReleaseSchema(many=True), headers=PAGINATED)
def list_releases(args):
    """Every published release, newest first, with each file's size, sha256 and URL."""
    found = service.releases(page=args["page"], per_page=args["per_page"])
    rows = [{**release, "files": [{**f, "url": file_url(release["release"], f["name"])} for f in release["files"]]}
            for release in found.items]
    return rows, headers(found, args["page"], args["per_page"])


@files.get("/open-data/<release>/<name>")
@public
def release_file(release: str, name: str):
    """A release's file as published, cached for a year by anyone (it never changes)."""
    stored = service.file(release, name)
    media_type = f"{stored.media_type}; charset=utf-8"
    response = Response(stored.content, content_type=media_type)
    response.headers["Cache-Control"] = IMMUTABLE
    response.set_etag(stored.sha256)
    return response.make_conditional(request)
