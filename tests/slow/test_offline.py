"""Proof that cogbrowser works with no network at all, from the kit `cogbrowser bundle` makes.

- The kits for Linux (manylinux_x86_64) and Windows (win_amd64) are built here, from this tree and
  PyPI, for the Python running the tests: the Windows one proves every dependency has a Windows
  wheel (it can only be downloaded here, not installed).
- In a network namespace holding nothing but loopback (`unshare --net`: no route leaves the
  machine, no DNS), the Linux kit is installed into a fresh virtual environment with
  `pip --no-index`, `cogbrowser demo` runs from it on a fresh data dir, and Debian's chromium,
  started inside the same namespace, opens both pages: every request the pages make is recorded,
  and every one must go to the app itself (127.0.0.1:PORT); the map's tiles come back as PNGs.
- Everything the app serves (pages, Dash's scripts and styles, the OpenAPI document and its docs
  page, STAC, WMS/WMTS capabilities, TileJSON, the basemap) is scanned for URLs of other hosts;
  see `test_nothing_served_names_another_host` for the rule.

The namespace test is Linux-only by construction (network namespaces are a Linux kernel feature)
and is skipped elsewhere; on Linux it fails, never skips, when no namespace can be made, so CI
cannot pass without the proof. The kits' downloads are cached by pip's own HTTP cache
(~/.cache/pip): a re-run downloads nothing that has not changed.

Run as a script (`python tests/slow/test_offline.py KIT VENV DATA_DIR PORT OUT.json`), this module is
the driver that runs inside the namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from cogbrowser.api.stac import IDENTIFIERS as STAC_IDENTIFIERS

KIT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PORT = 18050  # any port: nothing else listens in a namespace of our own
DRIVER_TIMEOUT = 900  # s: install (~1 min), demo data (~1 min on 2 cores), both pages

# ---------------------------------------------------------------- the kits


@pytest.fixture(scope="module")
def kits(tmp_path_factory):
    """The Linux and the Windows kit for this Python, built once for the module."""
    from cogbrowser.bundle import Target, make_kit

    root = tmp_path_factory.mktemp("kits")
    return {platform: make_kit(Target.of(platform, KIT_PYTHON), root / platform)
            for platform in ("manylinux_x86_64", "win_amd64")}


def wheel_tags(wheel: Path) -> set[str]:
    """The platform tags of a wheel file name (name-version[-build]-python-abi-platform.whl)."""
    return set(wheel.stem.split("-")[-1].split("."))


def test_the_linux_kit_is_complete_and_checksummed(kits):
    kit = kits["manylinux_x86_64"]
    names = {p.name for p in kit.path.iterdir()}
    assert names == {"wheels", "requirements.txt", "install.sh", "README-OFFLINE.md", "SHA256SUMS"}
    assert os.access(kit.path / "install.sh", os.X_OK)
    assert b"\r\n" not in (kit.path / "install.sh").read_bytes()
    wheels = {p.name.split("-")[0].lower().replace("_", "-") for p in kit.wheels}
    assert {"cogbrowser", "pgserver", "numpy", "rasterio", "psycopg-binary", "dash", "waitress"} <= wheels
    assert all(wheel_tags(w) <= {"any"} or any(t.startswith("manylinux") for t in wheel_tags(w)) for w in kit.wheels)
    pinned = (kit.path / "requirements.txt").read_text(encoding="utf-8").splitlines()[1:]
    assert len(pinned) == len(kit.wheels) and all(" --hash=sha256:" in line for line in pinned)
    result = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=kit.path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = {line.split("  ", 1)[1] for line in (kit.path / "SHA256SUMS").read_text(encoding="utf-8").splitlines()}
    files = {p.relative_to(kit.path).as_posix() for p in kit.path.rglob("*") if p.is_file()} - {"SHA256SUMS"}
    assert listed == files
    readme = (kit.path / "README-OFFLINE.md").read_text(encoding="utf-8")
    assert "sh install.sh" in readme and "cogbrowser demo" in readme and "cogbrowser serve" in readme


def test_the_windows_kit_has_a_windows_wheel_for_every_dependency(kits):
    """Every runtime dependency, and what they need on Windows only, as wheels for win_amd64."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from cogbrowser.bundle import Target, read_wheel, walk_requirements

    kit = kits["win_amd64"]
    assert {p.name for p in kit.path.iterdir()} == {
        "wheels", "requirements.txt", "install.bat", "install.ps1", "README-OFFLINE.md", "SHA256SUMS"}
    assert all(wheel_tags(w) <= {"any"} or "win_amd64" in wheel_tags(w) for w in kit.wheels), \
        [w.name for w in kit.wheels if not (wheel_tags(w) <= {"any"} or "win_amd64" in wheel_tags(w))]
    dists = {d.name: d for d in map(read_wheel, kit.wheels)}
    # pyproject's dependencies, as the installed distribution states them, are all in the kit ...
    declared = {canonicalize_name(Requirement(r).name) for r in requires("cogbrowser") or ()
                if "extra ==" not in r}
    assert declared <= set(dists), declared - set(dists)
    # ... with what they need on Windows alone (psycopg's tzdata: `sys_platform == "win32"`) ...
    assert "tzdata" in dists
    needed, missing = walk_requirements(dists, Requirement("cogbrowser"), Target.of("win_amd64", KIT_PYTHON)
                                        .marker_environment())
    assert not missing and needed == set(dists)  # ... and nothing that Windows does not use
    for script in ("install.bat", "install.ps1"):
        data = (kit.path / script).read_bytes()
        assert data.count(b"\r\n") == data.count(b"\n"), f"{script} must have CRLF line endings (cmd needs them)"
        text = data.decode()
        assert "--no-index" in text and "--require-hashes" in text and f"Python {KIT_PYTHON}" in text
    assert "install.bat" in (kit.path / "README-OFFLINE.md").read_text(encoding="utf-8")


