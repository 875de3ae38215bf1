"""report.html in a real headless Chromium, opened from the file system (no server).

Fails on an image that does not load, a console message or page error, or a missing section,
and keeps a screenshot (under the test's tmp dir; copied to ``$CONVSCOPE_ARTIFACTS`` when set).

Playwright drives Debian's chromium (``tests/browser.py``): the page records console lines,
page errors and failed requests from the start; after ``load``, :data:`PROBE` reads the broken
images (``naturalWidth == 0``), the image count, the layout and what the page says. The report
itself is never modified.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from browser import BROWSER_TEST, open_page
from conftest import build_handmade, write_experiment
from convscope import io
from convscope.report import write_report
from convscope.train.precision import run_hash

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = BROWSER_TEST

PROBE = r"""() => {
  var imgs = document.images, bad = [];
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) { bad.push(imgs[i].getAttribute('src')); }
  }
  var small = [];
  for (var j = 0; j < imgs.length; j++) {
    var im = imgs[j], f = parseFloat(im.getAttribute('data-min-font-px'));
    if (!im.naturalWidth) { continue; }
    if (isNaN(f)) { small.push(im.getAttribute('src') + ': no data-min-font-px'); continue; }
    var shown = f * im.getBoundingClientRect().width / im.naturalWidth;
    if (shown < 9) { small.push(im.getAttribute('src') + ': text ' + shown.toFixed(1) + ' px'); }
  }
  // per section id, the text of its first own heading (h2-h4 not inside a nested section)
  var headings = {};
  Array.prototype.forEach.call(document.querySelectorAll('section[id]'), function (s) {
    var h = Array.prototype.find.call(s.querySelectorAll('h2, h3, h4'), function (e) {
      return e.closest('section[id]') === s; });
    headings[s.id] = h ? h.textContent : '';
  });
  // what the report says, as the page shows it: per element its section ids (innermost
  // first) and whether a closed <details> folds it away
  function where(el) {
    var ids = [], folded = false;
    for (var p = el; p; p = p.parentElement) {
      if (p.tagName === 'SECTION' && p.id) { ids.push(p.id); }
      if (p.tagName === 'DETAILS' && !p.open && !(p.firstElementChild && p.firstElementChild.contains(el))) { folded = true; }
    }
    return {sections: ids, folded: folded};
  }
  function texts(sel) {
    return Array.prototype.map.call(document.querySelectorAll(sel), function (e) {
      var w = where(e); w.text = e.textContent; return w;
    });
  }
  return {
    broken: bad,
    images: imgs.length,
    headings: headings,
    // layout: the page never scrolls sideways; each figure is shown wide enough for its text
    overflow_px: document.documentElement.scrollWidth - window.innerWidth,
    small_text: small,
    raw_keys: document.body.innerText.match(/[A-Za-z_]+\[[^\]\s]*\]\.?[A-Za-z0-9_]*/g) || [],
    captions: texts('figcaption, table > caption'),
    observations: texts('ul.obs li'),
    tables: Array.prototype.map.call(document.querySelectorAll('table'), function (t) {
      var w = where(t);
      w.caption = t.caption ? t.caption.textContent : '';
      w.rows = Array.prototype.map.call(t.rows, function (row) {
        return Array.prototype.map.call(row.cells, function (c) { return c.textContent; });
      });
      return w;
    }),
    meta: Array.prototype.map.call(document.querySelectorAll('dl.meta dt'), function (dt) {
      return [dt.textContent, dt.nextElementSibling ? dt.nextElementSibling.textContent : ''];
    }),
    links: Array.prototype.map.call(document.links, function (a) {
      return [a.textContent, a.getAttribute('href')]; }),
    text: document.body.innerText,
    height: document.documentElement.scrollHeight,
  };
}"""

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


def probe(browser: Browser, report: Path, width: int = 1280) -> dict[str, Any]:
    """Open ``report`` in Chromium, ``width`` px wide; return what the page shows after load,
    with ``errors`` (console errors and warnings, page errors, failed requests) and
    ``console`` (every console line: the report has no script, so any line is an error)."""
    with open_page(browser, width, 900) as tab:
        tab.page.goto(report.as_uri(), wait_until="load")
        seen = tab.page.evaluate(PROBE)
        return {**seen, "errors": list(tab.errors), "console": list(tab.console)}


def screenshot(browser: Browser, report: Path, work: Path, name: str) -> Path:
    shot = work / name
    with open_page(browser, 1280, 4000) as tab:
        tab.page.goto(report.as_uri(), wait_until="load")
        tab.page.screenshot(path=shot)
    assert shot.is_file() and shot.stat().st_size > 10_000, shot
    artifacts = os.environ.get("CONVSCOPE_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / name)
    return shot


def test_report_loads_in_chromium_with_every_image_and_section(
    browser: Browser, tmp_path: Path
) -> None:
    out = build_handmade(tmp_path / "OUT", analysis=True)
    html_path, _ = write_report(out)
    n_img = html_path.read_text().count("<img ")
    seen = probe(browser, html_path)
    assert seen["broken"] == []
    assert seen["errors"] == []
    assert seen["console"] == []
    assert seen["images"] == n_img >= 7
    headings = seen["headings"]
    assert isinstance(headings, dict)
    for sid, text in SECTIONS.items():
        assert sid in headings, f"section {sid} missing"
        assert text in headings[sid], (sid, headings[sid])
    screenshot(browser, html_path, tmp_path, "report-screenshot.png")


@pytest.mark.parametrize("width", [1280, 1000])
def test_report_fits_the_window_with_readable_figures_and_no_key_paths(
    browser: Browser, tmp_path: Path, width: int
) -> None:
    out = build_handmade(tmp_path / "OUT", analysis=True)
    html_path, _ = write_report(out)
    seen = probe(browser, html_path, width)
    assert seen["overflow_px"] <= 0, f"the page scrolls sideways by {seen['overflow_px']} px"
    assert seen["small_text"] == [], "figures shown too small for their text (< 9 px)"
    assert seen["raw_keys"] == [], "raw JSON key paths in the visible text"


def test_the_layout_probe_catches_overflow_small_figures_and_key_paths(
    browser: Browser, tmp_path: Path
) -> None:
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
    seen = probe(browser, page, 1280)
    assert seen["overflow_px"] > 0
    assert seen["small_text"] == ["wide.png: text 3.0 px"]
    assert seen["raw_keys"] == ["per_layer[relu1].mean_top1_activation"]


def test_the_probe_catches_broken_images_and_console_errors(
    browser: Browser, tmp_path: Path
) -> None:
    """The checks above can fail: a page with a missing image and a console error."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        '<section id="sec-x"><h2>X</h2><img src="missing.png" alt="m"></section>'
        '<script>console.log("note"); console.error("boom"); throw new Error("bang")</script>'
        "</body></html>"
    )
    seen = probe(browser, page)
    assert seen["broken"] == ["missing.png"]
    errors = seen["errors"]
    assert isinstance(errors, list)
    assert "console.error: boom" in errors and "page error: bang" in errors
    missing = (tmp_path / "missing.png").as_uri()
    assert f"request failed: {missing} (net::ERR_FILE_NOT_FOUND)" in errors
    assert not [e for e in errors if "note" in e]  # a console.log is not an error ...
    assert "console.log: note" in seen["console"]  # ... but the report has no script at all
    assert seen["headings"] == {"sec-x": "X"}


