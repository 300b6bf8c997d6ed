"""A live server on 127.0.0.1 and Debian's chromium driven by Playwright, at a phone's size.

Screenshots go to test-artifacts/screens/ (not committed) so a reviewer can look at the pages.
"""
import os
import shutil
import uuid
from pathlib import Path

import pytest
from registry.accounts import service as accounts
from registry.extensions import db
from tests.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
PHONE = {"width": 390, "height": 844}
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


class Phone:
    """One browser context at phone size that records console errors and takes screenshots."""

    def __init__(self, chromium, base_url, viewport=None):
        self.context = chromium.new_context(viewport=viewport or PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                            locale="ja-JP", base_url=base_url)
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def goto(self, path):
        response = self.page.goto(path)
        assert response.status < 500, path
        return response

    def sign_in(self, email, password):
        self.goto("/login")
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.click("main button[type=submit]")

    def sign_up(self, email, display_name, birth_year, home="131016"):
        self.goto("/signup")
        self.page.fill("#email", email)
        self.page.fill("#password", "password-123")
        self.page.fill("#display_name", display_name)
        self.page.select_option("#home_municipality_code", home)
        self.page.fill("#birth_year", str(birth_year))
        self.page.click("main button[type=submit]")

    def no_sideways_scroll(self):
        width = self.page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], f"{self.page.url} scrolls sideways: {width}"

    def shot(self, name):
        SCREENS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)

    def close(self):
        self.context.close()


@pytest.fixture
def phone(chromium, live_server):
    phones = []

    def open_phone(viewport=None):
        p = Phone(chromium, live_server, viewport)
        phones.append(p)
        return p

    yield open_phone
    for p in phones:
        p.close()


@pytest.fixture
def signed_in(app, phone):
    """signed_in(role, organization=None) → a phone signed in to a new staff, national or admin
    account, made as the CLI makes it and committed (the live server reads it from another thread)."""

    def make(role, organization=None):
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.jp"
        with app.app_context():
            accounts.create_user(email=email, password=PASSWORD, role=role, organization_code=organization)
            db.session.commit()
        p = phone()
        p.sign_in(email, PASSWORD)
        return p

    return make
