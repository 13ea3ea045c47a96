"""The API documentation page (/docs) in a real browser: Swagger UI, served by the service itself,
renders every operation of /openapi.json under the strict Content Security Policy, and "Try it out"
sends the document's own example to the real server and shows the answer."""

from __future__ import annotations

import json

import pytest
import requests

from tests.ui.support import DESKTOP
from tests.ui.test_browser import assert_no_console_errors, screenshot, wait_for

pytestmark = pytest.mark.slow


def test_docs_render_every_operation_and_try_it_out_works(open_browser, server, artifacts):
    document = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    operations = [op for item in document["paths"].values() for op in item.values()
                  if isinstance(op, dict) and "operationId" in op]
    driver = open_browser(DESKTOP)
    driver.get(server.url + "/docs")
    wait_for(driver, lambda d: len(d.find_elements("css selector", ".opblock")) == len(operations))
    assert driver.find_element("css selector", ".info .title").text.startswith("digitnet")

    predict = driver.find_element("id", "operations-predict-predict")
    predict.find_element("css selector", ".opblock-summary").click()
    wait_for(driver, lambda d: predict.find_elements("css selector", ".try-out__btn")).pop().click()
    predict.find_element("css selector", ".execute").click()
    status = wait_for(driver, lambda d: predict.find_elements(
        "css selector", ".live-responses-table tr.response .response-col_status"))[0]
    assert status.text.strip().startswith("200"), status.text
    body = predict.find_element("css selector", ".live-responses-table tr.response .highlight-code pre")
    answer = json.loads(body.text)
    assert answer["predictions"][0]["label"] == 7  # the document's example is a drawn seven
    screenshot(driver, artifacts / "docs-try-it-out.png")
    assert_no_console_errors(driver)
