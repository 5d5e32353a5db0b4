"""A browser test: headless Debian Chromium driven by Selenium against a live gunicorn.

Logs in to the admin, edits a post, checks that the API serves the new title at once, opens
the cache dashboard, flushes a namespace and sees its key count drop. Screenshots go to
``artifacts/`` (kept by CI as test artifacts).
"""

import shutil
from pathlib import Path

import pytest
import requests

from tests.factories import PASSWORD, make_post, make_user
from tests.live import ROOT

ARTIFACTS = ROOT / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = pytest.mark.live


@pytest.fixture
def browser():
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER)):
        pytest.fail("Debian chromium and chromium-driver are required: apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def test_admin_edit_reaches_the_api_and_the_dashboard_flushes(live, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    def wait_for(css):
        return WebDriverWait(browser, 10).until(until.presence_of_element_located((By.CSS_SELECTOR, css)))

    staff = make_user(is_staff=True, is_superuser=True)
    post = make_post(make_user(), title="Before the edit", category="browser")
    server = live(workers=2)
    api = f"{server.url}/api/posts/{post.pk}/"
    assert requests.get(api, timeout=5).json()["title"] == "Before the edit"
    assert requests.get(api, timeout=5).headers["X-Cache"] == "HIT"

    browser.get(f"{server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(staff.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page has the same header: wait for the index itself (a loaded machine is slow).
    WebDriverWait(browser, 15).until(until.title_contains("Site administration"))
    assert "Site administration" in browser.page_source
    browser.save_screenshot(str(ARTIFACTS / "admin-index.png"))

    browser.get(f"{server.url}/admin/posts/post/{post.pk}/change/")
    title = browser.find_element(By.NAME, "title")
    title.clear()
    title.send_keys("Edited in the browser")
    browser.find_element(By.NAME, "_save").click()
    assert "was changed successfully" in wait_for(".messagelist .success").text
    assert requests.get(api, timeout=5).json()["title"] == "Edited in the browser"

    requests.get(api, timeout=5)  # cache it again, so the flush has something to remove
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
    assert requests.get(api, timeout=5).headers["X-Cache"] == "MISS"
