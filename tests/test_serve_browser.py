"""The page of ``howard serve`` in a real headless Chromium (Playwright), against a real server
(``python -m howard serve`` on a free 127.0.0.1 port): an upload mattes the bundled sample to
the end; a text file and an upload over the limit are refused on the page; a running job is
cancelled.

Set ``HOWARD_SERVE_SCREENSHOTS=FOLDER`` to keep the screenshots taken mid-run and at the end
(the README's picture is the latter, as JPEG).
"""

import json
import os
import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the web extra: pip install -e '.[web]'")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="needs Playwright: pip install -e '.[test]'")

from serve_helpers import DATA, rgba_frames_of_zip, running_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"needs Chromium at {CHROMIUM}: apt-get install -y chromium (as root)")
# cheaper than the defaults, still the whole pipeline: fewer plate frames tried, fewer refined
CHEAP = "--window 1 --sample-pixels 4000"
SHOTS = os.environ.get("HOWARD_SERVE_SCREENSHOTS")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("serve") / "data"
    with running_server(data) as url:
        yield url, data


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    url, _ = server
    context = browser.new_context(viewport={"width": 1000, "height": 900}, accept_downloads=True)
    page = context.new_page()
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(url)
    page.wait_for_selector("#no-jobs, #job-list tr", state="attached")
    yield page
    context.close()
    elsewhere = [u for u in asked if not u.startswith(url + "/")]
    assert not elsewhere, f"the page asked for something not on the server: {elsewhere}"


def _start(page, subject, plate, options=CHEAP):
    page.set_input_files("#subject", str(subject))
    page.set_input_files("#plate", str(plate))
    page.click("summary")
    page.fill("#options", options)
    page.click("#start")


def _progress(page) -> int:
    return page.eval_on_selector("#progress", "e => e.value")


def _shot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True, type="jpeg", quality=80)


def test_text_file_is_refused_on_the_page(page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("a shopping list, not a video\n")
    _start(page, notes, DATA / "plate.mp4")
    error = page.wait_for_selector("#form-error:not([hidden])")
    assert error.text_content().startswith("subject: 'notes.txt' is not a video or image")
    assert page.is_hidden("#job")
    assert page.is_visible("#no-jobs")


def test_upload_over_the_limit_is_refused_on_the_page(browser, tmp_path):
    with running_server(tmp_path / "data", "--max-upload-mb", "1") as url:
        page = browser.new_page()
        try:
            page.goto(url)
            _start(page, DATA / "subject.mp4", DATA / "plate.mp4")  # 1.1 MB together
            error = page.wait_for_selector("#form-error:not([hidden])")
            assert error.text_content().startswith("the upload is over this server's limit "
                                                   "of 1 MB for one job")
        finally:
            page.close()


def test_cancel_a_running_job(page, server):
    _, data = server
    _start(page, DATA / "subject.mp4", DATA / "plate.mp4")
    page.wait_for_function("document.getElementById('progress').value > 0", timeout=120_000)
    assert page.text_content("#job-state") == "running" and page.is_visible("#cancel")
    job_id = page.get_attribute("#job-list tr", "data-id")
    pid = json.loads((data / "jobs" / job_id / "job.json").read_text())["pid"]
    page.click("#cancel")
    page.wait_for_function("document.getElementById('job-state').textContent === 'cancelled'")
    assert page.is_hidden("#cancel") and page.query_selector_all("#downloads a") == []
    page.wait_for_selector(f"#job-list tr[data-id='{job_id}'] .state.cancelled")
    assert [p.name for p in (data / "jobs" / job_id).iterdir()] == ["job.json"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the worker process is gone
    page.click(f"#job-list tr[data-id='{job_id}'] button")  # Remove
    page.wait_for_selector(f"#job-list tr[data-id='{job_id}']", state="detached")
    assert not (data / "jobs" / job_id).exists()


@pytest.mark.slow
def test_matte_the_sample_to_a_zip(page, tmp_path):
    page.check("input[name=bg][value=colour]")
    page.fill("#colour", "#2a6fdb")
    assert page.is_checked("input[name=out][value=zip]")
    page.check("input[name=out][value=mov]")
    _start(page, DATA / "subject.mp4", DATA / "plate.mp4")

    page.wait_for_function("document.getElementById('progress').value > 0", timeout=120_000)
    first = _progress(page)
    page.wait_for_function(f"document.getElementById('progress').value > {first}")
    page.wait_for_function("(() => { const i = document.getElementById('preview');"
                           " return i.complete && i.naturalWidth > 0; })()")
    assert page.eval_on_selector("#preview", "i => [i.naturalWidth, i.naturalHeight]") == \
        [960, 540]
    text = page.text_content("#progress-text")
    assert re.fullmatch(r"\d+ / 72 frames · [\d.]+ frames/s · \d+:\d\d left", text), text
    _shot(page, "serve-running.jpg")

    link = page.wait_for_selector("#downloads a[data-kind=zip]", timeout=400_000)
    assert page.text_content("#job-state") == "done"
    assert page.query_selector("#downloads a[data-kind=mov]") is not None
    assert _progress(page) == 100
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "subject-rgba.zip"
    saved = tmp_path / "rgba.zip"
    download.value.save_as(saved)
    frames = rgba_frames_of_zip(saved.read_bytes())
    assert sorted(frames) == [f"rgba/{i:05d}.png" for i in range(72)]
    assert all(f.shape == (540, 960, 4) for f in frames.values())
    page.wait_for_selector("#job-list .state.done")
    _shot(page, "serve.jpg")
