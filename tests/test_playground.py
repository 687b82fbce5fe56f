"""The playground in a real browser: Debian's headless Chromium, driven by Selenium through
chromium-driver, on the page of a real `zoo serve` of pretrained exports.

What the page shows is checked against what the server itself answers: the test reads the
requests the page sent from its `curl` panel, sends the same bodies with urllib, and compares.
A screenshot of each test is left in pytest's temporary folder, and in the folder
ZOO_PLAYGROUND_SCREENSHOTS when it is set: docs/images/playground.png is its first-screen.png.
"""

import base64
import contextlib
import json
import os
import shlex
import shutil
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from helpers import Server, http, running, wait_for
from PIL import Image

from zoo import data, publish
from zoo.export import export_run

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; .ci/run installs them)",
)
MODELS = (
    "cnn-mnist",
    "mlp-mnist",
    "cnn-cifar10",
    "gan-mnist",
    "softmax-classification",
    "diabetes",
)
DIGITS = ("cnn-mnist", "mlp-mnist")
SECONDS = 30  # the longest the page may take to show an answer
SEVEN = [(20, 0)] * 6 + [(-8, 20)] * 9  # pointer moves, in CSS pixels: a bar, then a slanted stroke
FIRST_SCREEN = (1280, 800)  # a laptop's browser window, in CSS pixels
# Words of the API's details: routes, protocols, tensor types. None belongs above the drawing pad.
API_WORDS = ("/v1/", "/v2/", "curl", "Triton", "TF Serving", "KServe", ":predict", "FP32", "[-1")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("playground")
    for name in MODELS:
        run = publish.pretrained_run(name, root / "runs")
        export_run(run, formats=("onnx",), model_dir=root / "models", samples=4)
    with running(Server(root, log="playground.log"), model=MODELS[0]) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1200,2400")
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def wait(browser, script: str, *args):
    """The value of `script` once it is truthy, failing after SECONDS."""
    deadline = time.monotonic() + SECONDS
    while not (value := browser.execute_script(script, *args)):
        assert time.monotonic() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.05)
    return value


@contextlib.contextmanager
def viewport(browser, width: int, height: int):
    """The page laid out in a window of width x height CSS pixels, as a person's browser shows it."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        yield
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def open_page(browser, server: Server, query: str = "") -> None:
    browser.get(f"{server.url}/{query}")
    wait(
        browser,
        "return document.body.dataset.ready === 'true' || "
        "!document.getElementById('models-error').hidden",
    )


def sent(browser) -> list[tuple[str, str]]:
    """(path, body) of each request in the page's curl panel."""
    requests = []
    for command in browser.execute_script(
        "return document.getElementById('curl').textContent"
    ).split("\n\n"):
        words = shlex.split(command)
        url = next(w for w in words if w.startswith("http"))
        body = words[words.index("-d") + 1] if "-d" in words else ""
        requests.append((urllib.parse.urlsplit(url).path, body))
    return requests


def screenshot(browser, tmp_path, name: str) -> None:
    for folder in (tmp_path, os.environ.get("ZOO_PLAYGROUND_SCREENSHOTS")):
        if folder:
            browser.save_screenshot(str(Path(folder) / f"{name}.png"))


def shown_scores(browser, section: str) -> dict[str, list[tuple[str, float]]]:
    """Each panel's bars in `section`: model -> [(label, score)] as the page shows them."""
    panels = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' .panel')].map(p => "
        "[p.dataset.model, [...p.querySelectorAll('.bar')].map(b => [b.dataset.label, b.dataset.score])])",
        section,
    )
    return {model: [(label, float(score)) for label, score in rows] for model, rows in panels}


