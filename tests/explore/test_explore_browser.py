"""The explorer in a real headless Chromium, from ``file://``, driven with mouse and keyboard.

Open the index, click a layer, click a unit; every image on the unit page loads and nothing is
logged as an error; the right-arrow key opens the next unit; the layer page's sort control
reorders the tiles. Playwright drives Debian's chromium (``tests/browser.py``). Screenshots are
kept (copied to ``$CONVSCOPE_ARTIFACTS`` when set).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from browser import BROWSER_TEST, Tab, open_page

pytestmark = BROWSER_TEST

ALL_IMAGES_LOADED = """() => {
  var imgs = Array.prototype.slice.call(document.images);
  return {n: imgs.length, bad: imgs.filter(function (i) {
    return !i.complete || i.naturalWidth === 0; }).map(function (i) { return i.src; })};
}"""


def keep(shot: Path) -> None:
    artifacts = os.environ.get("CONVSCOPE_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / shot.name)


def click(tab: Tab, selector: str) -> str:
    """Click the first element matching ``selector`` with the mouse (Playwright scrolls it into
    view) and wait for the page it opens to load; returns the link's href."""
    link = tab.page.locator(selector).first
    href = link.evaluate("a => a.href")
    with tab.page.expect_navigation(wait_until="load"):
        link.click()
    return href


def key(tab: Tab, name: str) -> None:
    """Press and release a key (e.g. ``ArrowRight``) and wait for the page it opens to load."""
    with tab.page.expect_navigation(wait_until="load"):
        tab.page.keyboard.press(name)


def shot(tab: Tab, path: Path) -> Path:
    tab.page.screenshot(path=path, full_page=True)
    return path


def test_index_layer_unit_keyboard(
    tiny_site: tuple[Path, Path, dict[str, Any]], browser: Any, tmp_path: Path
) -> None:
    _, site, _ = tiny_site
    with open_page(browser, 1200, 1400) as tab:
        page = tab.page
        page.goto((site / "index.html").as_uri())
        assert page.locator("table.layers tbody tr").count() == 3
        href = click(tab, 'table.layers a[href="layers/conv2.html"]')
        assert page.url == href and href.endswith("/layers/conv2.html")
        # every tile image is lazy; the first alive tile opens its unit page
        href = click(tab, "#tiles-alive a.tile")
        assert "/units/conv2/" in href and page.url == href
        unit = int(href.rsplit("/", 1)[1].removesuffix(".html"))
        seen = page.evaluate(ALL_IMAGES_LOADED)
        assert seen["bad"] == [] and seen["n"] >= 2 * 9 + 2 * 4, seen  # top-9 + evolution
        assert page.locator("#unit-data").count() == 1
        keep(shot(tab, tmp_path / "explore-unit-page.png"))
        key(tab, "ArrowRight")
        assert page.url.endswith(f"/units/conv2/{unit + 1}.html")
        assert page.evaluate(ALL_IMAGES_LOADED)["bad"] == []
        key(tab, "u")
        assert page.url.endswith("/layers/conv2.html")
        # sort by activation strength: tiles in descending data-max
        page.evaluate(
            "() => { var s = document.getElementById('sort'); s.value = 'max';"
            "s.dispatchEvent(new Event('input')); }"
        )
        got = [float(m) for m in page.locator("#tiles-alive a.tile").evaluate_all(
            "ts => ts.map(t => t.getAttribute('data-max'))"
        )]  # fmt: skip
        assert got == sorted(got, reverse=True) and len(got) >= 2
        # a unit page of the fully connected layer, with a dead-unit banner if dead
        page.goto((site / "units" / "fc1" / "0.html").as_uri())
        assert page.evaluate(ALL_IMAGES_LOADED)["bad"] == []
        keep(shot(tab, tmp_path / "explore-fc-unit-page.png"))
        page.goto((site / "index.html").as_uri())
        keep(shot(tab, tmp_path / "explore-index.png"))
        assert tab.errors == []


def test_the_browser_check_sees_errors(browser: Any, tmp_path: Path) -> None:
    """The checks above can fail: a broken image and a console error are seen."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>t</title></head><body><img src="missing.png">'
        '<script>console.error("boom")</script></body></html>'
    )
    with open_page(browser, 1200, 1400) as tab:
        tab.page.goto(page.as_uri())
        assert tab.page.evaluate(ALL_IMAGES_LOADED)["bad"] == [(tmp_path / "missing.png").as_uri()]
        errs = list(tab.errors)
    assert any("boom" in e for e in errs), errs
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in errs), errs
