"""Paginated lists: a bare JSON array with `X-Total-Count` and `Link` headers (API.md).

Two halves, so a service can hand out a page without knowing about HTTP: `page_of` runs one page
of a statement (services, workflows), `headers` describes it for the response (api.py views).
`paginate` is both at once, for a view whose list needs nothing more than its statement."""
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from flask import current_app, request
from sqlalchemy import Select, func, select

from registry.extensions import db

# The headers of every paginated list, for its documented 200.
PAGINATED = {
    "X-Total-Count": {"description": "How many items the whole list has.", "required": True,
                      "schema": {"type": "integer", "minimum": 0}},
    "Link": {"description": "The `first`, `prev`, `next` and `last` pages (RFC 8288).", "required": True,
             "schema": {"type": "string"}},
}


@dataclass(frozen=True)
class Page:
    """One page of a list: its items and how many the whole list has."""
    items: list
    total: int


def page_of(statement: Select, page: int, per_page: int | None, *, rows: bool = False) -> Page:
    """Run one page of `statement` (which must already carry its stable order); `rows=True` gives
    row tuples for a statement that selects several entities. `per_page=None`: the whole list."""
    if per_page is None:
        items = list(db.session.execute(statement) if rows else db.session.scalars(statement))
        return Page(items, len(items))
    total = db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    page_stmt = statement.limit(per_page).offset((page - 1) * per_page)
    return Page(list(db.session.execute(page_stmt) if rows else db.session.scalars(page_stmt)), total)


def headers(found: Page, page: int, per_page: int) -> dict:
    """`X-Total-Count` and `Link` for page `page` of `found`'s list, linked from this request's URL."""
    return pagination_headers(found.total, page, per_page)


def paginate(statement: Select, page: int, per_page: int, *, rows: bool = False) -> tuple[list, dict]:
    """(items, headers) of one page of `statement`, for a view to return."""
    found = page_of(statement, page, per_page, rows=rows)
    return found.items, headers(found, page, per_page)


def pagination_headers(total: int, page: int, per_page: int) -> dict:
    last = max(1, -(-total // per_page))
    # The path as the request named it, under the public origin (SITE_URL), whatever the Host said.
    base = current_app.config["SITE_URL"] + urlsplit(request.base_url).path
    links = []
    for rel, number in (("first", 1), ("prev", page - 1), ("next", page + 1), ("last", last)):
        if 1 <= number <= last and not (rel == "prev" and page > last):
            args = request.args.to_dict()
            args.update(page=number, per_page=per_page)
            links.append(f'<{base}?{urlencode(args)}>; rel="{rel}"')
    return {"X-Total-Count": str(total), "Link": ", ".join(links)}
