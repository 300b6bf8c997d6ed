"""API conventions: problem+json, languages, bad input never a 500, OpenAPI, health; and the code's
shape (thin pages, short modules, imports at the top)."""
import ast
import json
import re
import uuid
from pathlib import Path

import pytest

import registry
from registry.common.auth import PARTNER, ROLES
from tests.factories import partner_token, user_of

API = "/api/v1"


def test_healthz_and_readyz(api):
    assert api.get("/healthz").get_json() == {"status": "ok"}
    assert api.get("/readyz").status_code == 200


def test_openapi_document_and_docs(client):
    spec = client.get(f"{API}/openapi.json").get_json()
    assert spec["openapi"].startswith("3")
    assert f"/api/v1/registrations" in spec["paths"] or "/registrations" in str(spec["paths"])
    docs = client.get(f"{API}/docs")
    assert docs.status_code == 200 and b"swagger" in docs.data.lower()
    asset = re.search(rb'src="([^"]*swagger-ui-bundle\.js)"', docs.data).group(1).decode()
    assert asset.startswith("/api/v1/docs/static/")  # served by the app: no CDN on a closed network
    assert client.get(asset).status_code == 200


def test_openapi_documents_each_error_as_problem_json(client):
    """No catch-all `default`: each operation lists its statuses; every 4xx/5xx is a problem+json."""
    spec = client.get(f"{API}/openapi.json").get_json()
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert "validation_error" in problem["properties"]["code"]["enum"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            responses = op["responses"]
            assert "default" not in responses and "503" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            for status, response in responses.items():
                if int(status) >= 400:
                    name = response["$ref"].rsplit("/", 1)[-1]
                    content = spec["components"]["responses"][name]["content"]
                    assert list(content) == ["application/problem+json"], (method, path, status)


def test_problem_shape_in_japanese_by_default(api):
    response = api.get("/organizations/999999")
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert set(body) >= {"type", "title", "status", "detail", "code"}
    assert body["status"] == 404 and body["title"] == "該当する団体がありません。"


@pytest.mark.parametrize("how", [{"headers": {"Accept-Language": "en-US,en;q=0.9"}}, {"query_string": {"lang": "en"}}])
def test_problem_in_english_when_asked(api, how):
    body = api.get("/organizations/999999", **how).get_json()
    assert body["title"] == "No such local government (団体)."


def test_field_errors_translated(api):
    ja = api.post("/auth/signup", json={}).get_json()
    en = api.post("/auth/signup", json={}, headers={"Accept-Language": "en"}).get_json()
    assert ja["code"] == en["code"] == "validation_error"
    assert ja["errors"]["email"] == ["必須項目です。"]
    assert en["errors"]["email"] == ["Missing data for required field."]
    long = api.post("/auth/signup", json={"display_name": "x" * 101}).get_json()
    assert long["errors"]["display_name"] == ["1〜100件（文字）で指定してください。"] or \
        long["errors"]["display_name"] == ["100文字以内で入力してください。"]


def test_unknown_route_and_method(api):
    assert api.get("/nothing-here").get_json()["code"] == "not_found"
    response = api.call("PUT", "/organizations")
    assert response.status_code == 405 and response.get_json()["code"] == "method_not_allowed"


def test_body_over_6mb_is_413(api):
    response = api.post("/auth/signup", data=b"{" + b" " * (6 * 1024 * 1024 + 10) + b"}",
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.get_json()["code"] == "payload_too_large"


def test_nosniff_everywhere(api):
    for path in ("/healthz", "/organizations", "/organizations/000000", "/me"):
        assert api.get(path).headers["X-Content-Type-Options"] == "nosniff"


# --- the bad-input sweep: every operation that takes a JSON body -----------------------------------

def _operations(app, client):
    spec = client.get(f"{API}/openapi.json").get_json()
    adapter_rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("post", "put", "patch") or "requestBody" not in op:
                continue
            content = op["requestBody"]["content"]
            if "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            flask_rule = re.sub(r"\{(\w+)\}", lambda m: f"<{m.group(1)}>", path)
            rule = next(r for r in adapter_rules.values() if re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", r.rule) == flask_rule)
            view = app.view_functions[rule.endpoint]
            yield path, method, schema, getattr(view, "required_roles", None)


@pytest.fixture
def tokens(signup, make_account):
    user, resident = signup()
    return {"resident": resident, "staff": make_account("staff", "212172"), "national": make_account("national"),
            "admin": make_account("admin"), PARTNER: partner_token(user_of(user))}


def _concrete(path):
    return re.sub(r"\{(\w+)\}", lambda m: "212172" if m.group(1) == "code" else str(uuid.uuid4()), path)


WRONG = {"string": 12345, "integer": "abc", "number": "abc", "boolean": "maybe", "array": "not-a-list", "object": 7}


def test_every_json_body_rejects_bad_input_with_a_4xx(app, client, api, tokens):
    checked = 0
    for path, method, schema, roles in _operations(app, client):
        assert roles is not None, f"{method.upper()} {path} states no authorization rule"
        role = next((r for r in roles if r in tokens), None)
        token = tokens[role] if role else None
        url = API + _concrete(path)
        bodies = [b'{"a":', b"[]", b'"text"', b"null", json.dumps({"zz_unknown": 1}).encode()]
        for name, prop in schema.get("properties", {}).items():
            if prop.get("readOnly"):
                continue
            kind = prop.get("type", "object")
            bodies.append(json.dumps({name: WRONG.get(kind, 7)}).encode())
            if kind == "string":
                bodies.append(json.dumps({name: "あ" * 100_000}).encode())
                bodies.append(json.dumps({name: "a\u0000b"}).encode())  # PostgreSQL cannot store NUL
        for body in bodies:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"} if token else \
                {"Content-Type": "application/json"}
            response = client.open(url, method=method.upper(), data=body, headers=headers)
            assert 400 <= response.status_code < 500, (method, path, body[:60], response.status_code, response.data[:300])
            assert response.mimetype == "application/problem+json"
            assert response.get_json()["code"]
            checked += 1
    assert checked > 50


def test_every_request_string_is_bounded(app, client):
    """Huge strings are refused by the schema itself: each has a maxLength, an enum or a format."""
    for path, method, schema, _ in _operations(app, client):
        for name, prop in schema.get("properties", {}).items():
            items = prop.get("items", {}) if prop.get("type") == "array" else prop
            if items.get("type") == "string" and not prop.get("readOnly"):
                assert "maxLength" in items or "enum" in items or items.get("format") in ("date", "date-time", "uuid"), \
                    f"{method.upper()} {path}: {name} has no upper bound"


def test_every_route_states_who_may_call_it(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static",) or rule.endpoint.startswith("api-docs"):
            continue
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "required_roles", None)
        assert roles is not None, f"{rule.rule} ({rule.endpoint}) has no @require/@public"
        assert set(roles) <= set(ROLES) | {PARTNER}  # a partner: registry.partners (OAuth)


# --- the code's shape -------------------------------------------------------------------------------
# Pages are as thin as the API: one service or workflow call per page, no SQL, no session, no commit
# or rollback (the request commits once; a refused form runs in common.database.attempt's savepoint).
# Modules stay short, and `registry.` imports sit at the top of a module: one inside a function hides
# an import cycle, except in the app factory, where loading late is the point.

REGISTRY = Path(registry.__file__).parent
MAX_LINES = 500
# A `registry.` import inside a function, module → why it must be lazy. Keep it empty.
LAZY_IMPORTS: dict[str, str] = {}
APP_FACTORY = "__init__.py"
FORBIDDEN_IN_PAGES = ("registry.extensions", "sqlalchemy")


def _modules() -> dict[str, str]:
    return {path.relative_to(REGISTRY).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(REGISTRY.rglob("*.py"))}


def _imported(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: inside the package
            return ["registry." + (node.module or "")]
        return [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def page_violations(source: str) -> list[str]:
    """What a page module does that only services may: the session, SQL, commit or rollback, or an
    import of the database or SQLAlchemy."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and node.attr == "session" and isinstance(node.value, ast.Name) \
                and node.value.id == "db":
            found.append(f"line {line}: db.session")
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "select":
                found.append(f"line {line}: select(")
            elif name in ("commit", "rollback") and isinstance(node.func, ast.Attribute):
                found.append(f"line {line}: .{name}(")
        banned = [m for m in _imported(node) if any(m == b or m.startswith(b + ".") for b in FORBIDDEN_IN_PAGES)]
        if banned:
            found.append(f"line {line}: imports {banned[0]}")
    return found


def lazy_registry_imports(source: str) -> list[str]:
    """`registry.` imports inside a function (or lambda), as "line N: module"."""
    found = set()
    for function in ast.walk(ast.parse(source)):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for node in ast.walk(function):
                for module in _imported(node):
                    if module == "registry" or module.startswith("registry."):
                        found.add((node.lineno, _imported(node)[0]))
    return [f"line {line}: {module}" for line, module in sorted(found)]


def test_pages_call_services_and_never_touch_the_database():
    pages = {name: source for name, source in _modules().items() if name.startswith("pages/")}
    assert "pages/staff.py" in pages and "pages/common.py" in pages
    offending = {name: found for name, source in pages.items() if (found := page_violations(source))}
    assert offending == {}, "pages call services (or a workflow); SQL and the transaction belong below them"


def over_the_limit(modules: dict[str, str]) -> dict[str, int]:
    """Modules (path → source) longer than MAX_LINES."""
    return {name: lines for name, source in modules.items() if (lines := len(source.splitlines())) > MAX_LINES}


def test_no_module_is_over_500_lines():
    assert over_the_limit(_modules()) == {}, f"split these modules (at most {MAX_LINES} lines each)"


def test_registry_imports_sit_at_the_top_of_their_module():
    lazy = {name: found for name, source in _modules().items()
            if name != APP_FACTORY and name not in LAZY_IMPORTS and (found := lazy_registry_imports(source))}
    assert lazy == {}, "import at the top; an import inside a function that dodges a cycle hides a layering fault"
    assert lazy_registry_imports(_modules()[APP_FACTORY]), "the app factory loads the blueprints and commands late"


def test_the_shape_checks_find_what_they_look_for():
    """The three checks above fail on code that breaks the rules (and pass code that keeps them)."""
    page = ("from sqlalchemy import func, select\n"
            "from registry.extensions import db\n"
            "from registry import extensions\n"
            "import sqlalchemy.orm\n"
            "def view():\n"
            "    rows = db.session.scalars(select(Need)).all()\n"
            "    db.session.commit()\n"
            "    extensions.db.session.rollback()\n")
    found = page_violations(page)
    for expected in ("line 1: imports sqlalchemy", "line 2: imports registry.extensions",
                     "line 3: imports registry.extensions", "line 4: imports sqlalchemy.orm",
                     "line 6: db.session", "line 6: select(", "line 7: .commit(", "line 8: .rollback("):
        assert expected in found, (expected, found)
    thin = ("from flask import session\n"
            "from registry.workflows import staff_page\n"
            "def view():\n"
            "    session.clear()\n"
            "    return staff_page.console(me, today=today, now=now)\n")
    assert page_violations(thin) == []

    module = ("import json\n"
              "from registry.needs import service\n"
              "def f():\n"
              "    import csv\n"
              "    from registry.figures import seed\n"
              "    return lambda: __import__('os')\n"
              "class C:\n"
              "    def g(self):\n"
              "        import registry.audit.service\n"
              "        from . import models\n")
    assert lazy_registry_imports(module) == ["line 5: registry.figures", "line 9: registry.audit.service",
                                             "line 10: registry."]
    lines = lambda n: "x = 1\n" * n  # noqa: E731
    assert over_the_limit({"a.py": lines(MAX_LINES + 1), "b.py": lines(MAX_LINES), "figures/other.py": lines(900)}) \
        == {"a.py": MAX_LINES + 1, "figures/other.py": 900}
