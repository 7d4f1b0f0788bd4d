"""Open a report in headless Chromium and read back what the page saw.

The report itself has no script (its Content-Security-Policy forbids them), so the check is
injected by the test into a copy: a ``<script>`` placed before the policy ``<meta>`` (a policy
set by ``<meta>`` does not cover what precedes it) records errors, failed resources, policy
violations and ``console.error`` calls, and on ``load`` writes a JSON marker with every image's
``naturalWidth`` into the DOM, which ``--dump-dom`` prints.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

_CHECK = """<script>
window.__kw = {errors: [], console: []};
window.addEventListener('error', function (e) {
  var t = e.target || {};
  __kw.errors.push(e.message ? String(e.message) : 'failed to load ' + (t.src || t.href || t.tagName));
}, true);
document.addEventListener('securitypolicyviolation', function (e) {
  __kw.errors.push('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI);
});
var __kwError = console.error;
console.error = function () {
  __kw.console.push(Array.prototype.join.call(arguments, ' '));
  __kwError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    return {alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight};
  });
  // Headers whose text the layout broke over more than one line (e.g. "prob/lem").
  var wrapped = Array.prototype.filter.call(document.querySelectorAll('th'), function (th) {
    if (!th.firstChild) { return false; }
    var r = document.createRange();
    r.selectNodeContents(th);
    var tops = {};
    Array.prototype.forEach.call(r.getClientRects(), function (b) { tops[Math.round(b.top)] = 1; });
    return Object.keys(tops).length > 1;
  }).map(function (th) { return th.textContent; });
  var out = {errors: __kw.errors, console: __kw.console, images: imgs, wrapped_headers: wrapped,
             scripts: document.scripts.length,
             onerror_attributes: document.querySelectorAll('[onerror]').length,
             text: document.body.innerText};
  var pre = document.createElement('pre');
  pre.id = '__kw_result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


@dataclass
class PageCheck:
    """What the browser saw: errors (script, resource, CSP, console), images, script count, text,
    and the table headers laid out on more than one line."""

    errors: list[str]
    console: list[str]
    images: list[dict[str, Any]]
    scripts: int
    onerror_attributes: int
    text: str
    wrapped_headers: list[str]


def chromium() -> str:
    """The Chromium binary; fails (does not skip) when it is missing, as CI installs it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(
        "headless Chromium is required for the report tests and was not found; "
        "install it with `apt-get update && apt-get install -y chromium` (.ci/run does this)"
    )


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def check_page(report: Path, tmp: Path) -> PageCheck:
    """Load a copy of ``report`` with the check injected; return what it recorded."""
    html = report.read_text(encoding="utf-8")
    assert "<head>" in html, f"{report}: no <head>"
    probe = tmp / f"probe-{report.stem}.html"
    probe.write_text(html.replace("<head>", "<head>\n" + _CHECK, 1), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="kw-chromium-") as profile:
        proc = _run(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=5000",
                "--dump-dom",
                probe.resolve().as_uri(),
            ]
        )
    m = re.search(r'<pre id="__kw_result">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"chromium did not load {report} (exit {proc.returncode}): {proc.stderr[-2000:]}"
    raw = m.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return PageCheck(**json.loads(raw))


def screenshot(report: Path, png: Path, width: int = 1280, height: int = 2000) -> Path:
    """A screenshot of ``report`` at ``width`` x ``height`` pixels, as a reader would see it."""
    with tempfile.TemporaryDirectory(prefix="kw-chromium-") as profile:
        proc = _run(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png.resolve()}",
                report.resolve().as_uri(),
            ]
        )
    assert png.is_file() and png.stat().st_size > 0, f"no screenshot of {report}: {proc.stderr[-2000:]}"
    return png


def assert_clean(check: PageCheck, min_images: int) -> None:
    """No errors of any kind, every image decoded, no script or event-handler attribute of the
    report's own."""
    assert check.errors == [], check.errors
    assert check.console == [], check.console
    assert len(check.images) >= min_images, f"{len(check.images)} images, expected >= {min_images}"
    broken = [i for i in check.images if not i["complete"] or i["naturalWidth"] <= 0]
    assert broken == [], broken
    assert check.scripts == 1, f"{check.scripts} scripts in the page: only the test's own probe may run"
    assert check.onerror_attributes == 0
