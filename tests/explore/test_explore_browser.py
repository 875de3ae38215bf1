"""The explorer in a real headless Chromium, from ``file://``, driven with mouse and keyboard.

Open the index, click a layer, click a unit; every image on the unit page loads and nothing is
logged as an error; the right-arrow key opens the next unit; the layer page's sort control
reorders the tiles. Screenshots are kept (copied to ``$CONVSCOPE_ARTIFACTS`` when set).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cdp import CHROMIUM, Browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian's chromium)"),
]

ALL_IMAGES_LOADED = """(function () {
  var imgs = Array.prototype.slice.call(document.images);
  return {n: imgs.length, bad: imgs.filter(function (i) {
    return !i.complete || i.naturalWidth === 0; }).map(function (i) { return i.src; })};
})()"""


def keep(shot: Path) -> None:
    artifacts = os.environ.get("CONVSCOPE_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / shot.name)


def test_index_layer_unit_keyboard(
    tiny_site: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, site, _ = tiny_site
    with Browser(tmp_path) as b:
        b.navigate((site / "index.html").as_uri())
        assert b.js("document.querySelectorAll('table.layers tbody tr').length") == 3
        href = b.click('table.layers a[href="layers/conv2.html"]')
        assert b.js("location.href") == href and href.endswith("/layers/conv2.html")
        # every tile image is lazy; the first alive tile opens its unit page
        href = b.click("#tiles-alive a.tile")
        assert "/units/conv2/" in href and b.js("location.href") == href
        unit = int(href.rsplit("/", 1)[1].removesuffix(".html"))
        seen = b.js(ALL_IMAGES_LOADED)
        assert seen["bad"] == [] and seen["n"] >= 2 * 9 + 2 * 4, seen  # top-9 + evolution
        assert b.js("!!document.getElementById('unit-data')")
        keep(b.screenshot(tmp_path / "explore-unit-page.png"))
        b.key("ArrowRight", 39)
        assert b.js("location.href").endswith(f"/units/conv2/{unit + 1}.html")
        assert b.js(ALL_IMAGES_LOADED)["bad"] == []
        b.key("u", 85)
        assert b.js("location.href").endswith("/layers/conv2.html")
        # sort by activation strength: tiles in descending data-max
        got = b.js(
            "(function () { var s = document.getElementById('sort'); s.value = 'max';"
            "s.dispatchEvent(new Event('input')); return Array.prototype.map.call("
            "document.querySelectorAll('#tiles-alive a.tile'), function (t) {"
            "return parseFloat(t.getAttribute('data-max')); }); })()"
        )
        assert got == sorted(got, reverse=True) and len(got) >= 2
        # a unit page of the fully connected layer, with a dead-unit banner if dead
        b.navigate((site / "units" / "fc1" / "0.html").as_uri())
        assert b.js(ALL_IMAGES_LOADED)["bad"] == []
        keep(b.screenshot(tmp_path / "explore-fc-unit-page.png"))
        b.navigate((site / "index.html").as_uri())
        keep(b.screenshot(tmp_path / "explore-index.png"))
        assert b.errors() == []


def test_the_browser_check_sees_errors(tmp_path: Path) -> None:
    """The checks above can fail: a broken image and a console error are seen."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>t</title></head><body><img src="missing.png">'
        '<script>console.error("boom")</script></body></html>'
    )
    with Browser(tmp_path) as b:
        b.navigate(page.as_uri())
        assert b.js(ALL_IMAGES_LOADED)["bad"] == [(tmp_path / "missing.png").as_uri()]
        errs = b.errors()
    assert any("boom" in e for e in errs), errs
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in errs), errs
