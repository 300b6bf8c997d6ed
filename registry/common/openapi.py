"""flask-smorest's Blueprint, documenting the problem+json answers that follow from a route itself.

A view documents the refusals of its own service with `@blp.alt_response(409, response="CONFLICT")`
and the like; what every route of a kind can answer is added here, once:

- a path parameter may name nothing (or something hidden from the caller): 404;
- `@require(...)`: 401 without valid credentials, 403 when the caller's role is not among those named;
- a rate limit (registry.common.limits): 429;
- a request body: 400 when it cannot be parsed, 413 over 6 MB;
- every operation needs the database: 503 while it is unreachable.

`arguments` also takes a schema class once, as an instance: given a class, webargs builds a new
instance on every request (a fifth of a registration's validation cost in bench/writes.py).
"""
from http import HTTPStatus

from flask_smorest import Blueprint as _Blueprint

from registry.common.auth import ROLES


class Blueprint(_Blueprint):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_problem_doc)

    def arguments(self, schema, *args, **kwargs):
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)

    def add_url_rule(self, rule, endpoint=None, view_func=None, provide_automatic_options=None, **options):
        if view_func is not None:
            for status in route_error_statuses(rule, view_func):
                view_func = self.alt_response(status, response=HTTPStatus(status).name)(view_func)
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)

    @staticmethod
    def _prepare_problem_doc(doc, doc_info, **kwargs):
        responses = doc.setdefault("responses", {})
        if "requestBody" in doc:
            responses.setdefault(400, HTTPStatus.BAD_REQUEST.name)
            responses.setdefault(413, HTTPStatus.REQUEST_ENTITY_TOO_LARGE.name)
        responses.setdefault(503, HTTPStatus.SERVICE_UNAVAILABLE.name)
        doc["responses"] = dict(sorted(responses.items(), key=lambda item: str(item[0])))
        return doc


def route_error_statuses(rule: str, view) -> list[int]:
    statuses = []
    if "<" in rule:
        statuses.append(404)
    roles = getattr(view, "required_roles", ())
    if roles:
        statuses.append(401)
        if set(roles) != set(ROLES):
            statuses.append(403)
    if getattr(view, "rate_limited", False):
        statuses.append(429)
    return statuses
