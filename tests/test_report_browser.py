"""The report page in a real browser: headless Chromium opens it from disk with every host name
unresolvable, runs its script without a console message, and renders the fixture's numbers, with
scripts on and off. A screenshot is kept for the test log.

Chromium missing fails the test in CI (`.ci/run` installs it) and skips it elsewhere, saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fasteval.cli.args import main as fasteval_main
from tests.fixtures import conformance_dir
from tests.report_fixture import DATASETS, MODELS, build_work_dir

KIT = conformance_dir()
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
SCREENSHOT = Path(os.environ.get("FASTEVAL_ARTIFACTS", ".fasteval/artifacts")) / "report.png"
CONSOLE = re.compile(r":CONSOLE[:(].*")
CELL = re.compile(
    r'data-model="([^"]+)" data-dataset="([^"]+)" data-metric="[^"]+" '
    r'data-value="([^"]+)"[^>]*><b>([^<]+)</b>'
)


def _chromium() -> str:
    found = next((p for name in BROWSERS if (p := shutil.which(name))), None)
    if found is None:
        message = "headless Chromium not found: apt-get update && apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message + " (.ci/run installs it before make test)")
        pytest.skip(message + " (CI runs this test)")
    return found


def _run(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Chromium on `page` with no network: every host name maps to nothing."""
    argv = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        page.resolve().as_uri(),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    work_dir = build_work_dir(KIT, tmp / "outputs")
    out = tmp / "report.html"
    argv = ["report", str(work_dir), "--out", str(out), "--lmudata", str(KIT / "LMUData")]
    assert fasteval_main(argv) == 0
    return out


def _shown_cells(dom: str) -> dict[tuple[str, str], tuple[float, str]]:
    return {(m, d): (float(v), text) for m, d, v, text in CELL.findall(dom)}


def test_console_capture_sees_a_script_error(tmp_path: Path) -> None:
    """The check below would catch a broken script: a page that throws shows up on stderr."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>no_such_function();</script></body></html>")
    result = _run(bad, tmp_path, "--dump-dom")
    assert any("no_such_function" in line for line in CONSOLE.findall(result.stderr))


def test_page_renders_offline_without_console_messages(page: Path, tmp_path: Path) -> None:
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shot = _run(page, tmp_path, f"--screenshot={SCREENSHOT.resolve()}", "--window-size=1400,2000")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert SCREENSHOT.stat().st_size > 0
    print(f"report screenshot: {SCREENSHOT.resolve()}")

    result = _run(page, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert CONSOLE.findall(result.stderr) == []  # no script error, no blocked fetch
    dom = result.stdout
    cells = _shown_cells(dom)
    assert set(cells) == {(m, d) for m in MODELS for d in DATASETS}
    for value, text in cells.values():
        assert text == (f"{value:.4f}" if abs(value) <= 1 else f"{value:.2f}")
    assert 'id="pairs-body"' in dom and "mid-p McNemar" in dom
    assert 'id="speed"' in dom
    # the script ran: it reveals the filter controls, hidden for readers without JavaScript
    assert re.search(r'class="controls js-only"(?! hidden)', dom)


def test_page_reads_without_javascript(page: Path, tmp_path: Path) -> None:
    """Scripts off, simulated by a Content-Security-Policy that forbids them (headless Chromium
    dumps no DOM with scripting disabled): the numbers and sample rows are all there."""
    no_js = tmp_path / "no-js.html"
    csp = """<meta http-equiv="Content-Security-Policy" content="script-src 'none'">"""
    no_js.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + csp, 1))
    result = _run(no_js, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    messages = CONSOLE.findall(result.stderr)
    assert messages and all("Content Security Policy" in m for m in messages)  # the script was blocked
    dom = result.stdout
    assert set(_shown_cells(dom)) == {(m, d) for m in MODELS for d in DATASETS}
    assert 'class="controls js-only" hidden' in dom  # filters stay out of the way
    assert "<tr data-tags=" in dom  # every sample row is shown


def test_sample_filter_shows_only_the_chosen_rows(page: Path, tmp_path: Path) -> None:
    """Pick the first model's wrong answers in the first benchmark's viewer, as a reader would."""
    probe = """<script>
    var sel = document.querySelector('select[data-filter]');
    var wrong = function (o) { return o.value.indexOf('wrong:') === 0; };
    var tag = Array.prototype.filter.call(sel.options, wrong)[0].value;
    sel.value = tag;
    sel.dispatchEvent(new Event('change'));
    var rows = document.getElementById(sel.getAttribute('data-filter')).rows;
    var shown = Array.prototype.filter.call(rows, function (r) { return !r.hidden; });
    var off = shown.filter(function (r) { return r.getAttribute('data-tags').split(' ').indexOf(tag) < 0; });
    document.body.setAttribute('data-check', shown.length + ':' + off.length + ':' + rows.length);
    </script>"""
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", probe + "</body>", 1))
    result = _run(probed, tmp_path, "--dump-dom")
    assert CONSOLE.findall(result.stderr) == []
    check = re.search(r'data-check="(\d+):(\d+):(\d+)"', result.stdout)
    assert check is not None, result.stdout[:500]
    shown, off, total = map(int, check.groups())
    assert 0 < shown < total and off == 0
