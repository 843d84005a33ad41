"""The ``/map`` page in a real headless Chromium (Debian's ``chromium`` and ``chromedriver``).

The gateway is served from a thread of the test process on each database; the browser loads
the page, which reads the public feeds, and the tests read back what it drew.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from werkzeug.serving import make_server

from open311.jurisdictions import resolve_jurisdiction
from open311.limits import import_boundary
from open311.spatial.geojson import read_limits_file
from tests.api.test_get_requests import PERSONAL, ago
from tests.helpers import shared_path

LIMITS_PATH = "/open311/v2/jurisdictions/aurora-il.org.geojson"
# The flags Chromium needs on these machines (no sandbox as root, no background networking).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,900",
)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the session."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def serve(app: Any) -> Iterator[Any]:
    """Start serving the app; yields a starter returning the base URL."""
    servers = []

    def start() -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def open_map(browser: webdriver.Chrome, base: str) -> None:
    browser.get_log("browser")  # start each page with an empty console
    browser.get(f"{base}/map")
    WebDriverWait(browser, 15).until(
        lambda d: d.find_element(By.ID, "map").get_attribute("data-state") == "ready"
    )


def console_errors(browser: webdriver.Chrome, allow_missing_limits: bool) -> list[str]:
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    if allow_missing_limits:
        errors = [m for m in errors if not (LIMITS_PATH in m and "404" in m)]
    return errors


def count(browser: webdriver.Chrome, selector: str) -> int:
    return len(browser.find_elements(By.CSS_SELECTOR, selector))


def seed_window(seed: Any) -> None:
    seed(ago(1), lat=41.7606, long=-88.3201, description="Pothole", **PERSONAL)
    seed(ago(3), lat=41.7650, long=-88.3300)
    seed(ago(5), service_code="S1", status="closed", lat=41.7700, long=-88.3100)
    seed(ago(2), address="1 Main St")  # no location: counted, not drawn
    seed(ago(60), lat=41.7606, long=-88.3201)  # outside the page's 30-day window


def test_map_draws_one_marker_per_located_request_without_limits(browser, serve, seed):
    seed_window(seed)
    open_map(browser, serve())
    map_element = browser.find_element(By.ID, "map")
    assert map_element.get_attribute("data-markers") == "3"
    assert count(browser, "path.request-marker") == 3
    assert count(browser, "path.request-marker.status-open") == 2
    assert count(browser, "path.request-marker.status-closed") == 1
    assert count(browser, "path.city-limits") == 0
    assert (
        "3 requests on the map, 1 without a location" in browser.find_element(By.ID, "summary").text
    )
    assert console_errors(browser, allow_missing_limits=True) == []
    assert not any(value in browser.page_source for value in PERSONAL.values())


def test_map_filters_by_service(browser, serve, seed):
    seed_window(seed)
    open_map(browser, serve())
    Select(browser.find_element(By.ID, "service")).select_by_value("S1")
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "map").get_attribute("data-markers") == "1"
    )
    assert count(browser, "path.request-marker.status-closed") == 1
    assert count(browser, "path.request-marker.status-open") == 0
    assert console_errors(browser, allow_missing_limits=True) == []


def test_map_draws_city_limits_when_the_gateway_has_them(browser, serve, seed):
    seed_window(seed)
    limits = read_limits_file(shared_path("data", "aurora-il-boundary.geojson"))
    import_boundary(resolve_jurisdiction("aurora-il.org"), limits, "aurora-il-boundary.geojson")
    open_map(browser, serve())
    assert count(browser, "path.city-limits") >= 1
    assert count(browser, "path.request-marker") == 3
    assert console_errors(browser, allow_missing_limits=False) == []


def test_map_shows_text_as_text(browser, serve, seed):
    seed(ago(1), lat=41.7606, long=-88.3201, description='<img src="x" id="injected">')
    open_map(browser, serve())
    browser.execute_script(
        "document.querySelector('path.request-marker')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    popup = WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".leaflet-popup-content")
    )
    assert '<img src="x" id="injected">' in popup.get_attribute("textContent")
    assert count(browser, "#injected") == 0