# --- what a teacher noticed (issue 25): one check per point --------------------------------
def _under(items: list[dict[str, Any]], sid: str) -> list[str]:
    return [i["text"] for i in items if sid in i["sections"]]


def _percents(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?%", text)


@pytest.fixture(scope="module")
def handmade(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """The hand-made OUT with analyses, its report, and what Chromium shows of it."""
    work = tmp_path_factory.mktemp("handmade")
    out = build_handmade(work / "OUT", analysis=True)
    html_path, _ = write_report(out)
    return out, probe(browser, html_path)


def test_a_one_seed_group_has_no_over_seeds_caption(handmade: tuple[Path, dict]) -> None:
    """1.2 (optimizers) has one seed per configuration; 1.1 (cnn) has two."""
    _, seen = handmade
    one = _under(seen["captions"], "sec-1-2")
    assert len(one) >= 2  # the curves and the table
    assert [c for c in one if re.search(r"over seeds|shaded band|seed-mean", c)] == []
    assert any("one seed per configuration: each line is that run, no band" in c for c in one)
    assert any("one seed per configuration: each value is that run's" in c for c in one)
    two = _under(seen["captions"], "sec-1-1")  # the check can fail: two seeds keep the words
    assert any("lines: mean over 2 seeds; shaded band: min–max over seeds" in c for c in two)
    assert any(c.endswith("; mean ± sample std over seeds") for c in two)


def test_a_curve_that_leaves_the_axis_has_its_marker_and_value(handmade) -> None:  # noqa: ANN001
    """The diverged run's loss goes 2.3 (step 100), 40 (step 200), inf (conftest.build_handmade):
    the axis is cut above the healthy curves (≤ 2.3), so the curve leaves it at its first record."""
    _, seen = handmade
    caps = _under(seen["captions"], "sec-1-2")
    overlaid = next(c for c in caps if c.startswith("Every configuration overlaid"))
    assert "▲ = where a curve leaves the cut y axis" in overlaid
    assert "rms_lr=1e-4_momentum=1 (train loss) at iteration 100, 2.3 at 100 (max 40)" in overlaid
    for sid in ("sec-1-1", "sec-3-1", "sec-3-2"):  # nothing diverged there: nothing is cut
        assert not [c for c in _under(seen["captions"], sid) if "▲" in c], sid


def test_one_percent_format(handmade) -> None:  # noqa: ANN001
    _, seen = handmade
    cells = [c for t in seen["tables"] for row in t["rows"][1:] for c in row]  # not the header
    in_tables = [p for c in cells for p in _percents(c)]
    assert len(in_tables) > 40
    assert [p for p in in_tables if not re.fullmatch(r"\d+\.\d%", p)] == []  # "61.1%"
    assert [p for p in _percents(seen["text"]) if re.fullmatch(r"\d+\.\d\d+%", p)] == []


def test_the_header_says_profile_none_not_a_question_mark(browser: Browser, tmp_path: Path) -> None:
    out = build_handmade(tmp_path / "OUT")
    doc = io.read_json(out / "experiment.json")
    doc["profile"] = None  # an experiment file without profiles
    io.write_json(out / "experiment.json", doc)
    html_path, _ = write_report(out)
    meta = dict(probe(browser, html_path)["meta"])
    assert meta["Profile"] == "none"
    assert [k for k, v in meta.items() if "?" in v] == []


# The quick report of experiments/assignment2.toml (real data, one seed) was 33,614 px tall at
# 1,280 px before issue 25 (notes/25.md has the after value and the command). The hand-made
# OUT has tiny figures, so it gains less: 12,878 px before, about 11,400 px after; this bound
# fails if the folds are undone.
HANDMADE_MAX_PX = 12_000


def test_the_page_is_short_with_long_tables_and_extra_figures_folded(handmade) -> None:  # noqa: ANN001
    _, seen = handmade
    print(f"hand-made report: {seen['height']} px tall at 1280 px")
    assert seen["height"] <= HANDMADE_MAX_PX
    for t in seen["tables"]:  # long tables are one click away, the claims table excepted
        if len(t["rows"]) > 9 and "sec-summary" not in t["sections"]:
            assert t["folded"], t["caption"]
    shown = [c for c in seen["captions"] if not c["folded"] and c["text"]]
    for sid in ("sec-1-3", "sec-1-4", "sec-2-4"):  # one open figure per analysis
        figs = [c for c in shown if sid in c["sections"] and " — run " in c["text"]]
        assert len(figs) <= 1, (sid, figs)


# --- real runs: one dead share per layer, the explorer linked after `explore` alone --------
REAL = {
    "data": "digits",
    "resize": 12,
    "train_per_class": 20,
    "test_per_class": 6,
    "model": "lenet5",
    "iterations": 30,
    "batch_size": 20,
    "eval_every": 10,
    "checkpoint_every": 10,
    "keep_checkpoints": [10, 20],
    "train_eval_size": 40,
    "activation_stats_every": 10,
    "activation_stats_size": 16,  # the fixed batch: 16 of the 60 test images
    "threads": 1,
}


@pytest.fixture(scope="module")
def real_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real LeNet-5 runs on the built-in digits, as `convscope run` lays them out: both in
    `optimizers` (one seed each, with its `across` analysis), the first also analysed in 1.4
    (`activations`), as the reference experiment shares its cnn run; then the report."""
    from convscope.callbacks import config_callbacks
    from convscope.config import from_flat
    from convscope.studies.runner import analyze, analyze_group
    from convscope.train.loop import train

    out = tmp_path_factory.mktemp("real") / "OUT"
    entries = []
    for i, (label, lr) in enumerate((("adam_lr=1e-2", 1e-2), ("adam_lr=3e-2", 3e-2))):
        cfg = from_flat({**REAL, "name": label, "lr": lr, "seed": 1})
        d = out / "runs" / f"r{i}"
        assert train(cfg, d, callbacks=config_callbacks(cfg))["status"] == "completed"
        entries.append(
            {
                "label": label,
                "seed": 1,
                "hash": run_hash(cfg),
                "dir": f"runs/r{i}",
                "config": cfg.to_dict(),
            }
        )
    analyze(out / "runs" / "r0", ["activations"])
    analyze_group(
        out,
        "optimizers",
        [(out / e["dir"], e["label"]) for e in entries],
        ["across"],
        {"across": {"gabor": False}},
    )
    write_experiment(
        out,
        {"optimizers": entries, "inside": [entries[0]]},
        [{"run": "runs/r0", "what": ["activations"]}],
        data_note="the built-in scikit-learn digits (test data)",
    )
    doc = io.read_json(out / "experiment.json")
    doc["entries"].append(
        {
            "group": "optimizers",
            "what": ["across"],
            "names": ["across"],
            "scope": {"across": "group"},
            "section": "",
            "title": "Inside the network, per optimizer",
            "runs": [e["dir"] for e in entries],
        }
    )
    io.write_json(out / "experiment.json", doc)
    write_report(out)
    return out


def test_one_dead_share_per_layer_across_the_report(browser: Browser, real_out: Path) -> None:
    """1.4 (activations of run r0) and 1.2.1 (across, r0's row) show one share per layer."""
    seen = probe(browser, real_out / "report.html")
    shares: dict[str, set[str]] = {}
    # 1.4: the table "units that never activate" (layer, module, after, dead / units, share)
    t14 = next(t for t in seen["tables"] if t["caption"].startswith("units that never activate"))
    for row in t14["rows"][1:]:
        shares.setdefault(row[1], set()).add(row[4])
    # 1.4: the headline sentence ("62.5% of conv2's 64 maps and ...")
    head = next(o for o in _under(seen["observations"], "sec-1-4") if "never activate" in o)
    for pct, layer in re.findall(r"(\d+\.\d%) of (\w+)'s", head):
        shares.setdefault(layer, set()).add(pct)
    # 1.2.1: the dead-unit table, the analysed run's row (the reference, first)
    t121 = next(t for t in seen["tables"] if t["caption"].startswith("Dead units at the end"))
    header, ref_row = t121["rows"][0], t121["rows"][1]
    assert ref_row[0].startswith("adam_lr=1e-2")
    for layer, cell in zip(header[1:], ref_row[1:], strict=True):
        shares.setdefault(layer, set()).add(cell.replace(" †", ""))
    assert {"conv1", "conv2", "fc1"} <= set(shares)
    assert {k: v for k, v in shares.items() if len(v) != 1} == {}
    # the fixed batch of 16 images counts more dead units somewhere: two definitions would
    # have shown two shares (the check is not vacuous)
    saved = io.read_json(real_out / "groups" / "optimizers" / "analysis" / "across.json")
    r0 = next(r for r in saved["numbers"]["runs"] if r["label"] == "adam_lr=1e-2")
    assert any(d["n_dead_fixed_batch"] != d["n_dead"] for d in r0["dead"].values())


def test_the_explorer_is_linked_after_explore_alone(
    browser: Browser, real_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from convscope.cli import main

    out = tmp_path / "OUT"
    shutil.copytree(real_out, out)
    before = [h for _, h in probe(browser, out / "report.html")["links"]]
    assert not [h for h in before if "explore/" in h]
    assert main(["explore", str(out / "runs" / "r0"), "--layers", "conv1", "-q"]) == 0
    assert (
        f"report: {out / 'report.html'} updated; it links this explorer" in capsys.readouterr().out
    )
    seen = probe(browser, out / "report.html")
    links = [h for _, h in seen["links"] if h.endswith("explore/index.html")]
    assert links == ["runs/r0/explore/index.html"]
    assert (out / links[0]).is_file()
    assert "adam_lr=1e-2: unit explorer" in seen["text"]
