"""A live server on 127.0.0.1 and Debian's chromium driven by Playwright, at a phone's size.

Every page a test visits is checked by axe-core (npm, pinned in package-lock.json; `make browser-deps`
installs it): before the test acts on a new document, and on the last one when the phone closes. A
critical or serious violation fails the test there. QR codes are read off screenshots with zbarimg
(Debian's zbar-tools), as a phone's camera would read the screen.

Screenshots go to test-artifacts/screens/ (not committed) so a reviewer can look at the pages.
"""
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from registry.accounts import service as accounts
from registry.extensions import db
from registry.organizations.codes import prefecture_code_of
from tests.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("critical", "serious")
# Runs axe once per document (a flag on the window, gone with the document) and answers the
# critical and serious violations, or null when this document was checked already.
AXE_RUN = """async (impacts) => {
  if (window.__axeChecked) { return null; }
  window.__axeChecked = true;
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter(v => impacts.includes(v.impact))
    .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.html)}));
}"""
PHONE = {"width": 390, "height": 844}
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="session")
def axe_source():
    if not AXE.exists():
        pytest.fail("axe-core is not installed for the browser tests: run `make browser-deps` (npm ci in tests/browser)")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def chromium(axe_source):
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def decode_qr(png: Path) -> list[str]:
    """What zbarimg (an ordinary decoder, as in a phone's camera app) reads in a screenshot."""
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        pytest.skip("zbarimg is not installed (Debian's zbar-tools; make test installs it when run as root)")
    found = subprocess.run([zbarimg, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
                           capture_output=True, text=True, timeout=60)
    return found.stdout.splitlines()


class AuditedPage:
    """The Playwright page, but every call that acts on it or reads from it first has axe-core check
    the document now shown (once per document): no page a test visits goes unchecked."""

    UNCHECKED = {"on", "once", "remove_listener", "close", "is_closed", "set_default_timeout",
                 "set_default_navigation_timeout", "wait_for_url", "wait_for_load_state", "expect_navigation"}

    def __init__(self, page, check):
        self._page, self._check = page, check

    def __getattr__(self, name):
        value = getattr(self._page, name)
        if not callable(value) or name.startswith("_") or name in self.UNCHECKED:
            return value

        def checked_first(*args, **kwargs):
            self._check()
            return value(*args, **kwargs)

        return checked_first


class Phone:
    """One browser context at phone size that records console errors, checks every page it shows with
    axe-core, and takes screenshots."""

    def __init__(self, chromium, base_url, axe_source, javascript=True, viewport=None):
        self.context = chromium.new_context(viewport=viewport or PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                            locale="ja-JP", base_url=base_url)
        if not javascript:
            # The pages' scripts are all files (the CSP allows no inline script): served empty, the
            # pages run as without JavaScript. (Turning JavaScript off would stop axe-core's timers.)
            self.context.route("**/*.js", lambda route: route.fulfill(status=200, body="",
                                                                      content_type="text/javascript"))
        self.raw = self.context.new_page()
        self.page = AuditedPage(self.raw, self.check_accessibility)
        self.axe_source = axe_source
        self.loaded, self.checked = set(), set()
        self.errors = []
        self.raw.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.raw.on("pageerror", lambda e: self.errors.append(str(e)))
        self.base_url = base_url
        self.raw.on("load", lambda page: self.loaded.add(urlsplit(page.url).path) if self.ours(page.url) else None)

    def ours(self, url: str) -> bool:
        """A page of the service (not a partner's site a redirect led to, nor a blank tab)."""
        return url.startswith(self.base_url)

    def check_accessibility(self):
        """axe-core on the document now shown, once per document: no critical or serious violation.
        The script is evaluated through the DevTools protocol, so the page's CSP is left as it is."""
        for attempt in range(3):
            self.raw.wait_for_load_state("load")
            if not self.ours(self.raw.url):
                return  # a blank tab, or another site (a partner's callback): not ours to check
            try:
                if self.raw.evaluate("() => typeof window.axe === 'undefined'"):
                    self.raw.evaluate(self.axe_source)
                violations = self.raw.evaluate(AXE_RUN, list(FAILING_IMPACTS))
                break
            except Exception as error:  # a navigation replaced the document meanwhile: check the new one
                if "context was destroyed" not in str(error) or attempt == 2:
                    raise
        if violations is None:
            return
        self.checked.add(urlsplit(self.raw.url).path)
        assert violations == [], f"axe-core on {self.raw.url}: " + "; ".join(
            f"{v['impact']} {v['id']} ({v['help']}): {' | '.join(v['nodes'])}" for v in violations)

    def goto(self, path):
        response = self.page.goto(path)
        assert response.status < 500, path
        self.check_accessibility()
        return response

    def sign_in(self, email, password):
        self.goto("/login")
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.click("main button[type=submit]")

    def choose_home(self, municipality_code):
        """The home picker: the prefecture, then (listed in place by its script) the municipality."""
        self.page.select_option("#home_prefecture", prefecture_code_of(municipality_code))
        self.page.select_option("#home_municipality_code", municipality_code)

    def sign_up(self, email, display_name, birth_year, home="131016"):
        self.goto("/signup")
        self.choose_home(home)
        self.page.fill("#email", email)
        self.page.fill("#password", "password-123")
        self.page.fill("#display_name", display_name)
        self.page.fill("#birth_year", str(birth_year))
        self.page.click("main button:has-text('アカウントを作成')")

    def no_sideways_scroll(self):
        width = self.page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], f"{self.page.url} scrolls sideways: {width}"

    def shot(self, name, full_page=True):
        SCREENS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=full_page)

    def qr_codes(self, name, selector):
        """Scrolls `selector` into view and decodes a screenshot of the phone's screen, as drawn."""
        SCREENS.mkdir(parents=True, exist_ok=True)
        self.page.locator(selector).scroll_into_view_if_needed()
        path = SCREENS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return decode_qr(path)

    def close(self):
        """Checks the last page shown, then that every page that loaded was checked."""
        try:
            if not self.raw.is_closed():
                self.check_accessibility()
            unchecked = self.loaded - self.checked
            assert not unchecked, f"pages loaded but never checked by axe-core: {sorted(unchecked)}"
        finally:
            self.context.close()


@pytest.fixture
def phone(chromium, live_server, axe_source):
    phones = []

    def open_phone(javascript=True, viewport=None):
        """A phone (of `viewport` size, else PHONE); javascript=False: one on which the pages' own
        scripts do not run."""
        p = Phone(chromium, live_server, axe_source, javascript, viewport)
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
