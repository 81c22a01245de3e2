#!/usr/bin/python3
"""Drives the fake vendor's page in headless Chromium, as a developer would.

Opens the page, creates a signing key, makes it current, types the token, builds a report, sends it
to the receiver and waits for the receiver's status in #result-status. Exits 0 when the status is one
of --expect-status (default 204 or 200), 1 otherwise, 2 when the browser cannot be started.

A screenshot is saved as fake-vendor.png on success and fake-vendor-failure.png on failure, in
--screenshot-dir. The token is never printed.

Needs Debian's chromium, chromium-driver and python3-selenium: run it with /usr/bin/python3.

    /usr/bin/python3 browser_test.py --fake-vendor http://127.0.0.1:8964/ --token pypi-... \
        --screenshot-dir /tmp/shots [--target URL] [--style github] [--expect-status 204,200]
"""

import argparse
import json
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


class Failure(Exception):
    """A step that did not do what it should, in words."""


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake-vendor", required=True, help="the fake vendor's page URL")
    parser.add_argument("--token", required=True, help="the token to report (never printed)")
    parser.add_argument("--screenshot-dir", required=True, help="where screenshots go")
    parser.add_argument("--target", help="receiver URL typed into #target (default: the page's own default)")
    parser.add_argument("--style", default="github", help="vendor style: github, depsdev or gitlab")
    parser.add_argument("--expect-status", default="204,200", help="comma-separated statuses counted as success")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each step")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    return parser.parse_args()


def start_browser(arguments):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                 "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    if os.path.exists(arguments.chromium):
        options.binary_location = arguments.chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=arguments.chromedriver), options=options)
    # --window-size counts the window, not the page: pin the page itself to 1280x800.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    return driver


def wait_for(driver, timeout, what, condition):
    """Waits until condition(driver) is truthy and answers it; fails with `what` on timeout."""
    try:
        # The page redraws its tables after every action: an element read mid-redraw is simply read again.
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=[StaleElementReferenceException]).until(lambda d: condition(d))
    except TimeoutException:
        error = page_error(driver)
        raise Failure(f"timed out after {timeout:g}s waiting for {what}" + (f"; the page says: {error}" if error else ""))


def page_error(driver):
    try:
        return driver.find_element(By.ID, "error").text.strip()
    except WebDriverException:
        return ""


def key_rows(driver):
    """The keys table as [{"id", "current"}], read in one script call so a redraw cannot split it."""
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('#keys-table tbody tr')).map((row) => ({
            id: row.dataset.keyId, current: row.classList.contains('current')}));""")


def click_make_current(driver, key_id):
    """Clicks the key's .make-current button unless it is disabled (the key is current already)."""
    for _ in range(20):
        try:
            for row in driver.find_elements(By.CSS_SELECTOR, "#keys-table tbody tr"):
                if row.get_attribute("data-key-id") == key_id:
                    button = row.find_element(By.CSS_SELECTOR, ".make-current")
                    if button.is_enabled():
                        button.click()
                    return
            raise Failure(f"key {key_id[:12]} is not in #keys-table")
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise Failure("#keys-table kept changing under the make-current click")


