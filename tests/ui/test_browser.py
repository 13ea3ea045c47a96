"""The drawing page in a real browser (headless Debian Chromium) against a real gunicorn server.

Digits are drawn as polylines with W3C pointer actions (mouse and pen on a desktop viewport,
touch on a phone one), so the page's Pointer Events code runs as it does for a person. Each test
checks what a person would look at: the label, ten bars sized by the probabilities, the 28x28
image the model saw, the model's name and version. Screenshots go to test-artifacts/ui/.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from harness.images import drawn_digit, mnist_test_digits
from harness.server import Server
from shared.model import Model
from shared.repository import save_new_version
from tests.ui.support import DESKTOP, PHONE

pytestmark = pytest.mark.slow

WAIT_SECONDS = 30


# ---- digits as polylines, in pad coordinates from 0 to 1 -------------------------------------

def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 36) -> list[tuple[float, float]]:
    # Start at the top and go round once, a little past the start so the loop closes.
    return [(cx + rx * math.sin(2 * math.pi * i / n), cy - ry * math.cos(2 * math.pi * i / n))
            for i in range(n + 2)]


def _densify(points: list[tuple[float, float]], step: float = 0.02) -> list[tuple[float, float]]:
    """Points every `step` along the polyline, so the stroke is drawn by many pointer moves."""
    out = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        n = max(1, math.ceil(math.dist((x0, y0), (x1, y1)) / step))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    return out


DIGITS: dict[int, list[list[tuple[float, float]]]] = {
    1: [[(0.46, 0.24), (0.54, 0.16), (0.52, 0.50), (0.50, 0.84)]],
    0: [_ellipse(0.5, 0.5, 0.24, 0.34)],
    7: [[(0.26, 0.20), (0.74, 0.20), (0.60, 0.45), (0.44, 0.84)]],
}


# ---- driving the page ------------------------------------------------------------------------

def open_page(driver, server: Server) -> None:
    driver.get(server.url + "/")
    driver.get_log("browser")  # drop what earlier tests left in the console: each checks its own
    wait_for(driver, lambda d: d.find_element("id", "model-name").text not in ("…", ""))
    # The bars animate their width when motion is allowed: measure the final layout instead.
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-reduced-motion", "value": "reduce"}]})


def wait_for(driver, condition, timeout: float = WAIT_SECONDS):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def draw(driver, strokes: list[list[tuple[float, float]]], kind: str) -> None:
    """Draw `strokes` on the pad with a pointer of `kind` ("mouse", "pen" or "touch")."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    pad = driver.find_element("id", "pad")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    size = pad.size  # CSS pixels; element-relative offsets are from the element's centre
    actions = ActionBuilder(driver, mouse=PointerInput(kind, f"{kind}-1"), duration=5)
    pointer = actions.pointer_action
    for stroke in strokes:
        for i, (x, y) in enumerate(_densify(stroke)):
            offset_x = round((x - 0.5) * size["width"])
            offset_y = round((y - 0.5) * size["height"])
            pointer.move_to(pad, offset_x, offset_y)
            if i == 0:
                pointer.pointer_down()
        pointer.pointer_up()
    actions.perform()


def click_predict_and_wait(driver) -> None:
    driver.find_element("id", "predict").click()
    wait_until_answered(driver)


def wait_until_answered(driver) -> None:
    """Until the answer shown is the one to the newest request (auto-predict may have sent others)."""
    def answered(d):
        state = d.execute_script(
            "const r = document.getElementById('result');"
            "return [r.dataset.state, r.dataset.seq, r.dataset.shownSeq || ''];")
        return state[0] in ("done", "error") and state[1] == state[2] and state

    state = wait_for(driver, answered)
    if state[0] == "error":
        raise AssertionError(f"the page shows an error: {driver.find_element('id', 'error').text}")


def pad_png(driver) -> bytes:
    """The drawing exactly as the page uploads it (a PNG of the pad canvas)."""
    url = driver.execute_script("return document.getElementById('pad').toDataURL('image/png')")
    return base64.b64decode(url.split(",", 1)[1])