def test_bundle_names_the_dependency_without_a_wheel(tmp_path):
    """A dependency with no wheel for the platform fails the command in one line naming it, and
    leaves no kit behind."""
    tree = tmp_path / "cogbrowser source"
    (tree / "src" / "cogbrowser").mkdir(parents=True)
    (tree / "src" / "cogbrowser" / "__init__.py").write_text("", encoding="utf-8")
    (tree / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "cogbrowser"\nversion = "0.0.1"\ndependencies = ["pgserver>=999"]\n', encoding="utf-8")
    out = tmp_path / "kit"
    result = subprocess.run([sys.executable, "-m", "cogbrowser", "bundle", "--platform", "win_amd64", "--python",
                             KIT_PYTHON, "-o", str(out), "--source", str(tree)], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("cogbrowser: error:")]
    assert len(errors) == 1 and errors[0].startswith(
        f"cogbrowser: error: no wheel of pgserver>=999 for win_amd64, CPython {KIT_PYTHON}"), result.stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["cogbrowser source"]


# ---------------------------------------------------------------- installed and served with no network

def namespace_command(command: list[str]) -> list[str]:
    """`command` in a new network namespace whose only interface, loopback, is up. As root a plain
    network namespace; otherwise one inside a user namespace, back to our own uid for the command."""
    up = 'ip link set lo up && exec "$@"'
    if os.geteuid() == 0:
        return ["unshare", "--net", "--", "sh", "-c", up, "sh", *command]
    inner = ["unshare", "--user", f"--map-user={os.getuid()}", f"--map-group={os.getgid()}", "--", *command]
    return ["unshare", "--user", "--map-root-user", "--net", "--", "sh", "-c", up, "sh", *inner]


def check_namespaces_work() -> None:
    """Fail (not skip) with the reason when this machine cannot make a loopback-only namespace."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        pytest.fail("unshare (util-linux) and ip (iproute2) are needed for the offline proof: "
                    "apt-get install util-linux iproute2 (.ci/run does it)")
    connect = "import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)"
    probe = subprocess.run(namespace_command([sys.executable, "-c", connect]), capture_output=True, text=True)
    if "ConnectionRefusedError" not in probe.stderr:  # loopback up, nothing listening: refused
        pytest.fail("cannot make a network namespace with loopback for the offline proof "
                    f"(run the tests as root, or allow unprivileged user namespaces): {probe.stderr.strip()[-300:]}")


@pytest.mark.skipif(sys.platform != "linux", reason="network namespaces exist on Linux only")
def test_the_installed_kit_serves_both_pages_with_no_network(kits, tmp_path):
    check_namespaces_work()
    kit = kits["manylinux_x86_64"].path
    out = tmp_path / "driver.json"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "COGBROWSER_", "CONDA", "VIRTUAL_ENV", "PYTHONPATH"))}  # the kit's own install
    env["PYTHON"] = sys.executable  # the kit is for this Python; the venv it makes is the kit's own
    command = namespace_command([sys.executable, str(Path(__file__).resolve()), str(kit), str(tmp_path / "venv dir"),
                                 str(tmp_path / "data dir"), str(PORT), str(out)])
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=DRIVER_TIMEOUT)
    facts = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    print(f"offline run: {time.monotonic() - started:.0f} s; {json.dumps(facts.get('seconds'))}")
    assert result.returncode == 0 and facts.get("error") is None, \
        f"driver failed: {facts.get('error')}\n{result.stderr[-3000:]}\n{facts.get('log', '')}"

    assert facts["cogbrowser_from"].startswith(str(tmp_path / "venv dir")), facts["cogbrowser_from"]
    assert facts["server"] == "cogbrowser", "the server is not waitress (ident 'cogbrowser')"
    own = f"127.0.0.1:{PORT}"
    foreign = sorted({url for url in facts["requests"]
                      if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != own})
    assert not foreign, f"the pages asked other hosts: {foreign}"
    assert not facts["page_errors"], facts["page_errors"]
    assert facts["documents"] == {"/": 200, "/analytics": 200}
    tiles = [r for r in facts["responses"] if urlsplit(r["url"]).path.startswith(("/wms", "/tiles/"))]
    assert any(r["status"] == 200 and r["type"] == "image/png" for r in tiles), \
        f"no map tile came back as a PNG: {tiles[:5]}"
    assert facts["tiles_drawn"] > 0, "the map drew no tile"
    problems = [f"{url}: {problem}" for url, body in facts["bodies"].items() for problem in foreign_urls(url, body)]
    assert not problems, problems  # what the browser got at run time (callback answers too)


def drive(kit: Path, venv: Path, data_dir: Path, port: int, out: Path) -> None:
    """Inside the namespace: install the kit, run `cogbrowser demo`, open both pages in chromium.
    Writes what happened to `out` as JSON, for the test to judge."""
    facts: dict = {"error": None, "seconds": {}}
    server = None
    log = out.with_name("demo.log")
    os.umask(0o022)  # the embedded PostgreSQL's user (not root) must read the venv
    try:
        started = time.monotonic()
        install = subprocess.run(["sh", str(kit / "install.sh"), str(venv)], capture_output=True, text=True)
        facts["seconds"]["install"] = round(time.monotonic() - started, 1)
        if install.returncode != 0:
            raise RuntimeError(f"install.sh failed: {install.stdout[-1500:]} {install.stderr[-1500:]}")
        facts["cogbrowser_from"] = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import cogbrowser; print(cogbrowser.__file__)"],
            capture_output=True, text=True, check=True).stdout.strip()
        started = time.monotonic()
        with log.open("w", encoding="utf-8") as stream:
            server = subprocess.Popen([str(venv / "bin" / "cogbrowser"), "--data-dir", str(data_dir), "demo",
                                       "--port", str(port)], stdout=stream, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/api/v1/health", server, timeout=600)
        facts["seconds"]["demo_up"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        facts.update(browse(base))
        facts["seconds"]["pages"] = round(time.monotonic() - started, 1)
    except Exception as exc:  # noqa: BLE001 - everything is reported to the test
        facts["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if server is not None:
            stop(server)
        facts["log"] = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""
        out.write_text(json.dumps(facts), encoding="utf-8")


def wait_until_up(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"cogbrowser demo exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"cogbrowser demo did not answer {url} in {timeout:.0f} s")


def stop(server: subprocess.Popen) -> None:
    """Ctrl-C, as a user would (the server then stops its PostgreSQL); killed if it hangs."""
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


TEXT_TYPES = ("text/html", "application/json", "text/css", "javascript", "xml", "geo+json")


def browse(base: str) -> dict:
    """Both pages in chromium, then a shown image on the map; every request and response recorded,
    and the text bodies kept for the URL scan."""
    from playwright.sync_api import sync_playwright

    from chromium import launch

    requests: list[str] = []
    responses: list[dict] = []
    bodies: dict[str, str] = {}
    errors: list[str] = []
    documents: dict[str, int] = {}

    def on_response(response) -> None:
        kind = (response.headers.get("content-type") or "").split(";")[0].strip()
        responses.append({"url": response.url, "status": response.status, "type": kind})
        if response.status == 200 and any(t in kind for t in TEXT_TYPES):
            with contextlib.suppress(Exception):  # a body gone with a navigation
                bodies[response.url] = response.text()

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("response", on_response)
        page.on("pageerror", lambda error: errors.append(str(error)))
        for path in ("/", "/analytics"):
            response = page.goto(base + path, wait_until="networkidle")
            documents[path] = response.status if response else 0
            page.wait_for_selector(".leaflet-container" if path == "/" else "#page *", timeout=60_000)
        server = response.headers.get("server") if response else None
        with urllib.request.urlopen(base + "/api/v1/images?limit=1", timeout=30) as answer:
            image = json.load(answer)["images"][0]["id"]
        with page.expect_response(lambda r: urlsplit(r.url).path.startswith(("/wms", "/tiles/")), timeout=60_000):
            page.goto(f"{base}/?image={image}", wait_until="networkidle")
        page.wait_for_load_state("networkidle")
        drawn = page.evaluate("() => [...document.querySelectorAll('img.leaflet-tile-loaded')]"
                              ".filter(img => img.naturalWidth > 0).length")
        browser.close()
    return {"requests": requests, "responses": responses, "bodies": bodies, "page_errors": errors,
            "documents": documents, "server": server, "tiles_drawn": drawn}


# ---------------------------------------------------------------- what the app serves names no other host

# URLs that are names, not places: nothing fetches them. Matched as prefixes; each says why.
ALLOWED_IDENTIFIERS = (
    "http://www.opengis.net/",  # OGC namespace URIs of the capabilities (wms, wmts, ows, sld) and OGC API ids
    "http://www.w3.org/1999/xlink",  # the XLink namespace of the capabilities' OnlineResource elements
    *STAC_IDENTIFIERS.values(),  # STAC conformance classes and extension schema ids, as listed in api/stac.py
)
URL = re.compile(r"""(?:https?|wss?|ftp)://[^\s"'<>()\\`]+"""  # absolute
                 r"""|(?<=["'(])//[a-z0-9.-]+\.[a-z]{2,}/[^\s"'<>()\\`]*""",  # protocol-relative, in src/href/url()
                 re.IGNORECASE)
