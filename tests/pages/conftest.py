import re

import pytest

from registry.extensions import db

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """The test client as a browser: HTML, cookies, and the CSRF token taken from the last page."""

    def __init__(self, client):
        self.client, self.token = client, None

    def _open(self, method, path, **kw):
        # A fresh app context per request, as in production (see tests/conftest.py Api).
        with self.client.application.app_context():
            response = self.client.open(path, method=method, **kw)
        db.session.expire_all()
        return response

    def get(self, path, **kw):
        response = self._open("GET", path, headers={"Accept": "text/html", **kw.pop("headers", {})}, **kw)
        found = CSRF.search(response.get_data(as_text=True)) if response.mimetype == "text/html" else None
        if found:
            self.token = found.group(1)
        return response

    def post(self, path, data=None, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.token
        return self._open("POST", path, data=data, headers={"Accept": "text/html"}, **kw)

    def signup(self, **fields):
        self.get("/signup")
        body = {"email": "page-user@example.jp", "password": "password-123", "display_name": "ページ太郎",
                "home_municipality_code": "131016", "birth_year": "1990", **fields}
        return self.post("/signup", body)

    def login(self, email, password):
        self.get("/login")
        return self.post("/login", {"email": email, "password": password})


@pytest.fixture
def browser(app):
    return Browser(app.test_client())
