"""Open the built documentation site in headless Chromium and check what a reader sees.

``python docs/check_site.py`` (after ``python -m sphinx -W --keep-going -b html docs
docs/_build/html``) serves ``docs/_build/html`` on a loopback port and loads, in headless
Chromium:

- the landing page: both quick-start commands of the README are on it, word for word;
- the API page of ``fastiou.box_iou``: its signature (every parameter of
  ``inspect.signature(fastiou.box_iou)``) and every line of its docstring's example are in the
  rendered DOM;
- the benchmark page: its speed-up chart (``summary.png``) is in the DOM and the browser fetched it.

Each page is loaded twice (``--dump-dom``, then ``--screenshot``) with
``--enable-logging=stderr --v=1``, which prints the page's console messages as ``CONSOLE``
lines: any console message (a JavaScript error, a resource that failed to load, a blocked
request) fails the check, and so does any request the site's server answered with an error.
Screenshots go to ``docs/_build/screenshots/``.

Needs Chromium: on Debian or Ubuntu, ``apt-get install -y chromium``. Without it, the script
says so and exits 0 (a skip). Exit status: 0 passed or skipped, 1 failed.
"""

from __future__ import annotations

import argparse
import functools
import html
import http.server
import inspect
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = "apt-get install -y chromium   # Debian's package (Ubuntu: chromium-browser)"
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\] (.*)$")
# Chromium's log does not say a console message's level. The PyData theme logs its colour-mode
# switch with console.log on every page ("[PST]: Changed to auto mode using the light theme."):
# that message is information, not an error. Every other console message fails the check.
INFORMATIONAL = (re.compile(r'^"\[PST\]: Changed to \w+ mode using the \w+ theme\."'),)


