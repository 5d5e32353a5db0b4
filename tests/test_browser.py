"""A browser test: headless Debian Chromium driven by Selenium against a live server.

Logs in to the admin, edits a post, checks that the API serves the new title at once, opens
the cache dashboard, flushes a namespace and sees its key count drop. Screenshots go to
``artifacts/`` (kept by CI as test artifacts).
"""

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
import requests

from tests.factories import PASSWORD, make_post, make_user
from tests.live import HTTP_TIMEOUT, ROOT, WAIT_TIMEOUT, signal_group, stop_group

ARTIFACTS = ROOT / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = pytest.mark.live


class Browser:
    """Headless Chromium driven by chromedriver, a context manager. chromedriver starts in a
    session of its own and Chromium's processes join its group, so the group is killed after
    ``quit()``, and when the start itself fails: no browser process outlives the test. Their
    files (the profile, Chromium's singleton socket, its crash reports) are in a temporary
    directory of their own, their HOME and TMPDIR, removed after the group: none outlives the
    test either."""

    def __init__(self) -> None:
        self.directory = self.service = self.driver = None

    def __enter__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.directory = tempfile.mkdtemp(prefix="browser-")
        try:
            options = webdriver.ChromeOptions()
            options.binary_location = CHROMIUM
            for flag in (
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                f"--user-data-dir={self.directory}/profile",
            ):
                options.add_argument(flag)
            self.service = Service(
                executable_path=CHROMEDRIVER,
                env={**os.environ, "HOME": self.directory, "TMPDIR": self.directory},
                popen_kw={"start_new_session": True},
            )
            self.driver = webdriver.Chrome(service=self.service, options=options)
        except BaseException:
            self._end()
            raise
        return self.driver

    def __exit__(self, *exc) -> None:
        try:
            self.driver.quit()
        finally:
            self._end()

    def _end(self) -> None:
        try:
            self._kill()
        finally:
            shutil.rmtree(self.directory)

    def _kill(self) -> None:
        process = self.service and self.service.process
        if process is None:
            return
        if process.returncode is None:
            stop_group(process, grace=5)
        else:  # selenium reaped chromedriver just now: its group ID stays while a member lives
            signal_group(process, signal.SIGKILL)


def require_chromium() -> None:
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER)):
        pytest.fail(
            "Debian chromium and chromium-driver are required: apt-get install chromium "
            "chromium-driver (.ci/run does)"
        )


@pytest.fixture
def browser():
    require_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with Browser() as driver:
        # Finding an element waits for it (a page still loading on a busy machine), up to this.
        driver.implicitly_wait(WAIT_TIMEOUT / 2)
        yield driver


def test_a_browser_leaves_no_file_behind_even_when_its_test_fails(monkeypatch):
    """Nothing of chromedriver's and Chromium's is left in the temp directory or the home."""
    require_chromium()
    with tempfile.TemporaryDirectory() as scratch:
        left = {name: Path(scratch, name) for name in ("HOME", "TMPDIR")}
        for name, path in left.items():
            path.mkdir()
            monkeypatch.setenv(name, str(path))
        monkeypatch.setattr(tempfile, "tempdir", str(left["TMPDIR"]))  # its TMPDIR, read once
        with pytest.raises(RuntimeError, match="the test failed"), Browser() as driver:
            driver.get("data:text/html,<title>a page</title>")
            assert driver.title == "a page"
            raise RuntimeError("the test failed")
        assert {name: os.listdir(path) for name, path in left.items()} == {"HOME": [], "TMPDIR": []}


def test_admin_edit_reaches_the_api_and_the_dashboard_flushes(live, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    def wait_for(css):
        return WebDriverWait(browser, WAIT_TIMEOUT).until(
            until.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    staff = make_user(is_staff=True, is_superuser=True)
    post = make_post(make_user(), title="Before the edit", category="browser")
    server = live(workers=2)
    api = f"{server.url}/api/posts/{post.pk}/"
    assert requests.get(api, timeout=HTTP_TIMEOUT).json()["title"] == "Before the edit"
    assert requests.get(api, timeout=HTTP_TIMEOUT).headers["X-Cache"] == "HIT"

    browser.get(f"{server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(staff.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page has the same header: wait for the index itself (a loaded machine is slow).
    WebDriverWait(browser, WAIT_TIMEOUT).until(until.title_contains("Site administration"))
    assert "Site administration" in browser.page_source
    browser.save_screenshot(str(ARTIFACTS / "admin-index.png"))

    browser.get(f"{server.url}/admin/posts/post/{post.pk}/change/")
    title = browser.find_element(By.NAME, "title")
    title.clear()
    title.send_keys("Edited in the browser")
    browser.find_element(By.NAME, "_save").click()
    assert "was changed successfully" in wait_for(".messagelist .success").text
    assert requests.get(api, timeout=HTTP_TIMEOUT).json()["title"] == "Edited in the browser"

    requests.get(api, timeout=HTTP_TIMEOUT)  # cache it again, so the flush has something to remove
    browser.get(f"{server.url}/admin/")
    browser.find_element(By.LINK_TEXT, "Dashboard").click()
    keys_cell = browser.find_element(By.CSS_SELECTOR, 'tr[data-namespace="post"] td.keys')
    before = int(keys_cell.text)
    assert before >= 1
    browser.save_screenshot(str(ARTIFACTS / "cache-dashboard.png"))
    browser.find_element(By.CSS_SELECTOR, 'tr[data-namespace="post"] a.flush').click()
    browser.save_screenshot(str(ARTIFACTS / "cache-flush-confirm.png"))
    browser.find_element(By.ID, "confirm-flush").click()
    assert "keys removed" in wait_for(".messagelist .success").text
    after = int(browser.find_element(By.CSS_SELECTOR, 'tr[data-namespace="post"] td.keys').text)
    browser.save_screenshot(str(ARTIFACTS / "cache-dashboard-after-flush.png"))
    assert after == 0 < before
    assert requests.get(api, timeout=HTTP_TIMEOUT).headers["X-Cache"] == "MISS"
