"""report.html in a real headless Chromium, opened from the file system (no server).

Fails on an image that does not load, a console message or page error, or a missing section,
and keeps a screenshot (under the test's tmp dir; copied to ``$CONVSCOPE_ARTIFACTS`` when set).

How it sees failures without a driver library: a *test copy* of the report (same folder, so
relative image paths resolve) gets a small script at the top of ``<head>`` that records image
load errors, page errors and ``console.error`` calls, and on ``load`` writes them, the broken
images (``naturalWidth == 0``) and the image count into attributes of ``<html>``; Chromium's
``--dump-dom`` prints the DOM after load. Chromium's own console log (``--enable-logging``,
lines tagged ``CONSOLE``) is checked too: the report has no script, so any console line is an
error. The report itself is never modified.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chromium import CHROMIUM, FLAGS
from conftest import build_handmade
from convscope.report import write_report

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian's chromium)"),
]

TIMEOUT_S = 25

PROBE = r"""<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  if (t && t.tagName === 'IMG') { window.__errs.push('image failed: ' + t.getAttribute('src')); }
  else { window.__errs.push('page error: ' + (e.message || String(e))); }
}, true);
(function () {
  var ce = console.error;
  console.error = function () {
    window.__errs.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    ce.apply(console, arguments);
  };
})();
window.addEventListener('load', function () {
  var imgs = document.images, bad = [];
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) { bad.push(imgs[i].getAttribute('src')); }
  }
  var r = document.documentElement;
  r.setAttribute('data-broken-images', JSON.stringify(bad));
  r.setAttribute('data-errors', JSON.stringify(window.__errs));
  r.setAttribute('data-image-count', String(imgs.length));
  // layout: the page never scrolls sideways; each figure is shown wide enough for its text
  r.setAttribute('data-overflow-px',
                 String(document.documentElement.scrollWidth - window.innerWidth));
  var small = [];
  for (var j = 0; j < imgs.length; j++) {
    var im = imgs[j], f = parseFloat(im.getAttribute('data-min-font-px'));
    if (!im.naturalWidth) { continue; }
    if (isNaN(f)) { small.push(im.getAttribute('src') + ': no data-min-font-px'); continue; }
    var shown = f * im.getBoundingClientRect().width / im.naturalWidth;
    if (shown < 9) { small.push(im.getAttribute('src') + ': text ' + shown.toFixed(1) + ' px'); }
  }
  r.setAttribute('data-small-text', JSON.stringify(small));
  var raw = (document.body.innerText.match(/[A-Za-z_]+\[[^\]\s]*\]\.?[A-Za-z0-9_]*/g) || []);
  r.setAttribute('data-raw-keys', JSON.stringify(raw));
});
</script>"""

SECTIONS = {
    "sec-summary": "claims at a glance",
    "sec-1": "1 Problem 1",
    "sec-1-1": "1.1",
    "sec-1-2": "1.2",
    "sec-1-3": "1.3",
    "sec-1-4": "1.4",
    "sec-2": "2 Zeiler",
    **{f"sec-2-{i}": f"2.{i}" for i in range(1, 7)},
    "sec-3": "3 Problem 3",
    "sec-3-1": "3.1",
    "sec-3-2": "3.2",
    "sec-runs": "All runs",
    "sec-method": "How the numbers are computed",
}


def chromium(args: list[str], work: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a fresh profile under ``work``."""
    profile = work / f"profile-{uuid.uuid4().hex[:8]}"
    profile.mkdir(parents=True)
    cmd = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


class _Dom(HTMLParser):
    """The ``<html>`` attributes and, per element id, the text of its first heading."""

    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, str] = {}
        self.headings: dict[str, str] = {}
        self._stack: list[str] = []
        self._in_heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.root = a
        if tag == "section" and a.get("id"):
            self._stack.append(a["id"])
            self.headings[a["id"]] = ""
        if tag in ("h2", "h3", "h4") and self._stack and not self.headings[self._stack[-1]]:
            self._in_heading = self._stack[-1]

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._stack:
            self._stack.pop()
        if tag in ("h2", "h3", "h4"):
            self._in_heading = None

    def handle_data(self, data: str) -> None:
        if self._in_heading is not None:
            self.headings[self._in_heading] += data