def placeholders(browser, section: str) -> dict[str, tuple[str, list[str]]]:
    """Each panel's placeholder in `section`: model -> (its line, the labels of its faint rows)."""
    panels = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' .panel')].map(p => {"
        "  const w = p.querySelector('.placeholder');"
        "  return [p.dataset.model, w && [w.querySelector('p').textContent,"
        "    [...w.querySelectorAll('.ghost .label')].map(l => l.textContent)]]})",
        section,
    )
    return {model: shown and (shown[0], shown[1]) for model, shown in panels}


def hint_shown(browser) -> bool:
    return browser.execute_script("return !document.getElementById('pad-hint').hidden")


def draw_seven(browser) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    chain = ActionChains(browser)
    chain.move_to_element_with_offset(browser.find_element(By.ID, "pad"), -60, -90)
    chain.click_and_hold()
    for dx, dy in SEVEN:
        chain.move_by_offset(dx, dy)
    chain.release().perform()


def test_a_drawn_digit_gets_each_classifier_s_own_answer_as_bars(browser, served, tmp_path):
    open_page(browser, served)
    draw_seven(browser)
    wait(
        browser,
        "const panels = [...document.querySelectorAll('#digit-answers .panel')];"
        "return panels.length === arguments[0] && panels.every(p => "
        "!p.classList.contains('pending') && p.querySelectorAll('.bar').length === 10)",
        len(DIGITS),
    )
    shown = shown_scores(browser, "#digit-answers")
    requests = dict(sent(browser))
    assert set(shown) == set(DIGITS)
    for model in DIGITS:
        path = f"/v1/models/{model}:predict"
        body = requests[path]
        pixels = np.array(json.loads(body)["instances"])
        assert pixels.shape == (1, 28, 28, 1) and pixels.min() >= 0 and pixels.max() == 255
        assert (pixels > 0).sum() > 40  # a stroke, not a dot
        status, answer = http(served.url + path, body)
        assert status == 200, answer
        expected = answer["predictions"][0]["probabilities"]
        labels, scores = zip(*shown[model], strict=True)
        assert labels == tuple(str(d) for d in range(10))
        np.testing.assert_allclose(scores, expected, rtol=1e-6)
        assert int(np.argmax(scores)) == 7, f"{model} read the drawn 7 as {np.argmax(scores)}"
    screenshot(browser, tmp_path, "digit")

    assert not hint_shown(browser)
    assert placeholders(browser, "#digit-answers") == {model: None for model in DIGITS}

    browser.find_element("id", "clear").click()
    assert shown_scores(browser, "#digit-answers") == {model: [] for model in DIGITS}
    assert hint_shown(browser)
    assert all(placeholders(browser, "#digit-answers").values())  # back to what was there first


def test_the_gan_grid_is_the_served_generator_s_images(browser, served, tmp_path):
    open_page(browser, served)
    wait(
        browser,
        "return document.querySelector('#generator-panels .grid').dataset.state === 'drawn'",
    )
    path = "/v1/models/gan-mnist:predict"
    grid_body, walk_body = (body for p, body in sent(browser) if p == path)
    zs = np.array(json.loads(grid_body)["instances"])
    assert zs.shape == (16, 100) and 0.5 < zs.std() < 1.5  # normal noise, not zeros
    status, answer = http(served.url + path, grid_body)
    assert status == 200, answer
    images = np.array(answer["predictions"])[..., 0]  # one output: each row is the image
    expected = np.round(np.clip(images, 0, 1) * 255)
    rgba = browser.execute_script(
        "const c = document.querySelector('#generator-panels .grid');"
        "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
    )
    grid = np.array(rgba, dtype=float).reshape(4 * 28, 4 * 28, 4)[..., 0]
    cells = grid.reshape(4, 28, 4, 28).transpose(0, 2, 1, 3).reshape(16, 28, 28)
    np.testing.assert_allclose(cells, expected, atol=1)
    assert json.loads(walk_body)["instances"] == [
        zs[0].tolist()
    ]  # the slider starts at the first z
    screenshot(browser, tmp_path, "gan")


def test_a_photo_gets_the_top_5_of_the_server_s_classify(browser, served, tmp_path):
    images, _ = data.load("cifar10", "test")
    photo = tmp_path / "photo.png"
    Image.fromarray(images[0]).save(photo)
    open_page(browser, served)
    browser.find_element("id", "photo").send_keys(str(photo))
    wait(browser, "return document.querySelectorAll('#photo-answers .bar').length === 5")
    ((path, body),) = sent(browser)
    assert path == "/v1/models/cnn-cifar10:classify"
    request = json.loads(body)
    assert request["signature_name"] == "serving_image"  # the file itself, decoded by the server
    (example,) = request["examples"]
    assert base64.b64decode(example["image_bytes"]["b64"]) == photo.read_bytes()
    status, answer = http(served.url + path, body)
    assert status == 200, answer
    top5 = sorted(answer["results"][0], key=lambda pair: -pair[1])[:5]
    shown = shown_scores(browser, "#photo-answers")["cnn-cifar10"]
    assert [label for label, _ in shown] == [label for label, _ in top5]
    np.testing.assert_allclose([s for _, s in shown], [s for _, s in top5], rtol=1e-6)


def test_a_file_that_is_no_image_shows_the_server_s_refusal(browser, served, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("a shopping list, not a photo")
    open_page(browser, served)
    browser.find_element("id", "photo").send_keys(str(notes))
    error = wait(
        browser,
        "const e = document.querySelector('#photo-answers .error'); return !e.hidden && e.textContent",
    )
    ((path, body),) = sent(browser)
    status, answer = http(served.url + path, body)
    assert status == 400 and error == answer["error"]
    assert "no image" in error


def test_an_unknown_model_in_the_address_shows_the_server_s_error(browser, served):
    open_page(browser, served, "?model=no-such-model")
    status, answer = http(served.url + "/v1/models/no-such-model")
    assert status == 404
    error = browser.execute_script("return document.getElementById('models-error').textContent")
    assert error == f"no-such-model: {answer['error']}"
    hidden = browser.execute_script(
        "return ['digits', 'photos', 'generators', 'tables'].map(id => document.getElementById(id).hidden)"
    )
    assert hidden == [True, True, True, True]


def test_a_table_model_s_form_answers_with_its_labels(browser, served):
    """softmax-classification's slide example, [1, 11, 7, 9], is class B."""
    from selenium.webdriver.common.by import By

    open_page(browser, served)
    form = browser.find_element(
        By.CSS_SELECTOR, '#table-panels [data-model="softmax-classification"]'
    )
    for field, value in zip(form.find_elements(By.TAG_NAME, "input"), (1, 11, 7, 9), strict=True):
        field.clear()
        field.send_keys(str(value))
    form.find_element(By.TAG_NAME, "button").click()
    wait(browser, "return arguments[0].querySelector('.result')", form)
    ((path, body),) = sent(browser)
    assert json.loads(body) == {"examples": [{"features": [1, 11, 7, 9]}]}
    status, answer = http(served.url + path, body)
    assert status == 200, answer
    assert form.find_element(By.CLASS_NAME, "result").text == "→ B"
    shown = shown_scores(browser, "#table-panels")["softmax-classification"]
    assert shown == [
        (label, pytest.approx(score, rel=1e-6)) for label, score in answer["results"][0]
    ]


def test_the_first_screen_is_the_pad_with_its_hint_and_no_api_text(browser, served, tmp_path):
    """A person opens the page to draw: the pad, black with a hint inside it, is whole on the first
    screen of a laptop's window, and nothing above it speaks of routes, protocols or tensors."""
    with viewport(browser, *FIRST_SCREEN):
        open_page(browser, served)
        screen = browser.execute_script(
            "const box = (e) => { const r = e.getBoundingClientRect();"
            "  return [r.left, r.top, r.right, r.bottom] };"
            "const pad = document.getElementById('pad'), hint = document.getElementById('pad-hint');"
            "const bottom = pad.getBoundingClientRect().bottom, above = [];"
            "const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);"
            "for (let node; (node = walk.nextNode());) {"
            "  const range = document.createRange(); range.selectNodeContents(node);"
            "  const r = range.getBoundingClientRect();"
            "  if (r.height > 0 && r.top < bottom && node.textContent.trim())"
            "    above.push(node.textContent.trim()) }"
            "const ink = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;"
            "return {window: [innerWidth, innerHeight], pad: box(pad), hint: box(hint),"
            "  hintText: hint.hidden ? null : hint.textContent, above: above,"
            "  black: ink.every((v, i) => i % 4 === 3 || v === 0)}",
        )
        screenshot(browser, tmp_path, "first-screen")
    assert screen["window"] == list(FIRST_SCREEN)
    left, top, right, bottom = screen["pad"]
    assert 0 <= left < right <= FIRST_SCREEN[0] and 0 <= top < bottom <= FIRST_SCREEN[1]
    assert screen["black"]  # an empty pad is black, as MNIST's background
    assert screen["hintText"] == "draw a digit here"
    hint_left, hint_top, hint_right, hint_bottom = screen["hint"]
    assert left <= hint_left < hint_right <= right and top <= hint_top < hint_bottom <= bottom
    text = " ".join(screen["above"])
    assert "Draw a digit" in text
    assert not [word for word in API_WORDS if word in text], text


def test_the_answer_cards_say_what_will_show_before_anything_is_sent(browser, served):
    """Not empty boxes: each card says what to do and where its answer will be, with a faint row
    for each of a digit classifier's ten classes (its output's width, from the metadata)."""
    open_page(browser, served)
    digits = placeholders(browser, "#digit-answers")
    assert set(digits) == set(DIGITS)
    for model, (line, rows) in digits.items():
        assert line.startswith("Draw a digit") and model in line
        assert rows == [str(d) for d in range(10)]
    ((photo_line, photo_rows),) = placeholders(browser, "#photo-answers").values()
    assert photo_line.startswith("Choose a photo") and len(photo_rows) == 5
    for line, rows in placeholders(browser, "#table-panels").values():
        assert line.startswith("Press Classify") and rows == []
    for section in ("#digit-answers", "#photo-answers", "#table-panels"):
        assert all(bars == [] for bars in shown_scores(browser, section).values())
    assert hint_shown(browser)


def test_a_table_s_form_names_the_features_its_data_has(browser, served):
    """diabetes's columns are named by its data (zoo.data.FEATURES); the export writes them into
    Triton's model configuration, and the page reads them from GET /v2/models/NAME/config. The
    softmax slide's table has no names, so its fields are numbered."""
    from selenium.webdriver.common.by import By

    names = list(data.FEATURES["diabetes"])
    status, config = http(served.url + "/v2/models/diabetes/config")
    assert status == 200, config
    assert json.loads(config["parameters"]["feature_names"]["string_value"]) == names
    zoo_json = json.loads((served.model_dir / "diabetes" / "1" / "zoo.json").read_text())
    assert zoo_json["feature_names"] == names
    open_page(browser, served)
    labels = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#table-panels .panel')].map(p =>"
        "  [p.dataset.model, [...p.querySelectorAll('label')].map(l => l.textContent)]))"
    )
    assert labels == {
        "diabetes": names,
        "softmax-classification": [f"feature {i}" for i in range(1, 5)],
    }
    # Each name labels its own column: the value typed under "glucose" is sent second.
    form = browser.find_element(By.CSS_SELECTOR, '#table-panels [data-model="diabetes"]')
    glucose = form.find_elements(By.TAG_NAME, "input")[names.index("glucose")]
    glucose.clear()
    glucose.send_keys("0.5")
    form.find_element(By.TAG_NAME, "button").click()
    wait(browser, "return arguments[0].querySelector('.result')", form)
    ((path, body),) = sent(browser)
    assert path == "/v1/models/diabetes:classify"
    assert json.loads(body)["examples"][0]["features"] == [0, 0.5, 0, 0, 0, 0, 0, 0]


def test_a_refusal_replaces_the_answer_with_the_server_s_words(browser, served):
    """Last in this module: it removes a served model. A model that goes away while the page is
    open answers the next drawing with the server's 404, shown as worded, and no bars are left."""
    open_page(browser, served)
    draw_seven(browser)
    wait(browser, "return document.querySelectorAll('#digit-answers .bar').length === 20")
    shutil.rmtree(served.model_dir / "mlp-mnist")
    wait_for(served, "/v1/models/mlp-mnist", 404)
    draw_seven(browser)  # a second stroke over the first: a new drawing to answer
    shown = wait(
        browser,
        "const p = document.querySelector('#digit-answers [data-model=\"mlp-mnist\"] .error');"
        "return !p.hidden && p.textContent",
    )
    body = dict(sent(browser))["/v1/models/mlp-mnist:predict"]
    status, answer = http(served.url + "/v1/models/mlp-mnist:predict", body)
    assert status == 404 and shown == answer["error"]
    wait(browser, "return !document.querySelector('#digit-answers .pending')")
    scores = shown_scores(browser, "#digit-answers")
    assert scores["mlp-mnist"] == [] and len(scores["cnn-mnist"]) == 10
