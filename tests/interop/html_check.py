"""Load an HTML report in headless Chromium, with networking disabled, and
check it against the JSON report of the same analysis.

Usage: html_check.py REPORT.html REPORT.json [--shots DIR] [--golden DIR]
       [--expect-empty] [--long-labels]

Chromium runs in a new network namespace (`unshare -n`: no interface but a
downed loopback) and is driven over the DevTools protocol on a pipe (no
port). Checks, each failing with a message:
  - no console error, no uncaught exception, no request but the file itself;
  - every chart's SVG has a title, marks, no NaN/Infinity and no text
    outside its box; no horizontal overflow of the page at 1280 and 390 px;
  - every number shown (elements with data-c: the JSON path; data-v: the
    exact value) equals the JSON report's, exactly in data-v and to the
    display's rounding in the text;
  - sorting a table by a column orders it; light and dark themes differ;
  - printing gives a PDF of several pages with every table opened;
  - screenshots at 1280 and 390 px (--shots), compared with the committed
    golden images with a tolerance (--golden; PKTSAMPLE_BLESS=1 rewrites
    them).
Prints a JSON summary on success.
"""

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            raise SystemExit("chromium is not installed (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="pktsample-chromium-")
        # fds 3 and 4 of the browser are the protocol's pipe.
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        def child():
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)

        cmd = [exe, "--headless=new", "--no-sandbox", "--remote-debugging-pipe",
               f"--user-data-dir={self.profile}", "--disable-gpu", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
               "--font-render-hinting=none", "about:blank"]
        if os.geteuid() == 0:
            cmd = ["unshare", "-n"] + cmd
        else:
            cmd = ["unshare", "-rn"] + cmd
        self.proc = subprocess.Popen(cmd, preexec_fn=child, pass_fds=(3, 4),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.w = os.fdopen(to_w, "wb", buffering=0)
        self.r = os.fdopen(from_r, "rb", buffering=0)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def _read(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise SystemExit("chromium did not answer within its deadline")
            chunk = self.r.read(65536)
            if not chunk:
                raise SystemExit("chromium closed its DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=True, timeout=60):
        self.next_id += 1
        m = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            m["sessionId"] = self.session
        self.w.write(json.dumps(m).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise SystemExit(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, name, timeout=60):
        deadline = time.time() + timeout
        for i, e in enumerate(self.events):
            if e["method"] == name:
                return self.events.pop(i)
        while True:
            msg = self._read(deadline)
            if msg.get("method") == name:
                return msg
            if "method" in msg:
                self.events.append(msg)

    def open_page(self):
        t = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": t["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for d in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{d}.enable")

    def viewport(self, width, height, scheme="light"):
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": width < 600})
        self.call("Emulation.setEmulatedMedia",
                  {"features": [{"name": "prefers-color-scheme", "value": scheme}]})

    def navigate(self, url):
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True})
        if "exceptionDetails" in r:
            raise SystemExit(f"page script failed: {r['exceptionDetails']}")
        return r["result"]["value"]

    def screenshot(self, path):
        png = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        with open(path, "wb") as f:
            f.write(png)

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=10)
        except SystemExit:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


PROBE = r"""
(() => {
  const out = {charts: [], nums: [], nodata: document.querySelectorAll('.nodata').length};
  for (const svg of document.querySelectorAll('svg.chart')) {
    const vb = svg.viewBox.baseVal;
    let outside = [];
    for (const t of svg.querySelectorAll('text')) {
      if (t.getAttribute('transform')) continue;
      const b = t.getBBox();
      if (b.width > 0 && (b.x < -1 || b.x + b.width > vb.width + 1)) outside.push(t.textContent);
    }
    out.charts.push({id: svg.id, marks: svg.querySelectorAll('.mark').length,
      title: !!svg.querySelector(':scope > title') && !!svg.querySelector(':scope > desc'),
      bad: /NaN|Infinity|undefined/.test(svg.outerHTML), outside});
  }
  for (const el of document.querySelectorAll('[data-c]')) {
    const row = el.parentElement.closest('[data-r]');
    out.nums.push({path: (row ? row.dataset.r + '.' : '') + el.dataset.c,
                   v: el.dataset.v, k: el.dataset.k, text: el.textContent});
  }
  out.scrollWidth = document.documentElement.scrollWidth;
  out.width = window.innerWidth;
  out.bg = getComputedStyle(document.body).backgroundColor;
  out.tables = document.querySelectorAll('table.sortable').length;
  out.text = document.body.innerText;
  return out;
})()
"""

# Sort the first table with a numeric column by it, both ways, and report
# whether each order holds.
SORT = r"""
(() => {
  const t = [...document.querySelectorAll('table.sortable')].find(t => t.tBodies[0].rows.length > 2);
  if (!t) return null;
  const c = [...t.tHead.rows[0].cells].findIndex(th => /packets/.test(th.textContent));
  const vals = () => [...t.tBodies[0].rows].map(r => {
    const td = r.cells[c];
    return Number((td.querySelector('[data-v]') || td).dataset.v);
  });
  const btn = t.tHead.rows[0].cells[c].querySelector('button');
  btn.click(); const up = vals();
  btn.click(); const down = vals();
  const sorted = (a, f) => a.every((x, i) => i == 0 || f(a[i - 1], x));
  return {asc: sorted(up, (a, b) => a <= b), desc: sorted(down, (a, b) => a >= b), n: up.length};
})()
"""

SI = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
NUM = re.compile(r"^\s*(-?[0-9.]+)\s*([kMGT]?)")


def parse(text, kind):
    m = NUM.match(text)
    if not m:
        raise ValueError(f"no number in {text!r}")
    v = float(m.group(1))
    return v / 100.0 if kind == "pct" else v * SI[m.group(2)]


def close_enough(shown, value, kind):
    if kind == "pct":
        return abs(shown - value) <= 0.0005 + 1e-12
    return abs(shown - value) <= max(0.0051 * abs(value), 0.051)


def lookup(report, path):
    v = report
    for p in path.split("."):
        v = v[int(p)] if isinstance(v, list) else v[p]
    return v


def check_numbers(nums, report, fails):
    checked = 0
    for n in nums:
        try:
            want = lookup(report, n["path"])
        except (KeyError, IndexError, ValueError):
            fails.append(f"{n['path']}: shown ({n['text']!r}) but not in the JSON report")
            continue
        parts = re.split(r"\s*\[|–|\]", n["text"])
        parts = [p for p in parts if p.strip()]
        if isinstance(want, dict):
            vals = [want["estimate"]] + ([] if want["low"] == want["high"] else [want["low"], want["high"]])
            exact = want["estimate"]
        else:
            vals, exact = [want], want
        if float(n["v"]) != float(exact):
            fails.append(f"{n['path']}: data-v {n['v']} != JSON {exact}")
        if len(parts) < len(vals):
            fails.append(f"{n['path']}: text {n['text']!r} lacks the interval {vals}")
            continue
        for text, v in zip(parts, vals):
            try:
                shown = parse(text, n["k"])
            except ValueError as e:
                fails.append(f"{n['path']}: {e}")
                continue
            if not close_enough(shown, v, n["k"]):
                fails.append(f"{n['path']}: shows {text!r}, the JSON has {v}")
        checked += 1
    return checked


def compare_png(path, golden, fails):
    from PIL import Image, ImageChops
    if os.environ.get("PKTSAMPLE_BLESS"):
        # 256 colours: a third of the size, well within the tolerance.
        Image.open(path).convert("RGB").quantize(256).save(golden, optimize=True)
        return 0.0
    if not os.path.exists(golden):
        fails.append(f"no golden image {golden} (PKTSAMPLE_BLESS=1 writes it)")
        return None
    a = Image.open(path).convert("RGB")
    b = Image.open(golden).convert("RGB")
    if a.size != b.size:
        fails.append(f"{path}: {a.size} differs in size from {golden} {b.size}")
        return None
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 40 else 0)
    share = sum(diff.histogram()[255:]) / (a.size[0] * a.size[1])
    if share > 0.02:
        fails.append(f"{path}: {share:.1%} of pixels differ from {golden} (tolerance 2%); "
                     "if the change is intended, rerun with PKTSAMPLE_BLESS=1")
    return share


