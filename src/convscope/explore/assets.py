"""The explorer's one stylesheet and one script (no network, works from ``file://``)."""

from __future__ import annotations

CSS = """\
:root { --fg: #1d232a; --muted: #5b6570; --line: #d9dee3; --accent: #1f6feb; --dead: #b42318; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; color: var(--fg); margin: 0 auto; max-width: 1200px;
  padding: 12px 20px 40px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
h1 { font-size: 1.5em; margin: .4em 0; } h2 { font-size: 1.15em; margin: 1.4em 0 .4em;
  border-bottom: 1px solid var(--line); padding-bottom: .2em; }
nav.crumbs { color: var(--muted); font-size: .95em; } nav.crumbs a { margin-right: .2em; }
.muted, .note { color: var(--muted); font-size: .9em; }
table.layers { border-collapse: collapse; width: 100%; }
table.layers th, table.layers td { border-bottom: 1px solid var(--line); padding: 6px 8px;
  text-align: left; vertical-align: middle; }
.strip { display: flex; gap: 3px; flex-wrap: wrap; }
.cell { position: relative; overflow: hidden; display: inline-block; flex: none;
  background: #eee; }
.cell img { position: absolute; max-width: none; image-rendering: pixelated; }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; }
.tile { display: flex; flex-direction: column; align-items: center; border: 1px solid var(--line);
  border-radius: 4px; padding: 4px; color: var(--fg); font-size: .8em; }
.tile:hover { border-color: var(--accent); text-decoration: none; }
.tile .pair { display: flex; gap: 2px; }
.tile.dead { border-style: dashed; border-color: var(--dead); color: var(--dead); }
.deadbox { display: flex; align-items: center; justify-content: center; background: #f6e9e8;
  color: var(--dead); font-weight: 600; }
.controls { display: flex; gap: 16px; flex-wrap: wrap; align-items: center; margin: 8px 0;
  padding: 8px; background: #f5f7f9; border-radius: 4px; }
.pager { display: flex; gap: 14px; align-items: baseline; margin: 6px 0; }
.pager kbd { border: 1px solid var(--line); border-radius: 3px; padding: 0 4px; font-size: .85em; }
.facts { display: flex; gap: 22px; flex-wrap: wrap; margin: 6px 0; }
.facts div b { display: block; font-size: 1.15em; }
.banner { background: #f6e9e8; border-left: 4px solid var(--dead); padding: 8px 12px;
  margin: 10px 0; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; display: flex; flex-direction: column; align-items: center; gap: 2px; }
figcaption { font-size: .8em; text-align: center; color: var(--muted); max-width: 110px; }
figcaption b { color: var(--fg); }
svg text { font: 11px system-ui, sans-serif; fill: var(--fg); }
ul.inputs { columns: 2; } dl.choices dt { font-weight: 600; } dl.choices dd { margin: 0 0 6px 14px; }
"""

JS = """\
(function () {
  'use strict';
  var KEYS = { ArrowRight: 'next', j: 'next', n: 'next', ArrowLeft: 'prev', k: 'prev',
               p: 'prev', u: 'up', Escape: 'up' };
  document.addEventListener('keydown', function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var t = e.target && e.target.tagName;
    if (t === 'INPUT' || t === 'SELECT' || t === 'TEXTAREA') { return; }
    var a = KEYS[e.key] && document.getElementById(KEYS[e.key]);
    if (a && a.getAttribute('href')) { e.preventDefault(); window.location.href = a.href; }
  });
  var sort = document.getElementById('sort');
  if (!sort) { return; }
  var show = document.getElementById('show'), minp = document.getElementById('minpurity');
  function num(el, key) {
    var v = parseFloat(el.getAttribute('data-' + key));
    return isNaN(v) ? null : v;
  }
  function apply() {
    var key = sort.value, asc = key === 'unit' || key === 'settle-early';
    var attr = key.indexOf('settle') === 0 ? 'settle' : key;
    var lo = parseFloat(minp.value) / 100 || 0;
    ['alive', 'dead'].forEach(function (g) {
      var box = document.getElementById('tiles-' + g);
      if (!box) { return; }
      var tiles = Array.prototype.slice.call(box.children);
      tiles.sort(function (a, b) {
        var x = num(a, attr), y = num(b, attr);
        if (x === null || y === null) {
          if (x !== y) { return x === null ? 1 : -1; }
        } else if (x !== y) { return asc ? x - y : y - x; }
        return num(a, 'unit') - num(b, 'unit');
      });
      tiles.forEach(function (el) {
        box.appendChild(el);
        var p = num(el, 'purity');
        el.hidden = g === 'alive' && lo > 0 && (p === null || p < lo);
      });
      document.getElementById('group-' + g).hidden = show.value !== 'all' && show.value !== g;
    });
  }
  [sort, show, minp].forEach(function (el) { el.addEventListener('input', apply); });
  apply();
})();
"""
