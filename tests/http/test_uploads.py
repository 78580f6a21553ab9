"""Uploads over HTTP (`POST /api/v1/images`) and background jobs, on a real waitress server set up
as `cogbrowser serve` sets it up (web/server.py's front, request bodies spooled in DATA_DIR/tmp).

Every real raster, uploaded raw or as a form, becomes the image the CLI makes, with the same pixels;
every failure answers a precise problem and leaves the data dir (every file, with its size), the
catalog (row counts) and waitress's spool exactly as they were — compared, not assumed.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from cogbrowser.api import uploads
from cogbrowser.catalog import queries
from cogbrowser.catalog.files import image_file
from cogbrowser.config import Settings
from cogbrowser.ingest import images as ingest_module
from cogbrowser.ingest import workfiles
from cogbrowser.web.tokens import hash_token
from helpers import HOSTILE_DATA, HOSTILE_LIMITS, REAL_DATA, real_rasters, serving, shared_catalog

LIMIT = 6_000_000  # the test server's max_upload_bytes: above every real raster (at most 4 MB)
TOKEN = "cgb_upload-tests-0123456789abcdefghijklmnopqrstu"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TABLES = ("images", "detections", "collections")
REFUSED = {"cog_hirise_mars.tif": "not on the Earth"}  # as in test_ingest: the one real raster refused


@dataclasses.dataclass
class Server:
    url: str
    settings: Settings
    db: object

    @property
    def images(self) -> str:
        return f"{self.url}/api/v1/images"


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory) -> Iterator[Server]:
    """One server for the module, with the waitress options and spool folder of `cogbrowser serve`."""
    with shared_catalog(postgres, tmp_path_factory.mktemp("uploads")) as (base, db), \
            pytest.MonkeyPatch.context() as patch:
        settings = dataclasses.replace(base, max_upload_bytes=LIMIT)
        patch.setattr(tempfile, "tempdir", tempfile.tempdir)  # put back after the module
        uploads.prepare_upload_dir(settings)
        with db.connection() as conn:
            assert queries.create_token(conn, "uploads", hash_token(TOKEN)) is not None
        with serving(settings, db) as url:
            yield Server(url, settings, db)


# ---------------------------------------------------------------- helpers

def synthetic_tiff(seed: int, size: int = 64) -> bytes:
    """A small georeferenced GeoTIFF of random pixels: bytes the catalog has never seen."""
    rng = np.random.default_rng(seed)
    with MemoryFile() as memory:
        with memory.open(driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:32633",
                         transform=from_origin(500000 + 1000 * seed, 5400000, 10, 10)) as dst:
            dst.write(rng.integers(0, 255, (1, size, size), dtype="uint8"))
        return memory.read()


_seeds = iter(range(1, 10**6))


def new_tiff() -> bytes:
    return synthetic_tiff(next(_seeds))


def post(server: Server, data: bytes, name: str | None, *, form: bool = False, params: dict | None = None,
         headers: dict | None = None) -> requests.Response:
    """Upload `data` as a raw body (named by ?filename=) or as a form's `file`; redirects not followed."""
    params = dict(params or {})
    if form:
        return requests.post(server.images, params=params, files={"file": (name, data, "image/tiff")},
                             headers={**AUTH, **(headers or {})}, allow_redirects=False, timeout=300)
    if name is not None:
        params.setdefault("filename", name)
    return requests.post(server.images, params=params, data=data, allow_redirects=False, timeout=300,
                         headers={**AUTH, "Content-Type": "image/tiff", **(headers or {})})