def fill(driver, element_id, value):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def run(driver, arguments, expected):
    timeout = arguments.timeout
    driver.get(arguments.fake_vendor)
    wait_for(driver, timeout, "the page to load its keys and history",
             lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")

    # Create a key.
    before = [row["id"] for row in key_rows(driver)]
    driver.find_element(By.ID, "create-key").click()

    def one_more_row(d):
        ids = [r["id"] for r in key_rows(d)]
        return ids if len(ids) == len(before) + 1 else None

    rows = wait_for(driver, timeout, "a new row in #keys-table", one_more_row)
    new_ids = [key_id for key_id in rows if key_id not in before]
    if len(new_ids) != 1:
        raise Failure(f"expected exactly one new key row, found {len(new_ids)}")
    key_id = new_ids[0]
    print(f"created key {key_id}")

    # Make it current (the first key of an empty state is current already; its button is then disabled).
    click_make_current(driver, key_id)

    def made_current(d):
        rows = key_rows(d)
        return rows if any(r["id"] == key_id and r["current"] for r in rows) else None

    rows = wait_for(driver, timeout, f"key {key_id[:12]} to be current", made_current)
    currents = [r for r in rows if r["current"]]
    if len(currents) != 1:
        raise Failure(f"expected exactly one current key, the table shows {len(currents)}")

    # Build the report.
    fill(driver, "token", arguments.token)
    if driver.find_element(By.ID, "type").get_attribute("value") != "pypi_api_token":
        raise Failure("#type does not default to pypi_api_token")
    driver.find_element(By.ID, "build-report").click()
    payload = wait_for(driver, timeout, "the payload in #payload",
                       lambda d: d.find_element(By.ID, "payload").get_attribute("value") or None)
    try:
        items = json.loads(payload)
    except ValueError:
        raise Failure("#payload does not hold JSON after Build report")
    if not (isinstance(items, list) and len(items) == 1 and items[0].get("token") == arguments.token):
        raise Failure("#payload is not a one-item report carrying the token")

    # Send it.
    Select(driver.find_element(By.ID, "style")).select_by_value(arguments.style)
    Select(driver.find_element(By.ID, "tamper")).select_by_value("none")
    if arguments.target:
        fill(driver, "target", arguments.target)
    if not driver.find_element(By.ID, "target").get_attribute("value"):
        raise Failure("#target is empty: start the fake vendor with --target or pass --target")
    send = driver.find_element(By.ID, "send")
    send.click()
    wait_for(driver, timeout, "the send to finish", lambda d: d.find_element(By.ID, "send").is_enabled()
             and d.find_element(By.ID, "result-status").text.strip() not in ("", "—"))
    status = driver.find_element(By.ID, "result-status").text.strip()
    print(f"receiver answered {status} in {driver.find_element(By.ID, 'result-time').text.strip()}")
    if status not in expected:
        body = driver.find_element(By.ID, "result-body").text.strip()
        raise Failure(f"the receiver answered {status}, expected {' or '.join(sorted(expected))}; "
                      f"response body: {body[:300]!r}; page error: {page_error(driver)!r}")
    error = page_error(driver)
    if error:
        raise Failure(f"the page shows an error after a successful send: {error}")
    history = driver.find_elements(By.CSS_SELECTOR, "#history-table tbody tr")
    if not history:
        raise Failure("#history-table shows no send")

    # The page must not have logged errors (a CSP violation or a failed script would show here).
    problems = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
    if problems:
        raise Failure("the browser console has errors: " + "; ".join(p.get("message", "")[:200] for p in problems))


def main():
    arguments = parse_arguments()
    expected = {status.strip() for status in arguments.expect_status.split(",") if status.strip()}
    os.makedirs(arguments.screenshot_dir, exist_ok=True)
    try:
        driver = start_browser(arguments)
    except WebDriverException as error:
        print(f"FAIL: cannot start headless Chromium: {error.msg or error}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        run(driver, arguments, expected)
        driver.execute_script("window.scrollTo(0, 0)")
        path = os.path.join(arguments.screenshot_dir, "fake-vendor.png")
        driver.save_screenshot(path)
        print(f"OK: report sent through the fake vendor's page in {time.monotonic() - started:.1f}s; screenshot {path}")
        return 0
    except (Failure, WebDriverException) as error:
        path = os.path.join(arguments.screenshot_dir, "fake-vendor-failure.png")
        try:
            driver.save_screenshot(path)
        except WebDriverException:
            path = "(no screenshot)"
        message = str(error) if isinstance(error, Failure) else f"browser error: {error.msg or error}"
        print(f"FAIL: {message}; screenshot {path}", file=sys.stderr)
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
