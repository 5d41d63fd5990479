"""The report in a real browser: headless Chromium (Debian's ``chromium``) loads the stand-in comparison's page.

Checked from the browser's own DOM (a small script writes its findings into the page, ``--dump-dom`` prints
it): every image decoded, no element wider than the 1280 px viewport, the checklist table with one row per §5.3
item, both run names in the page's text. Then from a screenshot, which the browser decodes itself: the page was
painted at 1280 px, the checklist's PASS / FAIL colours are on it, nothing is painted in the right margin.

Skipped when no Chromium is installed, except in CI (``.ci/run`` installs it and sets
PARITY_CI_REQUIRE_BROWSER=1, which turns the skip into a failure).
"""

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import run_py
from parity_tracer.maintainer import compare
from parity_tracer.report import gather, inputs

pytestmark = pytest.mark.slow

VIEWPORT = 1280
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--virtual-time-budget=10000"]
RESULT = re.compile(r'<pre id="browser-check">(.*?)</pre>', re.S)

# Runs in the page once everything (images included) has loaded; the findings become a <pre> in the DOM.
DOM_CHECK = """<script>
window.addEventListener("load", function () {
  var vw = document.documentElement.clientWidth, wide = [];
  Array.prototype.forEach.call(document.querySelectorAll("body *"), function (e) {
    var r = e.getBoundingClientRect();
    if (r.right > vw + 0.5 || r.left < -0.5)
      wide.push(e.tagName + (e.id ? "#" + e.id : "") + " " + Math.round(r.left) + ".." + Math.round(r.right));
  });
  var imgs = Array.prototype.slice.call(document.images);
  var out = {viewport: vw, scroll_width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight, images: imgs.length,
    undecoded: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) {
      return i.alt; }),
    wide: wide.slice(0, 20),
    checklist: Array.prototype.map.call(document.querySelectorAll("#checklist tbody tr"), function (tr) {
      return tr.cells[0].textContent; }),
    text: document.body.innerText};
  var pre = document.createElement("pre"); pre.id = "browser-check"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""

# Decodes a screenshot in the browser and measures it: size, painted pixels, badge colours, right margin.
SHOT_CHECK = """<!DOCTYPE html><html><body><img id="s" src="data:image/png;base64,%s"><script>
window.addEventListener("load", function () {
  var img = document.getElementById("s"), c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  var ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0);
  var d = ctx.getImageData(0, 0, c.width, c.height).data, painted = 0, green = 0, red = 0, margin = 0;
  function near(i, r, g, b) { return Math.abs(d[i] - r) < 12 && Math.abs(d[i+1] - g) < 12 && Math.abs(d[i+2] - b) < 12; }
  for (var y = 0; y < c.height; y++) for (var x = 0; x < c.width; x++) {
    var i = 4 * (y * c.width + x);
    var white = d[i] > 250 && d[i+1] > 250 && d[i+2] > 250;
    if (!white) { painted++; if (x >= c.width - %d) margin++; }
    if (near(i, 0x1a, 0x7f, 0x37)) green++;
    if (near(i, 0xcf, 0x22, 0x2e)) red++;
  }
  var pre = document.createElement("pre"); pre.id = "browser-check";
  pre.textContent = JSON.stringify({width: c.width, height: c.height, painted: painted / (c.width * c.height),
                                    green: green, red: red, margin: margin});
  document.body.appendChild(pre);
});
</script></body></html>"""
MARGIN = 24   # px at the right edge where nothing may be painted (the page keeps 40 px margins at 1280 px)


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("PARITY_CI_REQUIRE_BROWSER") == "1":
        pytest.fail("CI requires Chromium for the browser test (apt-get install chromium)")
    pytest.skip("no Chromium installed (Debian: apt-get install chromium)")


def _browse(browser, tmp_path, url, *extra, height=900):
    profile = tmp_path / ("profile-%d" % len(list(tmp_path.glob("profile-*"))))
    cmd = [browser] + FLAGS + ["--user-data-dir=%s" % profile, "--window-size=%d,%d" % (VIEWPORT, height)] + \
        list(extra) + [url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def _dom_check(browser, tmp_path, page_text, name):
    probe = tmp_path / name
    probe.write_text(page_text.replace("</body>", DOM_CHECK + "</body>"), encoding="utf-8")
    r = _browse(browser, tmp_path, probe.as_uri(), "--dump-dom")
    found = RESULT.search(r.stdout)
    assert found, "no findings in the DOM; chromium said: " + r.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


def _has_matplotlib():
    return run_py(["-c", "import matplotlib"], cwd=".").returncode == 0


def test_report_in_headless_chromium(demo_runs, tmp_path):
    browser = _chromium()
    a, b = demo_runs
    page = tmp_path / "report.html"
    r = run_py(["-m", "parity_tracer", "report", a, b, "-o", page], cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    text = page.read_text(encoding="utf-8")

    found = _dom_check(browser, tmp_path, text, "check.html")
    assert found["viewport"] == VIEWPORT
    assert found["scroll_width"] <= VIEWPORT and found["wide"] == []          # nothing wider than the viewport
    assert found["undecoded"] == []                                           # every image decoded
    if _has_matplotlib():
        assert found["images"] == 6         # stage means, 3 reconstruction grids, probe, training
    else:
        assert found["images"] == 0 and "pip install 'parity-tracer[plots]'" in found["text"]
    assert found["checklist"] == [wording for _, wording, _, _, _ in compare.CHECKLIST]   # one row per §5.3 item
    for run in (a, b):
        assert gather.run_name(inputs.open_run(str(run))) in found["text"]

    shot = tmp_path / "shot.png"
    height = min(found["height"], 16000)
    r = _browse(browser, tmp_path, page.as_uri(), "--screenshot=%s" % shot, height=height)
    assert shot.is_file(), r.stderr[-2000:]
    checker = tmp_path / "shot.html"
    checker.write_text(SHOT_CHECK % (base64.b64encode(shot.read_bytes()).decode("ascii"), MARGIN))
    r = _browse(browser, tmp_path, checker.as_uri(), "--dump-dom")
    measured = json.loads(html.unescape(RESULT.search(r.stdout).group(1)))
    assert measured["width"] == VIEWPORT and measured["height"] == height
    assert measured["painted"] > 0.03                                      # the page was drawn, not blank
    assert measured["green"] > 100 and measured["red"] > 100                # PASS and FAIL badges at a glance
    assert measured["margin"] == 0                                         # nothing painted past the layout


def test_the_checks_see_broken_pages(tmp_path):
    """The DOM check is not vacuous: an overflowing element and an undecodable image are reported."""
    browser = _chromium()
    broken = ("<!DOCTYPE html><html><body><div style=\"width:2000px\">wide</div>"
              "<img alt=\"broken\" src=\"data:image/png;base64,iVBORw0KGgo=\"></body></html>")
    found = _dom_check(browser, tmp_path, broken, "broken.html")
    assert found["undecoded"] == ["broken"]
    assert any(w.startswith("DIV") for w in found["wide"]) and found["scroll_width"] > VIEWPORT