@dataclass
class Page:
    name: str            # screenshot file name
    path: str            # relative to the site's root
    window: str          # --window-size
    checks: list = field(default_factory=list)  # functions (dom_html, dom_text) -> list of problems


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(directory: Path) -> tuple[_Server, list[tuple[str, int]]]:
    """Serve ``directory`` on 127.0.0.1 (a free port), recording every request and its status."""
    log: list[tuple[str, int]] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            log.append((self.path, int(code) if str(code).isdigit() else 0))

        def log_message(self, format, *args):  # quiet
            pass

    server = _Server(("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, log


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def run_browser(browser: str, url: str, extra: list[str], profile: str,
                timeout: float = 90) -> tuple[str, list[str]]:
    """Run headless Chromium once; return its stdout and the page's console messages."""
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=1",
        "--virtual-time-budget=5000", *extra, url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, errors="replace")
    console = []
    for line in done.stderr.splitlines():
        match = CONSOLE.search(line)
        if match:
            console.append(match.group(1))
    if done.returncode != 0:
        console.append(f"(chromium exited with status {done.returncode}: {done.stderr.strip()[-500:]})")
    return done.stdout, console


def text_of(dom: str) -> str:
    """The DOM's text, tags removed, entities decoded, whitespace collapsed."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", dom))).strip()


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------------------- the checks
def quick_start_commands() -> list[str]:
    """The commands of the README's quick start (the lines of its bash block, comments aside)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def check_landing(dom: str, text: str) -> list[str]:
    problems = []
    commands = quick_start_commands()
    if len(commands) != 2:
        problems.append(f"the README's quick start has {len(commands)} commands, expected 2")
    for command in commands:
        if squeeze(command) not in text:
            problems.append(f"quick-start command not on the landing page: {command}")
    if "<title>" not in dom or "fastiou" not in dom.split("<title>", 1)[1].split("</title>", 1)[0]:
        problems.append("the landing page's title does not name fastiou")
    return problems


def check_box_iou(dom: str, text: str) -> list[str]:
    sys.path.insert(0, str(ROOT))
    import fastiou

    problems = []
    match = re.search(r'<dt[^>]*id="fastiou\.box_iou"[^>]*>(.*?)</dt>', dom, flags=re.S)
    if match is None:
        return ["no signature element (dt id='fastiou.box_iou') on the box_iou page"]
    signature = text_of(match.group(1))
    if not signature.startswith("fastiou.box_iou("):
        problems.append(f"the signature does not start with 'fastiou.box_iou(': {signature[:80]!r}")
    for name, parameter in inspect.signature(fastiou.box_iou).parameters.items():
        if name not in signature:
            problems.append(f"parameter {name!r} missing from the rendered signature {signature!r}")
        if parameter.default is not inspect.Parameter.empty and repr(parameter.default) not in signature:
            problems.append(f"default {name}={parameter.default!r} missing from the rendered signature")
    doc = inspect.getdoc(fastiou.box_iou) or ""
    example = doc.split("Examples\n--------\n", 1)[1] if "Examples\n--------\n" in doc else ""
    lines = [line for line in example.splitlines() if line.strip()]
    if not lines:
        problems.append("box_iou's docstring has no example to look for")
    for line in lines:
        if squeeze(line) not in text:
            problems.append(f"example line not on the box_iou page: {line!r}")
    return problems


def check_benchmarks(dom: str, text: str) -> list[str]:
    images = re.findall(r'<img[^>]*src="([^"]*summary\.png)"', dom)
    if not images:
        return ["no <img> of summary.png on the benchmark page"]
    return []


PAGES = [
    Page("landing", "index.html", "1280,1400", [check_landing]),
    Page("box_iou", "api/generated/fastiou.box_iou.html", "1280,1600", [check_box_iou]),
    Page("benchmarks", "benchmarks.html", "1280,2000", [check_benchmarks]),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", default=str(HERE / "_build" / "html"), help="the built site")
    parser.add_argument("--screenshots", default=str(HERE / "_build" / "screenshots"),
                        help="where to save the screenshots")
    args = parser.parse_args(argv)

    browser = find_browser()
    if browser is None:
        print(f"SKIP: no Chromium found ({', '.join(BROWSERS)}); to run this check, install it:")
        print(f"    {INSTALL}")
        return 0
    site = Path(args.html)
    if not (site / "index.html").is_file():
        print(f"FAIL: no built site at {site}; build it first:\n"
              "    python -m sphinx -W --keep-going -b html docs docs/_build/html")
        return 1
    shots = Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    server, requests = serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    failures = 0
    try:
        with tempfile.TemporaryDirectory(prefix="fastiou-chromium-") as profile:
            for page in PAGES:
                url = base + page.path
                first = len(requests)
                dom, console = run_browser(browser, url, ["--dump-dom"], profile)
                shot = shots / f"{page.name}.png"
                if shot.exists():
                    shot.unlink()
                _, console2 = run_browser(
                    browser, url,
                    [f"--screenshot={shot}", f"--window-size={page.window}", "--hide-scrollbars"], profile)
                problems = []
                if not dom.strip():
                    problems.append("the browser returned an empty DOM")
                text = text_of(dom)
                for check in page.checks:
                    problems += check(dom, text)
                notes = []
                for message in dict.fromkeys(console + console2):
                    if any(pattern.search(message) for pattern in INFORMATIONAL):
                        notes.append(message)
                    else:
                        problems.append(f"console: {message}")
                for path, status in requests[first:]:
                    if status >= 400:
                        problems.append(f"request {path} answered {status}")
                fetched = [path for path, status in requests[first:] if status < 400]
                if page.name == "benchmarks" and not any(p.endswith("summary.png") for p in fetched):
                    problems.append("the browser did not fetch summary.png")
                if not shot.is_file() or shot.stat().st_size == 0:
                    problems.append(f"no screenshot written to {shot}")
                status = "ok" if not problems else "FAIL"
                print(f"{status:4} {page.name:10} {url}  ({len(fetched)} files fetched, screenshot {shot})")
                for note in notes:
                    print(f"     (console, information: {note.split(', source:')[0]})")
                for problem in problems:
                    print(f"     - {problem}")
                failures += bool(problems)
    finally:
        server.shutdown()
        server.server_close()
    if failures:
        print(f"{failures} of {len(PAGES)} pages failed")
        return 1
    print(f"all {len(PAGES)} pages render without console errors; screenshots in {shots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