def problem(response: requests.Response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.headers
    document = response.json()
    assert document["status"] == status and document["title"]
    for word in words:
        assert word in document["detail"], (word, document["detail"])
    return document


def finished(location: str, timeout: float = 120) -> dict:
    """Poll a job until it has succeeded or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(location, timeout=30).json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {location} did not finish in {timeout} s")


def open_spool_files(settings: Settings) -> list[str]:
    """Files this process holds open under DATA_DIR/tmp: waitress's spooled bodies, which on Linux
    have no name (O_TMPFILE) and show only here. (On Windows they are named files: listed anyway.)"""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return []
    found = []
    for fd in fd_dir.iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith(str(settings.tmp_dir)):
            found.append(target)
    return sorted(found)


def wait_until(condition: Callable[[], object], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        time.sleep(0.02)


def jobs_idle(server: Server) -> bool:
    jobs = requests.get(f"{server.url}/api/v1/jobs", timeout=30).json()["jobs"]
    return all(job["state"] in ("succeeded", "failed") for job in jobs)


def state(server: Server) -> dict:
    """Every file and folder under the data dir with its size, the catalog's row counts, and the
    files open in the spool folder, once no job is running."""
    wait_until(lambda: jobs_idle(server))
    data_dir = server.settings.data_dir
    files = {str(p.relative_to(data_dir)): p.stat().st_size if p.is_file() else "folder"
             for p in sorted(data_dir.rglob("*"))}
    with server.db.connection() as conn:
        rows = {table: conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] for table in TABLES}
    return {"files": files, "rows": rows, "spooled": open_spool_files(server.settings)}


def same_pixels(source: Path | bytes, cog: Path) -> None:
    """The COG's full-resolution pixels and validity mask are the source's, exactly."""
    opened = rasterio.open(source) if isinstance(source, Path) else MemoryFile(source).open()
    with opened as src, rasterio.open(cog) as out:
        assert (out.width, out.height, out.count, out.crs) == (src.width, src.height, src.count, src.crs)
        assert out.transform.almost_equals(src.transform)
        assert np.array_equal(src.read(), out.read(), equal_nan=True)
        assert np.array_equal(src.dataset_mask(), out.dataset_mask())


def cog_of(server: Server, image_id: str) -> Path:
    with server.db.connection() as conn:
        row = queries.get_image(conn, image_id)
    return image_file(server.settings, row)


# ---------------------------------------------------------------- every real raster

def test_every_real_raster_uploads_to_a_cog_with_the_same_pixels(server):
    sources = real_rasters()
    assert len(sources) == 39, f"expected the 39 rasters of MANIFEST.md under {REAL_DATA}"

    def send(item: tuple[int, Path]) -> requests.Response:
        index, source = item  # forms and raw bodies, mixed; four at a time
        return post(server, source.read_bytes(), source.name, form=index % 2 == 0, params={"wait": "true"})

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, enumerate(sources)))
    for source, answer in zip(sources, answers):
        if source.name in REFUSED:
            problem(answer, 422, source.name, REFUSED[source.name])
            continue
        assert answer.status_code == 201, (source, answer.text)
        image = answer.json()
        assert answer.headers["Location"] == f"{server.images}/{image['id']}"
        assert requests.get(answer.headers["Location"], timeout=30).json() == image, "the JSON of GET"
        assert image["size_bytes"] == cog_of(server, image["id"]).stat().st_size
        same_pixels(source, cog_of(server, image["id"]))
    ids = [a.json()["id"] for a in answers if a.status_code == 201]
    assert len(set(ids)) == 38 and {"cog", "cog-2"} <= set(ids), "same stems are made unique"
    assert list(server.settings.tmp_dir.iterdir()) == [] and open_spool_files(server.settings) == []


# ---------------------------------------------------------------- what a successful upload answers

def test_parameters_are_those_of_the_cli_ingest(server):
    data = new_tiff()
    answer = requests.post(server.images, data=data, timeout=60, headers={
        **AUTH, "Content-Type": "application/octet-stream", "Content-Disposition": 'attachment; filename="a b.tif"'},
        params={"collection": "uploaded", "image_id": "scene-1", "acquired_at": "2024-06-17T10:30:00Z",
                "cloud_cover": "12.5", "title": "A scene", "nodata": "0"})
    assert answer.status_code == 201, answer.text
    image = answer.json()
    assert (image["id"], image["collection_id"], image["title"]) == ("scene-1", "uploaded", "A scene")
    assert image["acquired_at"].startswith("2024-06-17T10:30:00") and image["cloud_cover"] == 12.5
    assert image["nodata"] == 0
    default = post(server, new_tiff(), "Scene 2 (copy).tif", params={"acquired_at": "2024-06-17"})
    assert default.status_code == 201, default.text
    assert default.json()["id"] == "Scene-2-copy" and default.json()["title"] == "Scene 2 (copy)", "the file's stem"
    assert default.json()["acquired_at"].startswith("2024-06-17T00:00:00"), "a day, as the CLI takes it"


def test_a_chunked_body_and_a_form_are_streamed_to_the_data_dir(server, monkeypatch):
    def no_default_spool(*args, **kwargs):
        raise AssertionError("werkzeug's own spool (the system temp folder) must not be used")

    monkeypatch.setattr("werkzeug.formparser.default_stream_factory", no_default_spool)
    data = new_tiff()
    chunked = requests.post(server.images, data=iter([data[:1000], data[1000:]]), params={"filename": "c.tif"},
                            headers={**AUTH, "Content-Type": "image/tiff"}, timeout=60)
    assert chunked.status_code == 201, chunked.text
    same_pixels(data, cog_of(server, chunked.json()["id"]))
    form = post(server, new_tiff(), "../../scenes/f.tif", form=True)
    assert form.status_code == 201 and form.json()["id"] == "f", "the name's last part only"


def test_a_file_already_in_the_catalog_answers_303_to_its_image(server):
    data = new_tiff()
    first = post(server, data, "once.tif")
    assert first.status_code == 201, first.text
    before = state(server)
    again = post(server, data, "again.tif", form=True, params={"collection": "other"})
    assert again.status_code == 303, again.text
    assert again.headers["Location"] == first.headers["Location"]
    assert again.json()["image_id"] == first.json()["id"] and "already" in again.json()["detail"]
    followed = requests.get(again.headers["Location"], timeout=30)
    assert followed.json() == requests.get(first.headers["Location"], timeout=30).json()
    assert state(server) == before, "nothing changed"
    queued = post(server, data, "again.tif", params={"wait": "false"})
    job = finished(queued.headers["Location"])
    assert (job["state"], job["result"], job["image_id"]) == ("succeeded", "existing", first.json()["id"])


def test_a_taken_image_id_is_a_conflict(server):
    first = post(server, new_tiff(), "x.tif", params={"image_id": "taken"})
    assert first.status_code == 201, first.text
    before = state(server)
    problem(post(server, new_tiff(), "y.tif", params={"image_id": "taken"}), 409, "'taken'", "already taken")
    assert state(server) == before


# ---------------------------------------------------------------- jobs

def test_a_large_upload_is_a_job_to_poll(server, monkeypatch):
    monkeypatch.setattr(uploads, "SYNC_MAX_BYTES", 1000)  # every file is "large" now
    data = new_tiff()
    answer = post(server, data, "big.tif")
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert answer.headers["Location"] == f"{server.url}/api/v1/jobs/{accepted['id']}"
    assert accepted["state"] in ("queued", "running", "succeeded") and accepted["filename"] == "big.tif"
    assert accepted["size_bytes"] == len(data)
    job = finished(answer.headers["Location"])
    assert (job["state"], job["result"], job["stage"], job["progress"]) == ("succeeded", "created", "done", 100)
    assert job["created_at"] <= job["started_at"] <= job["finished_at"] and job["error"] is None
    image = requests.get(job["image_url"], timeout=30)
    assert image.status_code == 200 and image.json()["id"] == job["image_id"] == "big"
    same_pixels(data, cog_of(server, "big"))
    listed = requests.get(f"{server.url}/api/v1/jobs", params={"state": "succeeded", "limit": 5}, timeout=30).json()
    assert listed["jobs"][0]["id"] == job["id"], "newest first"
    waited = post(server, new_tiff(), "waited.tif", params={"wait": "true"})
    assert waited.status_code == 201, "wait=true waits whatever the size"


def test_a_failing_job_says_why_and_leaves_nothing(server):
    before = state(server)
    cog = (REAL_DATA / "titiler/TCI.tif").read_bytes()
    truncated = cog[: len(cog) // 2]  # a COG's header comes first: it passes the pre-check, its tiles are cut
    answer = post(server, truncated, "cut.tif", params={"wait": "false"})
    assert answer.status_code == 202, answer.text
    job = finished(answer.headers["Location"])
    assert job["state"] == "failed" and job["image_id"] is None and job["image_url"] is None
    assert job["error"]["status"] == 422 and "truncated or corrupt" in job["error"]["detail"]
    assert "cut.tif" in job["error"]["detail"] and "upload-" not in job["error"]["detail"], "no server path"
    assert state(server) == before


def test_a_file_that_is_no_raster_is_refused_at_once_not_queued(server):
    before = state(server)
    answer = post(server, b"this is not a raster\n" * 5000, "notes.tif", params={"wait": "false"})
    problem(answer, 422, "notes.tif", "not a readable raster")
    assert "upload-" not in answer.text, "no server path"
    assert state(server) == before


@pytest.mark.parametrize("name", list(HOSTILE_LIMITS))
def test_a_file_declaring_absurd_work_is_refused_at_the_precheck_and_leaves_nothing(server, name):
    """A small file declaring 40 G pixels, 65,535 bands or a 10 GB strip is refused in its request
    (not queued: no job, nothing kept waiting), with a 422 that names the limit and its setting."""
    before = state(server)
    jobs_before = requests.get(f"{server.url}/api/v1/jobs", timeout=30).json()["count"]
    started = time.monotonic()
    answer = post(server, (HOSTILE_DATA / name).read_bytes(), name, params={"wait": "false"})
    seconds = time.monotonic() - started
    problem(answer, 422, name, "at most", HOSTILE_LIMITS[name])
    assert seconds < 5, f"refused after {seconds:.1f} s: the pre-check reads headers only"
    assert requests.get(f"{server.url}/api/v1/jobs", timeout=30).json()["count"] == jobs_before, "no job"
    assert state(server) == before


def test_unknown_job_is_404(server):
    problem(requests.get(f"{server.url}/api/v1/jobs/{uuid.uuid4().hex}", timeout=30), 404, "no job")


# ---------------------------------------------------------------- failures leave nothing

def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "b0undary") -> tuple[bytes, dict]:
    """A multipart/form-data body from (field, filename or None, content) parts."""
    out = io.BytesIO()
    for field, filename, content in parts:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename is not None else "")
        out.write(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def _no_georeference() -> bytes:
    with MemoryFile() as memory:
        with memory.open(driver="GTiff", width=16, height=16, count=1, dtype="uint8") as dst:
            dst.write(np.zeros((1, 16, 16), dtype="uint8"))
        return memory.read()


def _bad_requests() -> dict[str, tuple[Callable[[Server], requests.Response], int, tuple[str, ...]]]:
    """Requests a user might make by mistake, each with the status and words of its refusal."""
    rgb = (REAL_DATA / "rasterio/RGB.byte.tif").read_bytes()
    tci = (REAL_DATA / "titiler/TCI.tif").read_bytes()
    tiff = synthetic_tiff(999_999)

    def raw_with(content_type: str) -> Callable[[Server], requests.Response]:
        return lambda s: requests.post(s.images, data=tiff, params={"filename": "a.tif"}, timeout=60,
                                       headers={**AUTH, "Content-Type": content_type})

    def form(parts) -> Callable[[Server], requests.Response]:
        body, headers = _multipart(parts)
        return lambda s: requests.post(s.images, data=body, headers={**AUTH, **headers}, timeout=60)

    whole, headers = _multipart([("file", "cut.tif", tiff)])
    return {
        "text": (lambda s: post(s, b"this is not a raster\n" * 50, "notes.tif"), 422, ("not a readable raster",)),
        "truncated TIFF": (lambda s: post(s, rgb[:600_000], "cut.tif", form=True), 422, ("truncated or corrupt",)),
        "truncated COG": (lambda s: post(s, tci[: len(tci) // 2], "half.tif"), 422, ("truncated or corrupt",)),
        "no georeference": (lambda s: post(s, _no_georeference(), "plain.tif"), 422, ("no georeference",)),
        "Mars": (lambda s: post(s, (REAL_DATA / "rio-tiler/cog_hirise_mars.tif").read_bytes(), "mars.tif",
                                form=True, params={"image_id": "mars"}), 422, ("mars.tif", "not on the Earth")),
        "empty body": (lambda s: post(s, b"", "empty.tif"), 400, ("empty",)),
        "empty form file": (lambda s: post(s, b"", "empty.tif", form=True), 400, ("empty",)),
        "unnamed body": (lambda s: post(s, tiff, None), 400, ("filename",)),
        "unusable name": (lambda s: post(s, tiff, ".."), 400, ("no usable name",)),
        "JSON body": (raw_with("application/json"), 415, ("application/json",)),
        "urlencoded body": (raw_with("application/x-www-form-urlencoded"), 415, ("multipart/form-data",)),
        "text body": (raw_with("text/plain"), 415, ("text/plain",)),
        "form without file": (form([("other", "a.tif", tiff)]), 400, ("no `file` field",)),
        "form with a plain file field": (form([("file", None, b"abc")]), 400, ("plain field",)),
        "form with another field": (form([("file", "a.tif", tiff), ("title", None, b"x")]), 400, ("title",)),
        "form with two files": (form([("file", "a.tif", tiff), ("file", "b.tif", tiff)]), 400, ("more than one",)),
        "form cut short": (lambda s: requests.post(s.images, data=whole[:-20], headers={**AUTH, **headers},
                                                   timeout=60), 400, ("malformed or incomplete",)),
        "form without boundary": (raw_with("multipart/form-data"), 400, ("boundary",)),
        "bad parameter": (lambda s: post(s, tiff, "a.tif", params={"cloud_cover": "150"}), 400, ("cloud_cover",)),
        "bad time": (lambda s: post(s, tiff, "a.tif", params={"acquired_at": "soon"}), 400, ("acquired_at",)),
        "unknown parameter": (lambda s: post(s, tiff, "a.tif", params={"colection": "x"}), 400, ("colection",)),
        "too large body": (lambda s: post(s, b"\0" * (LIMIT + 1), "big.tif"), 413, (f"{LIMIT:,}",)),
        "too large form file": (lambda s: post(s, b"\0" * (LIMIT + 1), "big.tif", form=True), 413, (f"{LIMIT:,}",)),
        "no token": (lambda s: requests.post(s.images, data=tiff, params={"filename": "a.tif"}, timeout=60), 401,
                     ("token",)),
        "wrong token": (lambda s: requests.post(s.images, data=tiff, params={"filename": "a.tif"}, timeout=60,
                                                headers={"Authorization": "Bearer cgb_wrong"}), 401, ("not valid",)),
    }


BAD_REQUESTS = _bad_requests()


@pytest.mark.parametrize("kind", list(BAD_REQUESTS))
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_a_bad_upload_is_refused_precisely_and_leaves_nothing(server, kind):
    send, status, words = BAD_REQUESTS[kind]
    before = state(server)
    answer = send(server)
    problem(answer, status, *words)
    assert "Traceback" not in answer.text and str(server.settings.data_dir) not in answer.text
    assert state(server) == before


def test_a_body_over_waitress_limit_is_refused_before_it_is_read(server):
    before = state(server)
    host, port = server.url.removeprefix("http://").split(":")
    over = LIMIT + uploads.FORM_MARGIN + 1
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /api/v1/images?filename=a.tif HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}"
                     f"\r\nContent-Type: image/tiff\r\nContent-Length: {over}\r\n\r\n".encode())
        reply = sock.recv(4096).decode("latin-1")  # answered at once: not one byte of the body was sent
    assert reply.startswith("HTTP/1.1 413"), reply
    assert state(server) == before


def test_a_client_gone_mid_body_leaves_nothing(server):
    before = state(server)
    body = (REAL_DATA / "titiler/cog1.tif").read_bytes()
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /api/v1/images?filename=cog1.tif HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer "
                     f"{TOKEN}\r\nContent-Type: image/tiff\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        sock.sendall(body[: len(body) // 2])
        # waitress spools the half body in DATA_DIR/tmp (a nameless file on Linux, a named one on Windows)
        wait_until(lambda: open_spool_files(server.settings) or state(server)["files"] != before["files"])
    wait_until(lambda: state(server) == before)
    assert state(server) == before


def _full_disk_after(limit: int):
    """An _open_new whose files take `limit` bytes and then fail as a full disk does."""
    real_open = uploads._open_new

    class FillingUp(io.RawIOBase):
        def __init__(self, path: Path) -> None:
            self.inner, self.written = real_open(path), 0

        def write(self, data) -> int:
            if self.written + len(data) > limit:
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
            self.written += len(data)
            return self.inner.write(data)

        def seek(self, offset, whence=0) -> int:
            return self.inner.seek(offset, whence)

        def close(self) -> None:
            self.inner.close()
            super().close()

    return FillingUp


@pytest.mark.parametrize("form", [False, True], ids=["raw", "form"])
def test_a_full_disk_while_receiving_is_507_and_leaves_nothing(server, monkeypatch, form):
    monkeypatch.setattr(uploads, "_open_new", _full_disk_after(1_500_000))
    before = state(server)
    body = (REAL_DATA / "titiler/cog2.tif").read_bytes()  # 2.8 MB: the disk "fills up" half way
    problem(post(server, body, "cog2.tif", form=form), 507, "disk is full")
    assert state(server) == before


def test_a_full_disk_during_the_ingest_fails_the_job_with_507(server, monkeypatch):
    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    before = state(server)
    monkeypatch.setattr(ingest_module.os, "replace", full)  # the COG's move into cogs/, in the row's transaction
    answer = post(server, new_tiff(), "full.tif", params={"wait": "false"})
    job = finished(answer.headers["Location"])
    assert job["state"] == "failed" and job["error"]["status"] == 507, job
    monkeypatch.undo()
    assert state(server) == before


def test_too_little_free_space_is_refused_before_copying(server, monkeypatch):
    monkeypatch.setattr(uploads, "_free_bytes", lambda folder: 1000)
    before = state(server)
    problem(post(server, new_tiff(), "a.tif"), 507, "1,000 bytes free")
    assert state(server) == before


# ---------------------------------------------------------------- the server's set-up

def test_waitress_takes_bodies_as_large_as_the_upload_limit(tmp_path):
    from cogbrowser.web.server import server_options

    options = server_options(Settings(data_dir=tmp_path))
    assert options["max_request_body_size"] > 20 * 1000**3, "the 20 GB default, plus a form's overhead"
    assert options["recv_bytes"] >= 64 * 1024


def test_upload_folders_and_spools_of_a_dead_server_are_swept_at_once_at_start(tmp_path):
    settings = Settings(data_dir=tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", tempfile.tempdir)
        patch.setattr(tempfile, "template", tempfile.template)
        uploads.prepare_upload_dir(settings)
        ours = workfiles.work_path(settings, kind="upload")  # this process's upload in progress
        ours.mkdir()
        with tempfile.NamedTemporaryFile(delete=False) as spooled:  # named as a Windows spool is
            pass
        dead = dead_process_tag()
        left = [settings.tmp_dir / f"{dead}-upload-0123", settings.tmp_dir / f"{dead}-spool-x1y2"]
        left[0].mkdir()
        (left[0] / "scene.tif").write_bytes(b"left by a killed server")
        left[1].write_bytes(b"half a body")
        uploads.prepare_upload_dir(settings)  # the next start: nothing to wait for
    assert not any(path.exists() for path in left)
    assert ours.is_dir() and Path(spooled.name).is_file() and Path(spooled.name).parent == settings.tmp_dir
    assert Path(spooled.name).name.startswith(workfiles.owner_tag())


def dead_process_tag() -> str:
    """The work-file tag of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        return workfiles._tag(child.pid)
    finally:
        child.kill()
        child.wait()


def test_openapi_declares_the_upload_and_the_jobs(server):
    document = requests.get(f"{server.url}/api/v1/openapi.json", timeout=30).json()
    upload = document["paths"]["/api/v1/images"]["post"]
    assert upload["security"] == [{"token": []}]
    assert {"201", "202", "303", "413", "415", "422", "507"} <= set(upload["responses"])
    assert {"multipart/form-data", "application/octet-stream"} <= set(upload["requestBody"]["content"])
    assert {p["name"] for p in upload["parameters"]} == {"collection", "image_id", "acquired_at", "cloud_cover",
                                                         "title", "nodata", "filename", "wait"}
    assert "get" in document["paths"]["/api/v1/images"], "search and upload share the path"
    assert "/api/v1/jobs/{job_id}" in document["paths"] and "/api/v1/jobs" in document["paths"]