# In third-party JavaScript, an absolute URL only matters where the code would request it. (An
# anchor's `.href = "https://..."`, e.g. Plotly's "Produced with Plotly" logo, is a link a user
# could follow, not a request: on an air-gapped network it leads nowhere and loads nothing.)
JS_FETCHED = re.compile(
    r"""(?:fetch|importScripts|import|WebSocket|EventSource|open\(\s*["'][A-Z]+["']\s*,)\s*\(?\s*["'`]"""
    r"""(?:(?:https?|wss?):)?//[^"'`]+|(?:\.src|sourceMappingURL)\s*=\s*["'`]?(?:(?:https?|wss?):)?//[^"'`\s]*""")
# Requests third-party bundles make only for features cogbrowser does not use; each says why.
JS_ALLOWED_FETCHES = (
    # Plotly's map traces (MapLibre) load missing style icons from a CDN; cogbrowser draws no
    # Plotly map trace (test_no_plotly_trace_that_fetches_from_the_internet), its maps are Leaflet.
    ".src=`https://cdn.jsdelivr.net/npm/@mapbox/maki@",
)


def foreign_urls(url: str, body: str) -> list[str]:
    """What in a served document points to another host: every absolute URL in HTML, JSON, XML
    and CSS that is not the server's own nor a standard identifier; in JavaScript only URLs where
    the code would fetch them (fetch, import, script/link src and href, WebSocket, XHR open,
    source maps). Third-party bundles (React, Plotly, Leaflet) carry links to their docs and
    licences in comments and error messages, which no page ever requests; the request recording
    of the namespace test proves that nothing else is fetched either."""
    own = urlsplit(url).netloc
    path = urlsplit(url).path
    if path.endswith(".js") or "javascript" in path:
        return [m.group(0)[:120] for m in JS_FETCHED.finditer(body)
                if own not in m.group(0) and not m.group(0).startswith(JS_ALLOWED_FETCHES)]
    found = []
    for match in URL.finditer(body):
        text = match.group(0)
        host = urlsplit(text if "://" in text else "http:" + text).netloc
        if host != own and not text.startswith(ALLOWED_IDENTIFIERS):
            found.append(text[:120])
    return sorted(set(found))


