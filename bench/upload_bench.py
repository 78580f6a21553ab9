"""Upload benchmark: a ~1 GB GeoTIFF sent to the real `cogbrowser serve` over HTTP, raw and as a form.

    python bench/upload_bench.py [--size 12800] [--workdir DIR] [--drop-source] [--quick]

The source is ingest_bench.py's synthetic scene at 12800 x 12800 (4 bands uint16, DEFLATE, tiled,
no overviews: about 1 GB, so the server must convert it), cached in the work dir. A token is made
with `cogbrowser token create`, then `python -m cogbrowser --data-dir DIR serve` runs as a
subprocess with a throw-away data dir, and the file is uploaded twice with `wait=false`, by a
streaming client (http.client; the file goes out with socket.sendfile, never read into memory):

  raw   POST /api/v1/images?filename=...   the body is the file (Content-Type: image/tiff)
  form  POST /api/v1/images                multipart/form-data, the file as the `file` field

Each run's image is deleted before the next, so the second is not "already in the catalog". For
each the script reports, from the client's clock and the job's timestamps (same machine, same clock):

  upload    first byte sent -> the job exists, i.e. the whole file is in DATA_DIR/tmp on the
            server's disk (waitress spooled the body, the app copied it out): the network part
  ingest    the job's started_at -> finished_at: ingest_file(), the CLI's own ingest
  total     first byte sent -> the image is in the catalog (the job's finished_at)

and, for comparison, `cogbrowser ingest` of the same file into another throw-away data dir (the
per-file seconds it prints: its embedded PostgreSQL's start is not counted).
Target: upload >= 200 MB/s on loopback for both kinds; exit status 1 if a full-size run misses it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OtherLoad, default_workdir, drop_dirty_pages, mib, print_table, say, scratch_dir, warm_page_cache  # noqa: E402
from ingest_bench import cached_source  # noqa: E402
from tile_bench import free_port, start_server, stop_server  # noqa: E402

FULL_SIZE = 12800  # ~1 GB with ingest_bench's generator (10980 gives 0.72 GB)
QUICK_SIZE = 2048
TARGET_MB_S = 200.0
_CLI_SECONDS = re.compile(r"^added\s.*\(([\d.]+) s\)\s*$", re.MULTILINE)


@dataclass
class Run:
    kind: str
    size: int
    upload: float  # first byte sent -> the whole file on the server's disk (job created)
    sent: float  # first byte sent -> the client's last byte handed to the socket
    answered: float  # first byte sent -> the 202 received
    queued: float  # job created -> job started
    ingest: float  # job started -> finished
    total: float  # first byte sent -> the image in the catalog

    @property
    def upload_mb_s(self) -> float:
        return self.size / self.upload / 1e6


def make_token(data_dir: Path) -> str:
    """An API token made by the CLI (before the server starts: both would start the embedded PostgreSQL)."""
    env = {k: v for k, v in os.environ.items() if k != "COGBROWSER_DATABASE_URL"}
    done = subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(data_dir), "token", "create",
                           "bench"], capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip().splitlines()[-1]


def form_parts(filename: str, boundary: str) -> tuple[bytes, bytes]:
    """What a multipart/form-data body puts before and after the file of its `file` field."""
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: image/tiff\r\n\r\n").encode()
    return head, f"\r\n--{boundary}--\r\n".encode()


def upload(port: int, token: str, source: Path, kind: str) -> tuple[dict, float, float, float]:
    """Send the file; returns (the 202's job, the wall time of the first byte, of the last, of the answer)."""
    size = source.stat().st_size
    if kind == "raw":
        path, head, tail = f"/api/v1/images?filename={source.name}&wait=false", b"", b""
        content_type = "image/tiff"
    else:
        boundary = uuid.uuid4().hex
        head, tail = form_parts(source.name, boundary)
        path, content_type = "/api/v1/images?wait=false", f"multipart/form-data; boundary={boundary}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.putrequest("POST", path)
        for name, value in (("Authorization", f"Bearer {token}"), ("Content-Type", content_type),
                            ("Content-Length", str(len(head) + size + len(tail)))):
            conn.putheader(name, value)
        first = time.time()
        conn.endheaders()
        conn.sock.sendall(head)
        with open(source, "rb") as handle:
            conn.sock.sendfile(handle)
        conn.sock.sendall(tail)
        last = time.time()
        response = conn.getresponse()
        body = response.read()
        answered = time.time()
    finally:
        conn.close()
    if response.status != 202:
        raise SystemExit(f"{kind} upload answered {response.status}: {body[:500]!r}")
    return json.loads(body), first, last, answered


def http_json(port: int, method: str, path: str, token: str | None = None) -> tuple[int, dict | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        body = response.read()
        return response.status, json.loads(body) if body else None
    finally:
        conn.close()


def wait_for(port: int, job_id: str) -> dict:
    """Poll the job until it has finished, showing its stage."""
    shown = None
    while True:
        _, job = http_json(port, "GET", f"/api/v1/jobs/{job_id}")
        if job["state"] in ("succeeded", "failed"):
            return job
        percent = f" {job['progress']}%" if job["progress"] is not None else ""
        stage = f"{job['state']}: {job['stage'] or ''}{percent}"
        if stage != shown:
            say(f"  job {stage}")
            shown = stage
        time.sleep(0.5)


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def measure(port: int, token: str, source: Path, kind: str) -> Run:
    drop_dirty_pages()  # the previous run's spool and COG are not written back on our time
    say(f"{kind} upload of {mib(source.stat().st_size)}")
    accepted, first, last, answered = upload(port, token, source, kind)
    job = wait_for(port, accepted["id"])
    if job["state"] != "succeeded" or job["result"] != "created":
        raise SystemExit(f"the {kind} upload's job ended {job['state']}: {job['error'] or job['message']}")
    created, started, finished = (stamp(job[k]) for k in ("created_at", "started_at", "finished_at"))
    status, _ = http_json(port, "DELETE", f"/api/v1/images/{job['image_id']}", token)  # the next run is new again
    if status != 204:
        raise SystemExit(f"could not delete image {job['image_id']}: {status}")
    run = Run(kind, source.stat().st_size, upload=created - first, sent=last - first, answered=answered - first,
              queued=started - created, ingest=finished - started, total=finished - first)
    say(f"  upload {run.upload:.1f} s ({run.upload_mb_s:.0f} MB/s), ingest {run.ingest:.1f} s, total {run.total:.1f} s")
    return run


def cli_ingest(source: Path, data_dir: Path) -> tuple[float, float]:
    """`cogbrowser ingest` of the file: (the per-file seconds it prints, the command's wall time)."""
    drop_dirty_pages()
    say("cogbrowser ingest of the same file, for comparison")
    env = {k: v for k, v in os.environ.items() if k != "COGBROWSER_DATABASE_URL"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cogbrowser", "--data-dir", str(data_dir), "ingest", str(source)],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    seconds = _CLI_SECONDS.search(done.stderr.replace("\r", "\n"))
    if done.returncode != 0 or seconds is None:
        raise SystemExit(f"cogbrowser ingest failed ({done.returncode}): {done.stderr[-1000:]}")
    return float(seconds.group(1)), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=FULL_SIZE,
                        help=f"width and height of the source (default {FULL_SIZE})")
    parser.add_argument("--workdir", type=Path, default=default_workdir(),
                        help=f"cache and scratch folder (default {default_workdir()})")
    parser.add_argument("--quick", action="store_true",
                        help=f"a {QUICK_SIZE} x {QUICK_SIZE} source: checks the script works")
    parser.add_argument("--drop-source", action="store_true", help="delete the cached source afterwards too")
    args = parser.parse_args(argv)
    size = QUICK_SIZE if args.quick else args.size
    workdir = args.workdir.expanduser().resolve()

    source = cached_source(workdir, size)
    warm_page_cache(source)
    with scratch_dir(workdir, "upload-") as scratch:
        data_dir = scratch / "server data"
        say("making a token (cogbrowser token create)")
        token = make_token(data_dir)
        port = free_port()
        say(f"starting cogbrowser serve on port {port}")
        server = start_server(data_dir, port)
        load = OtherLoad(lambda: [server.pid])  # the server and its PostgreSQL are ours
        try:
            runs = [measure(port, token, source, kind) for kind in ("raw", "form")]
        finally:
            stop_server(server)
        cli_seconds, cli_wall = cli_ingest(source, scratch / "cli data")
        note = load.note()

    print(f"\nsource: {source.name}: {mib(source.stat().st_size)} ({source.stat().st_size:,} bytes), "
          f"a tiled DEFLATE GeoTIFF without overviews (converted to a COG on ingest)")
    print(f"machine: {os.cpu_count()} CPUs; loopback; server: cogbrowser serve with its default threads")
    print(f"while measuring, {note}")
    print_table("Uploads (seconds from the client's first byte; MB = 10^6 bytes)",
                ["kind", "upload s", "upload MB/s", "client sent s", "202 after s", "queued s", "ingest s",
                 "total s"],
                [[r.kind, r.upload, f"{r.upload_mb_s:.0f}", r.sent, r.answered, r.queued, r.ingest, r.total]
                 for r in runs])
    print_table("Ingest: the upload's job against the CLI",
                ["ingest", "seconds", "vs CLI"],
                [*[[f"{r.kind} upload's job", r.ingest, f"{r.ingest / cli_seconds:.2f}x"] for r in runs],
                 ["cogbrowser ingest (per file)", cli_seconds, "1.00x"],
                 ["cogbrowser ingest (whole command)", cli_wall, f"{cli_wall / cli_seconds:.2f}x"]])
    slowest = min(r.upload_mb_s for r in runs)
    verdict = "OK" if slowest >= TARGET_MB_S else "UNDER TARGET"
    if size != FULL_SIZE:
        verdict += f" (the target is set for --size {FULL_SIZE}; a small file measures mostly latency)"
    print(f"\nslowest upload: {slowest:.0f} MB/s   target >= {TARGET_MB_S:.0f} MB/s   {verdict}")
    if args.drop_source:
        source.unlink(missing_ok=True)
    return 1 if size == FULL_SIZE and slowest < TARGET_MB_S else 0


if __name__ == "__main__":
    sys.exit(main())