def main():
    args = sys.argv[1:]
    html, jpath = os.path.abspath(args[0]), args[1]
    opt = lambda name: args[args.index(name) + 1] if name in args else None
    shots, golden = opt("--shots"), opt("--golden")
    report = json.load(open(jpath))
    url = "file://" + html
    b = Browser()
    fails, summary = [], {}
    try:
        b.open_page()
        for width, height, tag in ((1280, 1100, "1280"), (390, 844, "390")):
            b.events.clear()
            b.viewport(width, height)
            b.navigate(url)
            time.sleep(0.2)
            p = b.eval(PROBE)
            # Events that arrived while evaluating.
            b.call("Runtime.evaluate", {"expression": "0"})
            for e in b.events:
                m, prm = e["method"], e.get("params", {})
                if m == "Network.requestWillBeSent" and prm["request"]["url"] != url:
                    fails.append(f"network request: {prm['request']['url']}")
                if m == "Runtime.exceptionThrown":
                    fails.append(f"exception: {prm['exceptionDetails'].get('text')}")
                if m == "Runtime.consoleAPICalled" and prm.get("type") in ("error", "assert", "warning"):
                    fails.append(f"console {prm['type']}: {prm.get('args')}")
                if m == "Log.entryAdded" and prm["entry"]["level"] in ("error", "warning"):
                    fails.append(f"console: {prm['entry'].get('text')} {prm['entry'].get('url', '')}")
            if p["scrollWidth"] > p["width"]:
                fails.append(f"the page is {p['scrollWidth']} px wide at a {p['width']} px viewport")
            for c in p["charts"]:
                if c["marks"] == 0:
                    fails.append(f"chart {c['id']} has no marks")
                if not c["title"]:
                    fails.append(f"chart {c['id']} lacks its title or description")
                if c["bad"]:
                    fails.append(f"chart {c['id']} has NaN, Infinity or undefined in it")
                if c["outside"]:
                    fails.append(f"chart {c['id']}: text outside the chart: {c['outside'][:3]}")
            if tag == "1280":
                summary["charts"] = [c["id"] for c in p["charts"]]
                summary["numbers_checked"] = check_numbers(p["nums"], report, fails)
                summary["tables"] = p["tables"]
                summary["nodata"] = p["nodata"]
                summary["text"] = p["text"]
                light = p["bg"]
                s = b.eval(SORT)
                if s is not None and not (s["asc"] and s["desc"]):
                    fails.append(f"sorting a table by packets does not order it: {s}")
                summary["sorted_rows"] = s and s["n"]
            if shots:
                path = os.path.join(shots, f"report-{tag}.png")
                b.screenshot(path)
                summary[f"png_{tag}"] = os.path.getsize(path)
                if golden:
                    summary[f"diff_{tag}"] = compare_png(path, os.path.join(golden, f"report-{tag}.png"), fails)
        # Printing: every table opens (beforeprint) and the PDF has pages.
        b.viewport(1280, 1100)
        b.navigate(url)
        pdf = base64.b64decode(b.call("Page.printToPDF", {"printBackground": False})["data"])
        pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
        opened = b.eval("[...document.querySelectorAll('details')].every(d => d.open)")
        if not pdf.startswith(b"%PDF") or pages < 2 or not opened:
            fails.append(f"printing: {len(pdf)} bytes, {pages} pages, every table open: {opened}")
        summary["pdf_pages"] = pages
        b.viewport(1280, 1100, "dark")
        b.navigate(url)
        dark = b.eval("getComputedStyle(document.body).backgroundColor")
        if dark == light:
            fails.append(f"the dark theme has the light theme's background {dark}")
        summary["backgrounds"] = [light, dark]
    finally:
        b.close()
    if fails:
        print("\n".join(fails[:40]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