def probe(report: Path, work: Path, width: int = 1280) -> dict[str, object]:
    """Open a probed copy of ``report`` in Chromium, ``width`` px wide; return what it saw."""
    copy = report.with_name(f".browser-test-{uuid.uuid4().hex[:8]}.html")
    copy.write_text(report.read_text().replace("<head>", "<head>" + PROBE, 1))
    try:
        res = chromium(
            [
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=5000",
                f"--window-size={width},900",
                "--dump-dom",
                copy.as_uri(),
            ],
            work,
        )
    finally:
        copy.unlink()
    dom = _Dom()
    dom.feed(res.stdout)
    console = [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]
    if "data-image-count" not in dom.root:
        raise AssertionError(
            f"the page never finished loading (rc {res.returncode}): {res.stderr[-2000:]}"
        )
    return {
        "broken": json.loads(dom.root["data-broken-images"]),
        "errors": json.loads(dom.root["data-errors"]),
        "images": int(dom.root["data-image-count"]),
        "console": console,
        "headings": dom.headings,
        "overflow_px": int(dom.root["data-overflow-px"]),
        "small_text": json.loads(dom.root["data-small-text"]),
        "raw_keys": json.loads(dom.root["data-raw-keys"]),
    }


def screenshot(report: Path, work: Path, name: str) -> Path:
    shot = work / name
    res = chromium(["--window-size=1280,4000", f"--screenshot={shot}", report.as_uri()], work)
    assert shot.is_file() and shot.stat().st_size > 10_000, res.stderr[-2000:]
    artifacts = os.environ.get("CONVSCOPE_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / name)
    return shot


def test_report_loads_in_chromium_with_every_image_and_section(tmp_path: Path) -> None:
    out = build_handmade(tmp_path / "OUT", analysis=True)
    html_path, _ = write_report(out)
    n_img = html_path.read_text().count("<img ")
    seen = probe(html_path, tmp_path)
    assert seen["broken"] == []
    assert seen["errors"] == []
    assert seen["console"] == []
    assert seen["images"] == n_img >= 7
    headings = seen["headings"]
    assert isinstance(headings, dict)
    for sid, text in SECTIONS.items():
        assert sid in headings, f"section {sid} missing"
        assert text in headings[sid], (sid, headings[sid])
    screenshot(html_path, tmp_path, "report-screenshot.png")


@pytest.mark.parametrize("width", [1280, 1000])
def test_report_fits_the_window_with_readable_figures_and_no_key_paths(
    tmp_path: Path, width: int
) -> None:
    out = build_handmade(tmp_path / "OUT", analysis=True)
    html_path, _ = write_report(out)
    seen = probe(html_path, tmp_path, width)
    assert seen["overflow_px"] <= 0, f"the page scrolls sideways by {seen['overflow_px']} px"
    assert seen["small_text"] == [], "figures shown too small for their text (< 9 px)"
    assert seen["raw_keys"] == [], "raw JSON key paths in the visible text"


def test_the_layout_probe_catches_overflow_small_figures_and_key_paths(tmp_path: Path) -> None:
    """A page wider than the window, a wide figure squeezed into 300 px, a key path."""
    from PIL import Image

    Image.new("RGB", (1200, 300), "white").save(tmp_path / "wide.png")
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        '<div style="width:2000px">wide</div>'
        '<img src="wide.png" alt="w" style="width:300px" data-min-font-px="12">'
        "<p>per_layer[relu1].mean_top1_activation</p></body></html>"
    )
    seen = probe(page, tmp_path, 1280)
    assert seen["overflow_px"] > 0
    assert seen["small_text"] == ["wide.png: text 3.0 px"]
    assert seen["raw_keys"] == ["per_layer[relu1].mean_top1_activation"]


def test_the_probe_catches_broken_images_and_console_errors(tmp_path: Path) -> None:
    """The checks above can fail: a page with a missing image and a console error."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        '<section id="sec-x"><h2>X</h2><img src="missing.png" alt="m"></section>'
        '<script>console.error("boom")</script></body></html>'
    )
    seen = probe(page, tmp_path)
    assert seen["broken"] == ["missing.png"]
    errors = seen["errors"]
    assert isinstance(errors, list)
    assert "console.error: boom" in errors and "image failed: missing.png" in errors
    assert any("boom" in ln for ln in seen["console"])  # type: ignore[union-attr]
    assert seen["headings"] == {"sec-x": "X"}
