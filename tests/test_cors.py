"""CORS on `zoo serve`'s REST port: a web page on another origin may call it when that origin is
allowed (--rest-cors-origin, or any with TF Serving's --rest_api_enable_cors_support).

The preflights and headers are checked as a browser sends them, and then by a browser: Debian's
headless Chromium (Selenium and chromium-driver, as tests/test_playground.py drives it) opens a page
served by a small http.server on another port, whose fetch() POSTs a prediction to the server.
"""

import contextlib
import functools
import http.server
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import run_zoo
from helpers import FIRST_MODEL, Server, assert_one_line_error, free_port, running

from zoo.serving import cors
from zoo.serving.core.errors import ServerError

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ALLOWED_PORT, OTHER_PORT = free_port(), free_port()  # where the test's pages are served
ALLOWED = f"http://127.0.0.1:{ALLOWED_PORT}"
OTHER = f"http://127.0.0.1:{OTHER_PORT}"
PREDICT = f"/v1/models/{FIRST_MODEL}:predict"
# The page's script: POST one blank digit as JSON (which a browser preflights), then say how it went.
PAGE = """<!doctype html><title>another origin</title><script>
const digit = Array.from({length: 28}, () => Array.from({length: 28}, () => [0]));
fetch(URL, {method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({instances: [digit]})})
  .then(answer => answer.json())
  .then(body => "classes " + JSON.stringify(body.predictions.map(p => p.classes)),
        error => "refused: " + error)
  .then(outcome => { window.outcome = outcome; });
</script>"""


def ask(server: Server, path: str, method: str = "GET", **headers: str):
    """(status, headers) of a request with `headers` (underscores for dashes), a refusal included."""
    request = urllib.request.Request(
        server.url + path,
        method=method,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers
    except urllib.error.HTTPError as refusal:
        return refusal.code, refusal.headers


def preflight(server: Server, origin: str):
    return ask(
        server,
        PREDICT,
        "OPTIONS",
        Origin=origin,
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="content-type",
    )


@pytest.fixture(scope="module")
def cors_server(cnn_mnist_root):
    options = ("--rest-cors-origin", ALLOWED, "--rest-cors-origin", "https://app.example.com")
    with running(Server(cnn_mnist_root, *options, "--no-ui")) as server:
        yield server


def test_a_preflight_from_an_allowed_origin_is_answered(cors_server):
    status, headers = preflight(cors_server, ALLOWED)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"].lower() == "content-type"
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert headers["Vary"] == "Origin"
    assert f"CORS: {ALLOWED}, https://app.example.com" in cors_server.log.read_text()


def test_a_preflight_from_another_origin_is_refused(cors_server):
    status, headers = preflight(cors_server, OTHER)
    assert status == 403
    assert "Access-Control-Allow-Origin" not in headers


def test_every_answer_to_an_allowed_origin_names_it_errors_included(cors_server):
    for path, expected in ((f"/v1/models/{FIRST_MODEL}", 200), ("/v1/models/nope", 404)):
        status, headers = ask(cors_server, path, Origin=ALLOWED)
        assert status == expected
        assert headers["Access-Control-Allow-Origin"] == ALLOWED
        assert headers["Vary"] == "Origin"
        status, headers = ask(cors_server, path, Origin=OTHER)
        assert status == expected and "Access-Control-Allow-Origin" not in headers
    assert "Access-Control-Allow-Origin" not in ask(cors_server, "/v2/health/ready")[1]


@pytest.mark.parametrize("flag", ["--rest_api_enable_cors_support", "--rest-cors-origin=*"])
def test_tf_servings_flag_allows_any_origin(flag, cnn_mnist_root, tmp_path):
    (tmp_path / "models").symlink_to(cnn_mnist_root / "models")
    with running(Server(tmp_path, flag, "--no-ui")) as server:
        status, headers = preflight(server, OTHER)
        assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"
        assert ask(server, "/v1/models/nope", Origin=OTHER)[1]["Access-Control-Allow-Origin"] == "*"
        assert "CORS: any origin" in server.log.read_text()


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://App.Example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:80", "http://[::1]"),
    ],
)
def test_origins_are_written_as_browsers_send_them(given, origin):
    assert cors.origins([given]) == (origin,)


def test_no_cors_unless_asked_and_any_origin_wins():
    assert cors.origins([]) == ()
    assert cors.origins([], any_origin=False) == ()
    assert cors.origins(["https://a.example"], any_origin=True) == (cors.ANY,)
    assert cors.origins(["https://a.example", "*"]) == (cors.ANY,)


@pytest.mark.parametrize(
    "given", ["app.example.com", "https://app.example.com/page", "https://x.example:99999", "null"]
)
def test_what_is_not_an_origin_is_refused(given):
    with pytest.raises(ServerError, match="an origin is SCHEME://HOST"):
        cors.origins([given])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--rest-cors-origin", "https://app.example.com/page"], "--rest-cors-origin"),
        (["--rest_api_enable_cors_support=maybe"], "--rest_api_enable_cors_support"),
    ],
)
def test_bad_cors_flags_are_one_error_line(args, fragment, cnn_mnist_root):
    model_dir = str(cnn_mnist_root / "models")
    assert_one_line_error(run_zoo("serve", "--model-dir", model_dir, *args), fragment)


class PageHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # the test's output is not its log
        pass


@contextlib.contextmanager
def page_server(folder: Path, port: int):
    """A static web server for `folder` on 127.0.0.1:`port`, another origin than zoo serve's."""
    handler = functools.partial(PageHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as pages:
        thread = threading.Thread(target=pages.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            pages.shutdown()


@pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; .ci/run installs them)",
)
def test_a_page_on_another_origin_calls_the_server_in_chromium(cors_server, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    (tmp_path / "index.html").write_text(PAGE.replace("URL", repr(cors_server.url + PREDICT)))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    outcomes = {}
    try:
        with page_server(tmp_path, ALLOWED_PORT), page_server(tmp_path, OTHER_PORT):
            for origin in (ALLOWED, OTHER):
                driver.get(f"{origin}/index.html")
                outcomes[origin] = WebDriverWait(driver, 30).until(
                    lambda d: d.execute_script("return window.outcome")
                )
    finally:
        driver.quit()
    assert outcomes[ALLOWED].startswith("classes [")
    assert outcomes[OTHER].startswith("refused: TypeError"), outcomes[OTHER]