def shown_bars(driver) -> list[dict]:
    return driver.execute_script("""
        return [...document.querySelectorAll('#bars li')].map((li) => {
          const track = li.querySelector('.track').getBoundingClientRect();
          const fill = li.querySelector('.fill').getBoundingClientRect();
          return {digit: Number(li.dataset.digit), track: track.width, fill: fill.width,
                  top: li.classList.contains('top'), pct: li.querySelector('.pct').textContent};
        });""")


def seen_pixels(driver) -> np.ndarray:
    """The 28x28 preview canvas as grey levels (its red channel)."""
    data = driver.execute_script("""
        const c = document.getElementById('seen');
        const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return [c.width, c.height, Array.from(pixels)];""")
    width, height, rgba = data
    return np.array(rgba, dtype=np.uint8).reshape(height, width, 4)[..., 0]


def screenshot(driver, path: Path) -> None:
    """The whole page, not only the viewport: on a phone the answer is below the pad."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    content = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": content["width"], "height": content["height"], "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def assert_no_console_errors(driver) -> None:
    """No script error, refused resource or Content-Security-Policy violation in the console."""
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


def check_answer(driver, server: Server, expected: int | None, model: str = "mnist") -> dict:
    """The page shows what the server's `model` answers for the very image the page uploaded
    (and, unless `expected` is None, that answer is the digit drawn)."""
    answer = requests.post(f"{server.url}/predict/{model}?return_input=1",
                           files={"file": ("drawing.png", pad_png(driver), "image/png")},
                           timeout=30).json()
    prediction = answer["predictions"][0]
    probabilities = prediction["probabilities"]
    if expected is None:
        expected = prediction["label"]
    assert prediction["label"] == expected, (
        f"the model read {prediction['label']} for a drawn {expected} "
        f"(probabilities {np.round(probabilities, 3).tolist()})")

    # The big label.
    assert driver.find_element("id", "digit").text == str(expected)

    # Ten bars whose filled width is the probability of their digit, the winner marked.
    bars = shown_bars(driver)
    assert [b["digit"] for b in bars] == list(range(10))
    for bar, p in zip(bars, probabilities):
        assert bar["track"] > 50, "the bar chart has no room"
        assert abs(bar["fill"] / bar["track"] - p) < 0.02, (bar, p)
        assert bar["top"] == (bar["digit"] == expected)
        assert bar["pct"].endswith("%")
    assert bars[expected]["fill"] == max(b["fill"] for b in bars)

    # The preview is exactly the image the model saw (28x28 grey levels for MNIST, 8x8 counts
    # of 0-16 for the digits model, shown as grey levels).
    seen, given = seen_pixels(driver), np.array(prediction["input"])
    top = requests.get(f"{server.url}/models/{model}", timeout=30).json()["input"]["range"][1]
    assert seen.shape == given.shape
    assert (seen > 0).sum() > seen.size / 25, "the preview is blank"
    np.testing.assert_allclose(seen, given * (255 / top), atol=1)

    # Sure, or "Not sure" below the model's calibrated confidence threshold.
    threshold, confidence = answer["confidence_threshold"], prediction["confidence"]
    text = driver.find_element("id", "confidence").text
    assert text.startswith("Not sure") == (threshold is not None and confidence < threshold), (
        text, confidence, threshold)

    # The model's name and version.
    model_text = driver.find_element("id", "model-name").text
    assert answer["model_name"] in model_text and f"version {answer['model_version']}" in model_text
    return answer


# ---- the tests -------------------------------------------------------------------------------

VIEWPORTS = [
    pytest.param(PHONE, "touch", id="phone-touch"),
    pytest.param(DESKTOP, "mouse", id="desktop-mouse"),
    pytest.param(DESKTOP, "pen", id="desktop-pen"),
]


@pytest.mark.parametrize("viewport, pointer", VIEWPORTS)
@pytest.mark.parametrize("digit", [1, 0, 7])
def test_draw_a_digit_and_read_it(open_browser, server: Server, artifacts: Path,
                                  viewport: dict, pointer: str, digit: int) -> None:
    driver = open_browser(viewport)
    open_page(driver, server)
    assert driver.execute_script("return innerWidth") == viewport["width"]

    draw(driver, DIGITS[digit], pointer)
    # Lifting the pen already asked for a prediction; the button asks again, as a person might.
    click_predict_and_wait(driver)
    answer = check_answer(driver, server, digit)
    screenshot(driver, artifacts / f"{viewport['name']}-{pointer}-{digit}.png")
    assert_no_console_errors(driver)

    probability = answer["predictions"][0]["probabilities"][digit]
    print(f"{viewport['name']}/{pointer}: drew {digit}, read {digit} with p={probability:.3f}")


def test_another_model_reads_the_same_drawing(open_browser, server: Server, artifacts: Path) -> None:
    """Picking the 8x8 digits model re-reads the drawing with it: its answer, its 8x8 input, its
    name; picking MNIST again brings back the 28x28 reading."""
    from selenium.webdriver.support.ui import Select

    driver = open_browser(DESKTOP)
    open_page(driver, server)
    picker = Select(driver.find_element("id", "model"))
    assert [o.text for o in picker.options] == ["digits", "mnist"]
    assert picker.first_selected_option.text == "mnist"  # MODEL_NAME, the default
    draw(driver, DIGITS[0], "mouse")
    wait_until_answered(driver)

    picker.select_by_visible_text("digits")
    wait_until_answered(driver)
    answer = check_answer(driver, server, None, model="digits")
    assert answer["model_name"] == "digits"
    assert driver.find_element("id", "seen-size").text == "8×8"
    assert "8×8" in driver.find_element("id", "model-input").text
    screenshot(driver, artifacts / "desktop-digits-model.png")

    picker.select_by_visible_text("mnist")
    wait_until_answered(driver)
    check_answer(driver, server, 0)
    assert driver.find_element("id", "seen-size").text == "28×28"
    assert_no_console_errors(driver)


@contextmanager
def page_that_drew_a_1(open_browser, tmp_path: Path, model: Model, confidence_threshold: float):
    """A server of `model` alone, its page open on the desktop with a 1 drawn and read."""
    save_new_version(tmp_path / "models", "mnist", model,
                     {"calibration": {"confidence_threshold": confidence_threshold}},
                     recipe="mnist")
    with Server(tmp_path / "models", tmp_path / "server.log") as own_server:
        driver = open_browser(DESKTOP)
        open_page(driver, own_server)
        draw(driver, DIGITS[1], "mouse")
        click_predict_and_wait(driver)
        yield driver, own_server


def test_an_unsure_answer_says_so(open_browser, bundle, tmp_path: Path, artifacts: Path) -> None:
    """A model whose threshold no answer reaches (calibrated on data it reads badly, say): the
    page still shows its reading, dimmed, and says it is not sure."""
    with page_that_drew_a_1(open_browser, tmp_path, bundle.model, 1.01) as (driver, unsure_server):
        check_answer(driver, unsure_server, 1)
        assert driver.find_element("id", "confidence").text.startswith("Not sure: ")
        assert driver.find_element("id", "result").get_attribute("data-unsure") == "true"
        screenshot(driver, artifacts / "desktop-unsure.png")
        driver.find_element("id", "clear").click()
        assert driver.find_element("id", "result").get_attribute("data-unsure") is None
        assert_no_console_errors(driver)


def test_a_drawing_that_is_no_digit_is_called_so(open_browser, bundle, tmp_path: Path,
                                                 artifacts: Path) -> None:
    """A model whose digit threshold no drawing reaches: the page says it does not look like a
    digit, shows no digit and is not sure."""
    refusing = dataclasses.replace(bundle.model, digit_threshold=1e6)
    with page_that_drew_a_1(open_browser, tmp_path, refusing, 0.5) as (driver, _):
        assert driver.find_element("id", "confidence").text == "That does not look like a digit."
        assert driver.find_element("id", "digit").text == "?"
        result = driver.find_element("id", "result")
        assert result.get_attribute("data-digit") == "false"
        assert result.get_attribute("data-unsure") == "true"
        screenshot(driver, artifacts / "desktop-not-a-digit.png")
        assert_no_console_errors(driver)


def test_lifting_the_pen_predicts(open_browser, server: Server) -> None:
    driver = open_browser(DESKTOP)
    open_page(driver, server)
    assert driver.find_element("id", "auto").is_selected()
    draw(driver, DIGITS[7], "pen")
    wait_until_answered(driver)
    assert driver.find_element("id", "digit").text == "7"


def test_clear_resets_the_pad_and_the_answer(open_browser, server: Server) -> None:
    driver = open_browser(DESKTOP)
    open_page(driver, server)
    draw(driver, DIGITS[0], "mouse")
    click_predict_and_wait(driver)
    driver.find_element("id", "clear").click()

    assert driver.find_element("id", "digit").text == "?"
    assert all(b["fill"] == 0 for b in shown_bars(driver))
    assert (seen_pixels(driver) == 0).all()
    blank = np.asarray(Image.open(io.BytesIO(pad_png(driver))).convert("L"))
    assert (blank == 255).all(), "the pad is not white again"
    # Nothing drawn: the page says so itself rather than sending a blank image.
    driver.find_element("id", "predict").click()
    assert "Draw a digit first" in driver.find_element("id", "error").text


def test_an_image_file_is_read(open_browser, server: Server, mnist, tmp_path: Path,
                               artifacts: Path) -> None:
    """The file picker: an MNIST test digit, made black on white and large like a scan."""
    images, labels = mnist_test_digits(mnist, 1, seed=3)
    scan = drawn_digit(images[0], side=200, canvas=(200, 200), at=(0, 0))
    path = tmp_path / "digit.png"
    scan.save(path)

    driver = open_browser(PHONE)
    open_page(driver, server)
    driver.find_element("id", "file").send_keys(str(path))
    wait_until_answered(driver)
    assert driver.find_element("id", "digit").text == str(labels[0])
    assert (seen_pixels(driver) > 0).sum() > 30
    screenshot(driver, artifacts / "phone-file.png")


def test_an_image_dropped_on_the_pad_is_read(open_browser, server: Server, mnist) -> None:
    """Drag and drop: WebDriver cannot drag a file from the desktop, so the page gets the same
    events a real drop fires, carrying a real PNG file."""
    images, labels = mnist_test_digits(mnist, 1, seed=5)
    buffer = io.BytesIO()
    Image.fromarray(images[0]).resize((112, 112)).save(buffer, "PNG")  # white on black, as MNIST

    driver = open_browser(DESKTOP)
    open_page(driver, server)
    driver.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], 'digit.png', {type: 'image/png'}));
        const zone = document.getElementById('drop-zone');
        for (const type of ['dragenter', 'dragover', 'drop']) {
          zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
        }""", base64.b64encode(buffer.getvalue()).decode())
    wait_until_answered(driver)
    assert driver.find_element("id", "digit").text == str(labels[0])
    assert driver.find_element("id", "drop-hint").get_attribute("hidden") is not None
    assert_no_console_errors(driver)


