"""The HTML report: built from a run directory's artefacts, checked in a real headless Chromium."""

import json
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from sightsound.jsonl import write_jsonl_atomic
from sightsound.report import build_report


def _make_run(run: Path) -> None:
    """A small run directory in the documented layout (artefacts written as data, as the stages would)."""
    data = run / "data" / "train"
    (data / "media").mkdir(parents=True)
    records, traces, verified, preds = [], [], [], []
    for i in range(4):
        rid = f"r{i}"
        Image.new("RGB", (56, 28), (40 * i, 90, 200)).save(data / "media" / f"{rid}_0.png")
        sf.write(data / "media" / f"{rid}.wav", np.zeros(1600, dtype="float32"), 16000)
        records.append({"id": rid, "question": f"Which sound is heard <{i}>?", "choices": ["dog", "cat", "car", "bird"],
                        "answer": 1, "audio": f"media/{rid}.wav", "video": None, "frames": [f"media/{rid}_0.png"],
                        "question_type": "which_source", "source": "synthetic", "meta": {"evidence": "audio"}})
        kept = i < 3
        traces.append({"id": rid, "kept": kept, "reason": None if kept else "disagreement", "n": 4,
                       "agreement": 4 if kept else 2, "agreed_choice": 1 if kept else None,
                       "samples": [{"index": k, "text": "t", "think": f"I would hear a cat {k}", "answer": "cat",
                                    "choice": 1 if kept else k % 2, "status": "ok"} for k in range(4)]})
        if kept:
            for k in range(4):
                verified.append({"key": f"{rid}#{k}", "id": rid, "sample_index": k,
                                 "verdict": "yes" if i != 2 else "no", "kept": i != 2})
        preds.append({"id": rid, "model_prediction": "cat" if i % 2 == 0 else "dog", "correct": i % 2 == 0})
    write_jsonl_atomic(data / "data.jsonl", records)
    write_jsonl_atomic(run / "teach" / "traces.jsonl", traces)
    write_jsonl_atomic(run / "verify" / "verified.jsonl", verified)
    (run / "eval" / "sightsound_r1").mkdir(parents=True)
    (run / "eval" / "sightsound_r1" / "distill.predictions.json").write_text(json.dumps(preds))
    (run / "results.json").write_text(json.dumps({
        "systems": {"pretrained": {"synthetic": {"accuracy": 0.25}}, "sightsound_r1": {"synthetic": {"accuracy": 0.5}}},
        "stages": {"teach": {"kept_fraction": 0.75}}}))


def test_report_contents(tmp_path):
    _make_run(tmp_path)
    out = build_report(tmp_path)
    page = out.read_text()
    assert page.count('class="record"') == 4
    assert page.count('data-state="kept"') == 2  # r2 passed consistency but failed the fact-check
    assert 'data-student="correct"' in page and 'data-student="wrong"' in page
    assert 'src="data/train/media/r0_0.png"' in page and 'src="data/train/media/r0.wav"' in page
    assert "&lt;0&gt;" in page  # question text is escaped
    assert json.loads(out.with_suffix(".json").read_text())["kept"] == 2


def test_report_on_missing_run_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        build_report(tmp_path / "nope")


@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path, monkeypatch):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("chromium/chromedriver not installed (scripts/setup.sh --browser installs them)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (dev extra)")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # Built as `sightsound run` builds it: from the working directory above a relative run directory,
    # with the comparison plot and the run's files to link to (the case that broke the plots).
    run = tmp_path / "runs" / "demo"
    _make_run(run)
    (run / "plots").mkdir()
    Image.new("RGB", (64, 32), (200, 30, 30)).save(run / "plots" / "overall.png")
    (run / "report.md").write_text("# run\n")
    monkeypatch.chdir(tmp_path)
    out = build_report(Path("runs") / "demo").resolve()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--allow-file-access-from-files"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        driver.get(out.as_uri())
        visible = lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, "section.record") if e.is_displayed()]
        assert len(visible()) == 4
        Select(driver.find_element(By.ID, "filter-state")).select_by_value("kept")
        assert {e.get_attribute("id") for e in visible()} == {"rec-r0", "rec-r1"}
        Select(driver.find_element(By.ID, "filter-student")).select_by_value("correct")
        assert {e.get_attribute("id") for e in visible()} == {"rec-r0"}
        assert driver.find_element(By.ID, "shown-count").text == "1"
        Select(driver.find_element(By.ID, "filter-state")).select_by_value("discarded")
        assert {e.get_attribute("id") for e in visible()} == {"rec-r2"}
        broken = driver.execute_script(
            "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert not broken, f"images that did not load: {broken}"
        assert driver.execute_script("return document.querySelectorAll('img.plot').length") == 1
        # Every audio player loads its clip (metadata read by the browser), or the test names it.
        driver.execute_script("document.querySelectorAll('audio').forEach(a => {a.preload = 'metadata'; a.load();})")
        pending = "return [...document.querySelectorAll('audio')].filter(a => a.readyState < 1).map(a => [a.src, !!a.error])"
        deadline = time.time() + 10
        while (left := driver.execute_script(pending)) and time.time() < deadline and not any(e for _, e in left):
            time.sleep(0.1)
        assert not left, f"audio that did not load: {left}"
        # Every link resolves (as the browser resolves it, against the page) to a file that exists.
        hrefs = driver.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)")
        assert len(hrefs) == 2, hrefs  # report.md, results.json
        for href in hrefs:
            assert href.startswith("file://") and Path(unquote(urlsplit(href).path)).is_file(), f"broken link {href}"
        page = out.read_text()
        assert 'src="plots/overall.png"' in page and 'href="report.md"' in page and str(tmp_path) not in page
        driver.save_screenshot(str(tmp_path / "report.png"))
        assert (tmp_path / "report.png").stat().st_size > 1000
        errors = [m for m in driver.get_log("browser") if m["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
