"""The results page in a real browser, and Snakemake's own report, after one tiny DAG run.

The session's local Snakemake run of the whole DAG on tiny params (``local_run``, conftest.py)
serves every test here:
headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by selenium) opens
``outputs/report/index.html`` from ``file://`` and checks what a user would see.
"""

from __future__ import annotations

import shutil
import zipfile

import pytest

from tests.dag.dag_tools import BIN, run
from tests.dag.test_smoke import TINY

pytestmark = pytest.mark.slow

N_AUDIO = TINY["sample"]["n_audio"]  # audio files per set
N_TABLE1, N_TABLE2 = 12, 6  # rows: Table 1 models (3 of them shipped), Table 2 models
N_SETS = 16  # the training data and 15 sample sets (3 of the shipped models)
N_CURVES = 9 + 2  # this run's trainings, and the two shipped models' curves


@pytest.fixture(scope="module")
def tiny_run(local_run):
    return local_run


@pytest.fixture(scope="module")
def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail(
            "chromium and chromium-driver are missing: apt-get install chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--allow-file-access-from-files",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1300,2000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    yield driver
    driver.quit()


WAIT_FOR_MEDIA = """
const done = arguments[arguments.length - 1];
const audios = Array.from(document.querySelectorAll('audio'));
// preload="auto" loads every player by itself, as for a user; calling load() again here would
// restart players still loading, and Chromium then asks for a byte range past the end of a small
// file (ERR_REQUEST_RANGE_NOT_SATISFIABLE), an error of the test, not of the page.
const loaded = a => new Promise(resolve => {
  if (a.readyState >= 1 || a.error) { resolve(); return; }
  a.addEventListener('loadedmetadata', () => resolve(), {once: true});
  a.addEventListener('error', () => resolve(), {once: true});
});
Promise.all(audios.map(loaded))
  .then(() => done(audios.map(a => [a.src, a.duration, a.error && a.error.code])));
"""


def test_page_in_headless_chromium(tiny_run, browser, tmp_path):
    index = tiny_run / "outputs/report/index.html"
    browser.set_script_timeout(60)
    browser.get(index.as_uri())
    media = browser.execute_async_script(WAIT_FOR_MEDIA)
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]);"
    )
    rows = {
        name: browser.execute_script(
            f"return document.querySelectorAll('table.{name} tbody tr').length;"
        )
        for name in ("table1", "table2")
    }
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert not errors, errors
    assert len(images) == N_SETS + N_CURVES, images  # a grid per set, a curve plot per run
    assert all(width > 0 for _, _, width in images), images
    assert len(media) == N_SETS * N_AUDIO
    assert all(duration > 0 and not code for _, duration, code in media), media
    assert rows == {"table1": 2 * N_TABLE1, "table2": 2 * N_TABLE2}  # both metric modes
    assert (tmp_path / "report.png").stat().st_size > 10_000
    html = index.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_page_shows_the_tables_numbers(tiny_run):
    html = (tiny_run / "outputs/report/index.html").read_text()
    md = (tiny_run / "outputs/tables/table1.md").read_text()
    training_row = next(line for line in md.splitlines() if line.startswith("| training data"))
    for cell in training_row.strip("|").split("|")[1:4]:
        assert cell.strip() in html
    assert html.index('id="set-training_data"') < html.index('id="set-pretrain_proposed_bs"')


def test_page_says_which_rows_are_demos_and_which_are_trained(tiny_run):
    html = (tiny_run / "outputs/report/index.html").read_text()
    rows = html[html.index('id="rows"') : html.index("<h2>Tables</h2>")]
    assert "Untrained demos" in rows and "joint (DBN)" in rows  # this run's tiny trainings
    assert "Trained models" in rows and "proposed (DBN), CPU-scale" in rows  # the shipped ones
    assert "shipped CPU-scale model: width 1/4" in html  # the trained column of their rows
    assert html.count("Scale of this run") == 1  # said once, not in every table's caption


def test_snakemake_report_builds(tiny_run):
    run([str(BIN / "snakemake"), "--cores", "1", "--report", "report.zip"], tiny_run)
    archive = zipfile.ZipFile(tiny_run / "report.zip")
    names = archive.namelist()
    assert any(n.endswith("grid.png") for n in names)
    assert any(n.endswith(".flac") for n in names)
    # Snakemake stores each marked file as data/raw/<hash>/<name>: find the page by its bytes.
    page = (tiny_run / "outputs/report/index.html").read_bytes()
    assert any(archive.read(n) == page for n in names if n.endswith("index.html"))