def test_a_blank_image_shows_the_servers_error(open_browser, server: Server, tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(path)
    driver = open_browser(DESKTOP)
    open_page(driver, server)
    driver.find_element("id", "file").send_keys(str(path))
    wait_for(driver, lambda d: d.find_element("id", "result").get_attribute("data-state") == "error")
    assert "no ink" in driver.find_element("id", "error").text


def test_keyboard_and_accessible_names(open_browser, server: Server) -> None:
    """Every control is reached with Tab, has an accessible name and a visible focus ring."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver = open_browser(DESKTOP)
    open_page(driver, server)
    driver.find_element("tag name", "h1").click()   # start from the top of the page
    reached: dict[str, dict] = {}
    for _ in range(12):
        # Key presses, not send_keys: on a file input send_keys means "upload this path".
        ActionChains(driver).send_keys(Keys.TAB).perform()
        element = driver.switch_to.active_element
        key = element.get_attribute("id") or element.tag_name
        if key in reached:
            break
        reached[key] = {
            "name": element.accessible_name,
            "outline": driver.execute_script(
                "const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineWidth];",
                element),
        }
    for control in ("model", "predict", "clear", "auto", "file"):
        assert control in reached, f"#{control} is not reachable with Tab (reached {list(reached)})"
        assert reached[control]["name"].strip(), f"#{control} has no accessible name"
        style, width = reached[control]["outline"]
        assert style != "none" and width != "0px", f"#{control} shows no focus ring"

    # Buttons work from the keyboard: Enter on Predict with nothing drawn shows the hint.
    driver.execute_script("document.getElementById('predict').focus()")
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    assert "Draw a digit first" in driver.find_element("id", "error").text
    assert driver.switch_to.active_element.get_attribute("id") == "predict", "focus was lost"
    # The result is announced, and the canvases say what they are.
    assert driver.find_element("css selector", ".answer").get_attribute("aria-live") == "polite"
    for canvas in ("pad", "seen"):
        assert driver.find_element("id", canvas).accessible_name


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = map(channel, rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_text_contrast(open_browser, server: Server) -> None:
    """Text against its background is at least 4.5:1 (WCAG AA) wherever the page puts text."""
    driver = open_browser(DESKTOP)
    open_page(driver, server)
    draw(driver, DIGITS[1], "mouse")
    click_predict_and_wait(driver)
    pairs = driver.execute_script("""
        const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
        const background = (el) => {
          for (; el; el = el.parentElement) {
            const c = rgb(getComputedStyle(el).backgroundColor);
            if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
          }
          return [255, 255, 255];
        };
        const sel = 'h1, h2, h3, p, label, button, .bars li span.d, .bars .pct, figcaption';
        return [...document.querySelectorAll(sel)].filter((el) => el.textContent.trim())
          .map((el) => [el.tagName + '.' + el.className + '#' + el.id,
                        rgb(getComputedStyle(el).color).slice(0, 3), background(el)]);""")
    assert pairs
    for what, fg, bg in pairs:
        lighter, darker = sorted((_luminance(fg), _luminance(bg)), reverse=True)
        ratio = (lighter + 0.05) / (darker + 0.05)
        assert ratio >= 4.5, f"{what}: contrast {ratio:.2f}:1 ({fg} on {bg})"


def test_phone_layout_fits(open_browser, server: Server) -> None:
    """At 375 px nothing scrolls sideways, and the pad takes the width it can."""
    driver = open_browser(PHONE)
    open_page(driver, server)
    scroll_width, inner_width = driver.execute_script(
        "return [document.documentElement.scrollWidth, innerWidth]")
    assert scroll_width <= inner_width
    pad = driver.find_element("id", "pad")
    assert 300 <= pad.size["width"] <= inner_width
    assert abs(pad.size["width"] - pad.size["height"]) <= 1
    assert driver.execute_script("return getComputedStyle(arguments[0]).touchAction", pad) == "none"


# ---- whole numbers ---------------------------------------------------------------------------

def _number_strokes(digits: list[int]) -> list[list[tuple[float, float]]]:
    """The digits' strokes side by side on the wide pad, each in its own column of it."""
    strokes, width = [], 1.0 / (len(digits) + 1)
    for k, digit in enumerate(digits):
        left = width * (k + 0.5)
        strokes += [[(left + x * width, 0.1 + y * 0.8) for x, y in stroke] for stroke in DIGITS[digit]]
    return strokes


def draw_on(driver, element_id: str, strokes: list[list[tuple[float, float]]], kind: str) -> None:
    """`draw`, on another canvas of the page."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    pad = driver.find_element("id", element_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    size = pad.size
    actions = ActionBuilder(driver, mouse=PointerInput(kind, f"{kind}-1"), duration=5)
    for stroke in strokes:
        for i, (x, y) in enumerate(_densify(stroke, 0.01)):
            actions.pointer_action.move_to(pad, round((x - 0.5) * size["width"]),
                                           round((y - 0.5) * size["height"]))
            if i == 0:
                actions.pointer_action.pointer_down()
        actions.pointer_action.pointer_up()
    actions.perform()


def wait_for_number(driver) -> dict:
    state = wait_for(driver, lambda d: d.execute_script(
        "const s = document.getElementById('number'); return s.dataset.state !== 'busy' && "
        "s.dataset.seq !== '0' && s.dataset.state;"))
    assert state == "done", driver.find_element("id", "number-error").text
    return state


def box_pixels(driver) -> np.ndarray:
    """Where the page drew boxes over the wide pad: the overlay canvas's alpha."""
    width, height, rgba = driver.execute_script("""
        const c = document.getElementById('number-boxes');
        const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return [c.width, c.height, Array.from(pixels)];""")
    return np.array(rgba, dtype=np.uint8).reshape(height, width, 4)[..., 3]


@pytest.mark.parametrize("viewport, pointer", [pytest.param(DESKTOP, "mouse", id="desktop-mouse"),
                                               pytest.param(PHONE, "touch", id="phone-touch")])
def test_write_a_number_and_read_it(open_browser, server: Server, artifacts: Path,
                                    viewport: dict, pointer: str) -> None:
    driver = open_browser(viewport)
    open_page(driver, server)
    draw_on(driver, "number-pad", _number_strokes([1, 0, 7]), pointer)
    driver.find_element("id", "read").click()
    wait_for_number(driver)
    png = base64.b64decode(driver.execute_script(
        "return document.getElementById('number-pad').toDataURL('image/png')").split(",", 1)[1])
    answer = requests.post(f"{server.url}/read/mnist", data=png, headers={"Content-Type": "image/png"},
                           timeout=30).json()["readings"][0]
    assert driver.find_element("id", "number-text").text == answer["text"] == "107"
    shown = [li.text for li in driver.find_elements("css selector", "#number-digits li")]
    assert [s.split(":")[0] for s in shown] == list(answer["text"])
    # A box is drawn over each digit's ink: the overlay is painted at each box's edges.
    painted = box_pixels(driver)
    for digit in answer["digits"]:
        box = digit["box"]
        assert painted[box["y"]:box["y"] + box["height"], box["x"]].any()
        assert painted[box["y"] + box["height"] // 2, box["x"]:box["x"] + box["width"]].any()
    screenshot(driver, artifacts / f"{viewport['name']}-{pointer}-number.png")
    assert_no_console_errors(driver)


def test_an_uploaded_number_is_read_with_its_boxes(open_browser, server: Server, mnist, tmp_path: Path,
                                                   artifacts: Path) -> None:
    from harness.images import encode
    from harness.numbers import compose

    digits, labels = mnist_test_digits(mnist, 3, seed=61)
    image, _ = compose(digits, np.random.default_rng(61), gaps=(0.3, 0.45))
    path = tmp_path / "number.png"
    path.write_bytes(encode(image))
    driver = open_browser(DESKTOP)
    open_page(driver, server)
    driver.find_element("id", "number-file").send_keys(str(path))
    wait_for_number(driver)
    answer = requests.post(f"{server.url}/read/mnist", data=path.read_bytes(),
                           headers={"Content-Type": "image/png"}, timeout=30).json()["readings"][0]
    assert driver.find_element("id", "number-text").text == answer["text"]
    assert len(driver.find_elements("css selector", "#number-digits li")) == len(answer["digits"])
    assert box_pixels(driver).any()
    screenshot(driver, artifacts / "desktop-number-upload.png")
    assert_no_console_errors(driver)