def served_documents(base: str) -> dict[str, str]:
    """Every document of the app's fixed surfaces, and every script and stylesheet the pages link."""
    import requests

    images = requests.get(f"{base}/api/v1/images", params={"limit": 5}, timeout=30).json()["images"]
    collections = [c["id"] for c in requests.get(f"{base}/api/v1/collections", timeout=30).json()["collections"]]
    image, collection = images[0]["id"], collections[0]
    paths = ["/", "/analytics", "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/health", "/api/v1/images",
             f"/api/v1/images/{image}", "/api/v1/collections", "/api/v1/detections?limit=20",
             "/stac", "/stac/conformance", "/stac/collections", f"/stac/collections/{collection}",
             f"/stac/collections/{collection}/items", "/stac/search?limit=20",
             "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
             "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1",
             "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities", "/wmts/1.0.0/WMTSCapabilities.xml",
             f"/tiles/{image}/WebMercatorQuad/tilejson.json", f"/tiles/{collection}/WebMercatorQuad/tilejson.json",
             "/_dash-layout", "/_dash-dependencies"]
    from cogbrowser.ui.basemap import LAYERS

    paths += [f"/ui/basemap/{name}.geojson" for name in LAYERS]
    documents: dict[str, str] = {}
    for path in paths:
        response = requests.get(base + path, timeout=60)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        documents[base + path] = response.text
    linked = set(dash_scripts(base))
    for page in ("/", "/analytics", "/api/v1/docs"):
        linked |= {urljoin(base + page, ref) for ref in re.findall(r"""(?:src|href)=["']([^"']+)["']""",
                                                                   documents[base + page])}
    for link in sorted(linked):
        if urlsplit(link).netloc == urlsplit(base).netloc and link not in documents:
            response = requests.get(link, timeout=60)
            if response.ok and any(t in response.headers.get("content-type", "") for t in TEXT_TYPES):
                documents[link] = response.text
    return documents


