"""The admin in a real browser: headless Chromium (Debian's) driven by Selenium against a live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from drift.models import DriftEvent
from drift.services import DriftCheck, drift_check_run
from tests.drift.data import synthetic_frame
from tests.models_api.operator_data import NAME, seed_model
from tests.predictions.factories import PredictionFactory

ARTIFACTS = Path(
    os.environ.get("MLSERVICE_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "var" / "test-artifacts")
)


@pytest.fixture
def browser() -> Iterator[object]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed (.ci/run installs Debian's)")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # No network beyond loopback here: keep Chromium from reaching out at all.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def log_in(browser: object, live_server: object, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(live_server.url + reverse("admin:login"))
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # click() returns before the next page has loaded: wait for it (a slow machine lost this race once).
    WebDriverWait(browser, 30).until(lambda driver: "Site administration" in driver.title)


@pytest.mark.django_db(transaction=True)
def test_staff_logs_in_and_browses_runs_predictions_and_a_drift_event(browser, live_server):
    from selenium.webdriver.common.by import By

    get_user_model().objects.create_superuser(username="operator", password="pw-operator-e2e-1")
    PredictionFactory()
    baseline = synthetic_frame(4000, seed=90).drop(columns=["target"])
    subject = synthetic_frame(400, seed=91, shift={"x2": 1.0}).drop(columns=["target"])
    event = drift_check_run(check=DriftCheck(subject=subject, baseline=baseline, trigger=DriftEvent.Trigger.MANUAL,
                                             model_name="e2e", model_version="1"))  # fmt: skip
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_in(browser, live_server, "operator", "pw-operator-e2e-1")

    for name in ("registry_run", "predictions_prediction", "drift_driftevent"):
        browser.get(live_server.url + reverse(f"admin:{name}_changelist"))
        assert browser.find_elements(By.ID, "changelist"), name
    browser.get(live_server.url + reverse("admin:drift_driftevent_change", args=[event.pk]))
    page = browser.page_source
    assert "<td>x2</td>" in page
    assert "ALERT" in page
    browser.save_screenshot(str(ARTIFACTS / "admin-drift-event.png"))

    browser.get(live_server.url + reverse("admin:drift_driftevent_report", args=[event.pk]))
    assert browser.find_elements(By.CSS_SELECTOR, "svg rect.subject")
    browser.save_screenshot(str(ARTIFACTS / "drift-report.png"))
    assert (ARTIFACTS / "drift-report.png").stat().st_size > 10_000


@pytest.mark.django_db(transaction=True)
def test_operator_opens_a_models_page_from_the_versions_list(browser, live_server):
    from selenium.webdriver.common.by import By

    get_user_model().objects.create_superuser(username="operator", password="pw-operator-e2e-2")
    seed_model()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_in(browser, live_server, "operator", "pw-operator-e2e-2")

    browser.get(live_server.url + reverse("admin:registry_modelversion_changelist"))
    browser.find_element(By.LINK_TEXT, NAME).click()

    assert browser.current_url.endswith(reverse("admin:registry_modelversion_model", args=[NAME]))
    for section in ("versions", "volume", "policy", "jobs"):
        assert browser.find_element(By.ID, section).is_displayed(), section
    assert len(browser.find_elements(By.CSS_SELECTOR, "#volume svg rect.bar")) >= 30
    assert len(browser.find_elements(By.CSS_SELECTOR, "#versions svg.sparkline")) >= 2
    assert browser.find_elements(By.CSS_SELECTOR, "#versions svg.sparkline circle.alert")
    assert "kept: the candidate scored" in browser.find_element(By.ID, "jobs").text
    # Drawn, not just present: the chart has a size on screen.
    chart = browser.find_element(By.CSS_SELECTOR, "#volume svg.chart")
    assert chart.size["width"] > 600
    assert chart.size["height"] > 100
    # Tall enough for the whole page (versions, chart, policy, jobs) in one picture.
    browser.set_window_size(1400, 1500)
    browser.save_screenshot(str(ARTIFACTS / "admin-model-page.png"))
    assert (ARTIFACTS / "admin-model-page.png").stat().st_size > 10_000
