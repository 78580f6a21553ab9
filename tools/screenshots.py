"""Regenerate docs/screenshots/: the Browse and Analytics pages on the demo data, as a reader of the
README sees them before installing anything.

    python tools/screenshots.py [--data-dir DIR] [--keep]

Starts `python -m cogbrowser demo` (making the demo data set the first time, in DIR or a temporary
folder), drives Debian's chromium with Playwright at 1600x900, and writes browse.png,
browse-ndvi.png, browse-compare.png (a swipe between two dates), places.png (place names on, the
search box's suggestions open) and analytics.png. Needs
`pip install ".[test]"` (for Playwright) and chromium.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import chromium  # tools/chromium.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
SIZE = {"width": 1600, "height": 900}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "COGBROWSER_DATABASE_URL"}
    server = subprocess.Popen([sys.executable, "-m", "cogbrowser", "--data-dir", str(data_dir), "demo",
                               "--port", str(port)], env=env)
    deadline = time.time() + 600
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"cogbrowser demo exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(1)
    server.terminate()
    raise SystemExit("cogbrowser demo did not answer within 10 minutes")


def shoot(base: str) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = chromium.launch(playwright)
        page = browser.new_page(viewport=SIZE)
        with urllib.request.urlopen(f"{base}/api/v1/images?collections=sentinel2-demo&max_cloud_cover=10&limit=1") \
                as answer:
            import json

            image = json.load(answer)["images"][0]["id"]
        with urllib.request.urlopen(f"{base}/api/v1/images?collections=sentinel2-demo&sortby=acquired_at&limit=1") \
                as answer:
            earliest = json.load(answer)["images"][0]["id"]
        for name, query in (("browse", f"?image={image}&style=true-color"),
                            ("browse-ndvi", f"?image={image}&style=ndvi"),
                            ("browse-compare", f"?image={image}&style=ndvi&compare={earliest}&swipe=0.5")):
            page.goto(f"{base}/{query}", wait_until="networkidle")
            page.wait_for_timeout(1500)  # tiles fade in
            page.screenshot(path=str(OUT / f"{name}.png"))
        shoot_places(page, base, image)
        page.goto(f"{base}/analytics", wait_until="networkidle")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(OUT / "analytics.png"))
        browser.close()


def shoot_places(page, base: str, image: str) -> None:
    """The map around the demo with its place names, and the search box suggesting as one types."""
    page.goto(f"{base}/?lat=45.76&lon=13.62&zoom=10&image={image}&style=true-color&labels=1", wait_until="networkidle")
    page.wait_for_timeout(1500)
    page.locator("#browse-place-search").press_sequentially("trie", delay=60)
    page.wait_for_selector("#browse-place-suggestions .place-suggestion")
    page.wait_for_timeout(500)
    page.screenshot(path=str(OUT / "places.png"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a data dir to reuse (default: a temporary one)")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="cogbrowser-shots-")) / "data"
    port = free_port()
    server = start_demo(data_dir, port)
    try:
        shoot(f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=60)
    for path in sorted(OUT.glob("*.png")):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