def dash_scripts(base: str) -> list[str]:
    """Every script Dash may serve the pages, the lazily loaded ones too (Plotly's bundle, the
    async chunks of dcc, dash_table and dash_leaflet), which no page links in its HTML."""
    import dash_leaflet
    from dash import dash_table, dcc, html

    urls = []
    for module in (dcc, html, dash_table, dash_leaflet):
        for entry in module._js_dist:
            paths = entry.get("relative_package_path") or []
            for path in [paths] if isinstance(paths, str) else paths:
                if path.endswith(".js") and not entry.get("dev_only"):
                    urls.append(f"{base}/_dash-component-suites/{entry['namespace']}/{path}")
    return urls


def test_nothing_served_names_another_host(demo_server):
    base = demo_server[0]
    documents = served_documents(base)
    assert any(url.endswith("/plotly.min.js") for url in documents), "Plotly's bundle was not scanned"
    assert any(url.endswith(".css") or ".css?" in url for url in documents), "no stylesheet was scanned"
    problems = {url: found for url, body in documents.items() if (found := foreign_urls(url, body))}
    assert not problems, json.dumps(problems, indent=1)[:4000]


def test_the_url_rule_catches_what_would_be_fetched():
    page = "http://127.0.0.1:8050/"
    assert foreign_urls(page, '<script src="https://cdn.example.org/react.js"></script>')
    assert foreign_urls(page, '<link href="//fonts.example.com/css" rel="stylesheet">')
    assert foreign_urls(page + "x.css", "body{background:url(https://tiles.example.org/a.png)}")
    assert foreign_urls(page + "a.js", 'fetch("https://api.example.org/v1")')
    assert foreign_urls(page + "a.js", "x.src = 'https://tile.example.org/1/2/3.png'")
    assert foreign_urls(page + "a.js", 'import("https://esm.example.org/mod.js")')
    assert not foreign_urls(page + "a.js", 'logo.href="https://plotly.com/"')
    assert not foreign_urls(page + "a.js", "/* see https://reactjs.org/docs/error-decoder.html */")
    assert not foreign_urls(page, '<a href="http://127.0.0.1:8050/analytics">')
    assert not foreign_urls(page, '<Capabilities xmlns="http://www.opengis.net/wms">')


# Plotly traces that fetch from the Internet: geo traces load their world outlines (topojson)
# from cdn.plot.ly, map traces their styles, tiles and icons from map providers.
FETCHING_TRACES = re.compile(r"\b(scatter_?geo|line_geo|choropleth(_?map(box)?)?|scatter_?map(box)?|line_map(box)?"
                             r"|density_?map(box)?)\b", re.IGNORECASE)


def test_no_plotly_trace_that_fetches_from_the_internet():
    """The pages' charts use no Plotly geo or map trace: those would ask the Internet for their
    basemaps (the static scan cannot see it: the URLs are in Plotly's defaults)."""
    package = Path(__file__).resolve().parents[2] / "src" / "cogbrowser"
    sources = sorted(package.rglob("*.py")) + sorted(package.rglob("*.js"))
    uses = [f"{path.relative_to(package)}:{number}: {line.strip()}" for path in sources
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if FETCHING_TRACES.search(line)]
    assert not uses, uses


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))  # chromium.py, as pytest's pythonpath has it
    drive(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
