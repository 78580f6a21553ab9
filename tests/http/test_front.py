"""The server front against hostile and unlucky clients, on `cogbrowser serve` itself (a process).

A body is checked (token, the route's size limit) on its headers, before it is read: a 3 GB upload
without a token, or 100 MB of GeoJSON posted to a read, is answered at once and never reaches the
server's disk or memory. Slow clients (slowloris: header lines trickled forever) cannot take the
connection slots: a request's headers must arrive within a few seconds, and one address holds at
most `max_client_connections`, while another address is served as usual.
"""

from __future__ import annotations

import contextlib
import dataclasses
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from flask import Flask, Response

from cogbrowser.catalog import queries
from cogbrowser.config import Settings
from cogbrowser.json_budget import MAX_JSON_VALUES, json_values
from cogbrowser.web.endpoints import MAX_JSON_BYTES
from cogbrowser.web.server import HEADER_TIMEOUT, FrontServer, create_server
from cogbrowser.web.tokens import hash_token
from helpers import free_port, interrupt, peak_rss, serving, shared_catalog, start, wait_for

TOKEN = "cgb_front-tests-0123456789abcdefghijklmnopqrstuvw"
CAP = 32  # Settings' default max_client_connections: the server runs with its defaults
OTHER_ADDRESS = "127.0.0.2"  # another client: Linux routes all of 127/8 to loopback
FRESH_ADDRESS = "127.0.0.3"  # a client no other test of the module's shared server has been


@dataclasses.dataclass
class Front:
    url: str
    port: int
    process: psutil.Process
    tmp_dir: Path

    def spooled_bytes(self) -> int:
        """Bytes in the files the server holds open under DATA_DIR/tmp: waitress's spooled bodies
        (nameless on Linux, so counted through /proc/PID/fd)."""
        total = 0
        fd_dir = Path(f"/proc/{self.process.pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                if str(fd.readlink()).startswith(str(self.tmp_dir)):
                    total += fd.stat().st_size
            except OSError:
                continue
        return total + sum(p.stat().st_size for p in self.tmp_dir.rglob("*") if p.is_file())

    def rss(self) -> int:
        return self.process.memory_info().rss


@pytest.fixture(scope="module")
def front(postgres, tmp_path_factory) -> Iterator[Front]:
    """`cogbrowser serve` with its defaults on a catalog of its own, with one API token."""
    folder = tmp_path_factory.mktemp("front")
    with shared_catalog(postgres, folder) as (settings, db):
        with db.connection() as conn:
            queries.create_token(conn, "front", hash_token(TOKEN))
        port = free_port()
        server = start(["serve", "--port", str(port)], settings.data_dir, log=folder / "server.log",
                       COGBROWSER_DATABASE_URL=settings.database_url or "")
        try:
            wait_for(f"http://127.0.0.1:{port}/api/v1/health", server, timeout=120)
            # the start-up's warm-up reads the gazetteer in the background (tens of MB): the first label
            # tile waits for it, so that the tests measuring the server's memory see only their requests
            assert requests.get(f"http://127.0.0.1:{port}/ui/basemap/labels/0/0/0.png", timeout=60).ok
            yield Front(f"http://127.0.0.1:{port}", port, psutil.Process(server.pid), settings.tmp_dir)
        finally:
            interrupt(server)
        log = (folder / "server.log").read_text(encoding="utf-8")
        assert "Traceback" not in log, log


def can_bind(address: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def connect(front: Front, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", front.port), timeout=timeout, source_address=(source, 0))


def read_answer(sock: socket.socket, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer: status, headers (lower-case names), body (by Content-Length)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    headers = {k.lower(): v for k, v in headers.items()}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def send_body_until_answered(sock: socket.socket, limit: int, watch=None) -> tuple[int, float]:
    """Send body bytes as fast as the server takes them, until it answers (or `limit` bytes are
    sent): what a client such as curl does. Returns the bytes sent and the seconds taken."""
    chunk = b"\0" * (1 << 20)
    sent, started = 0, time.monotonic()
    sock.setblocking(False)
    try:
        while sent < limit:
            readable, writable, _ = select.select([sock], [sock], [], 5)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(chunk)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    break
            if watch is not None:
                watch()
    finally:
        sock.setblocking(True)
    return sent, time.monotonic() - started


# ---------------------------------------------------------------- bodies checked before they are read

def test_a_3_gb_upload_without_a_token_is_refused_before_it_is_read(front):
    spooled = [front.spooled_bytes()]
    with connect(front) as sock:
        sock.sendall(b"POST /api/v1/images?filename=big.tif HTTP/1.1\r\nHost: x\r\nContent-Type: image/tiff\r\n"
                     b"Content-Length: 3000000000\r\n\r\n")
        sent, seconds = send_body_until_answered(sock, 512 * 2**20, watch=lambda: spooled.append(front.spooled_bytes()))
        status, headers, body = read_answer(sock)
    assert status == 401, (status, body, f"{sent:,} bytes sent in {seconds:.1f} s without an answer")
    assert headers["content-type"] == "application/problem+json" and b"needs an API token" in body
    assert headers["www-authenticate"].startswith("Bearer") and headers["connection"] == "close"
    assert seconds < 5, f"answered after {seconds:.1f} s"
    assert max(spooled) == 0, f"the server spooled {max(spooled):,} bytes of a body it refused"


def test_a_bad_token_is_refused_before_the_body_too_and_a_good_one_reads_it(front):
    headers = ("POST /api/v1/collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: {length}\r\n{auth}\r\n")
    with connect(front) as sock:
        sock.sendall(headers.format(length=3 * 10**9, auth="Authorization: Bearer cgb_not-a-token\r\n").encode())
        sent, seconds = send_body_until_answered(sock, 512 * 2**20)
        status, _, body = read_answer(sock)
    assert (status, seconds < 5) == (401, True), (body, seconds)
    assert b"not valid" in body
    document = b'{"id": "after-the-gate", "title": "read once allowed"}'
    with connect(front) as sock:  # the same request with a valid token: the body is read and used
        sock.sendall(headers.format(length=len(document), auth=f"Authorization: Bearer {TOKEN}\r\n").encode())
        sock.sendall(document)
        status, _, body = read_answer(sock)
    assert status == 201, body
    assert requests.get(f"{front.url}/api/v1/collections/after-the-gate", timeout=10).json()["title"] == \
        "read once allowed"


def test_expect_100_continue_is_answered_401_without_asking_for_the_body(front):
    """curl sends `Expect: 100-continue` before a large body: the refusal comes instead of 100 Continue,
    and a client with a token gets 100 Continue once the front has decided."""
    with connect(front) as sock:
        sock.sendall(b"POST /api/v1/images?filename=big.tif HTTP/1.1\r\nHost: x\r\nContent-Type: image/tiff\r\n"
                     b"Content-Length: 3000000000\r\nExpect: 100-continue\r\n\r\n")
        status, _, _ = read_answer(sock)
    assert status == 401
    with connect(front) as sock:
        sock.sendall(f"POST /api/v1/collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Authorization: Bearer {TOKEN}\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n".encode())
        status, _, _ = read_answer(sock)
        assert status == 100
        sock.sendall(b"{}")
        status, _, body = read_answer(sock)
    assert status == 400 and b"id" in body


def test_requests_streaming_a_large_body_without_a_token_reads_the_401(front):
    """requests (urllib3) sends the whole body before it reads an answer: the front drains a little
    of it after answering, so the client reads the 401 rather than a reset."""
    def body():
        for _ in range(3000):  # 3 GB, chunked
            yield b"\0" * (1 << 20)

    spooled = front.spooled_bytes()
    started = time.monotonic()
    answer = requests.post(f"{front.url}/api/v1/images?filename=big.tif", data=body(), timeout=30,
                           headers={"Content-Type": "image/tiff"})
    assert answer.status_code == 401 and answer.json()["title"] == "Unauthorized"
    assert time.monotonic() - started < 10
    assert front.spooled_bytes() == spooled == 0


def test_100_mb_of_geojson_posted_to_statistics_is_413_before_it_is_read(front):
    rss_before = front.rss()
    with connect(front) as sock:
        sock.sendall(b"POST /api/v1/images/any/statistics HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/geo+json\r\nContent-Length: 100000000\r\n\r\n")
        sent, seconds = send_body_until_answered(sock, 100_000_000)
        status, headers, body = read_answer(sock)
    assert status == 413, (body, f"{sent:,} bytes sent in {seconds:.1f} s without an answer")
    detail = requests.compat.json.loads(body)["detail"]
    assert "100,000,000 bytes" in detail and f"{MAX_JSON_BYTES:,}" in detail and "16 MiB" in detail
    assert seconds < 5 and front.rss() - rss_before < 50 * 2**20


def test_a_chunked_json_body_is_cut_at_16_mib(front):
    """Without a Content-Length the limit is kept while reading: the answer comes at 16 MiB, not 100 MB."""
    def geojson():
        yield b'{"type": "Polygon", "coordinates": [['
        for _ in range(100):
            yield b"[1.0, 2.0], " * 87_000  # about 1 MB
        yield b"[1.0, 2.0]]]}"

    rss_before = front.rss()
    answer = requests.post(f"{front.url}/api/v1/images/any/statistics", data=geojson(), timeout=60,
                           headers={"Content-Type": "application/geo+json"})
    assert answer.status_code == 413, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert f"at most {MAX_JSON_BYTES:,}" in answer.json()["detail"]
    assert front.rss() - rss_before < 50 * 2**20


@pytest.mark.parametrize("path", ["/api/v1/collections", "/_dash-update-component"])
def test_a_json_body_that_would_parse_into_hundreds_of_mb_is_413_before_it_is_parsed(front, path):
    """12 MiB of `[],` is within the byte limit, but parsed it would be 4 million lists (250 MB):
    the values are counted first, and the answer names their number."""
    body = b"[" + b"[]," * (4 * 2**20) + b"[]]"
    with peak_rss(front.process) as rss:
        answer = requests.post(f"{front.url}{path}", data=body, timeout=60, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 413, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert f"holds about {json_values(body):,} values" in answer.json()["detail"]
    assert f"at most {MAX_JSON_VALUES:,}" in answer.json()["detail"]
    grown = rss["peak"] - rss["before"]
    assert grown < 50 * 2**20, f"the server grew by {grown / 2**20:.0f} MiB"


@pytest.mark.parametrize("method, path", [("POST", "/api/v1/collections"), ("GET", "/api/v1/health"),
                                          ("POST", "/_dash-update-component")])
def test_only_the_upload_takes_large_bodies(front, method, path):
    """With a valid token, a 3 GB body anywhere but the upload is 413 before it is read: JSON bodies
    (the API's, the UI's callbacks) are capped at 16 MiB, whatever the route."""
    with connect(front) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: 3000000000\r\n\r\n".encode())
        sent, seconds = send_body_until_answered(sock, 256 * 2**20)
        status, headers, body = read_answer(sock)
    assert status == 413, (body, f"{sent:,} bytes sent in {seconds:.1f} s without an answer")
    assert headers["content-type"] == "application/problem+json" and seconds < 5
    assert f"at most {MAX_JSON_BYTES:,}" in requests.compat.json.loads(body)["detail"]


# ---------------------------------------------------------------- slow clients

def test_headers_trickled_too_slowly_are_answered_408_and_closed(front):
    with connect(front) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
        started = time.monotonic()
        sock.settimeout(0.5)
        answer = b""
        while time.monotonic() - started < HEADER_TIMEOUT + 5:
            with contextlib.suppress(OSError):
                sock.sendall(b"X-Slow: 1\r\n")
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if answer.endswith(b"}"):
                break
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"within 5 s" in answer and HEADER_TIMEOUT <= waited < HEADER_TIMEOUT + 3


class Slowloris:
    """`count` connections from `source`, each trickling a header line a second, never ending its headers."""

    def __init__(self, front: Front, count: int, source: str = "127.0.0.1") -> None:
        self.front, self.count, self.source = front, count, source
        self.refused = self.held = 0
        self.stop, self.ready = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        live = []
        for _ in range(self.count):
            try:
                sock = connect(self.front, self.source, timeout=2)
                sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
                live.append(sock)
            except OSError:
                self.refused += 1
        self.ready.set()
        while not self.stop.wait(1.0):
            for sock in list(live):
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    live.remove(sock)
                    sock.close()
                    self.refused += 1
            self.held = len(live)
        for sock in live:
            sock.close()

    def __enter__(self) -> Slowloris:
        self.thread.start()
        assert self.ready.wait(120), "the attack's connections were not made in 2 minutes"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


class FromAddress(requests.adapters.HTTPAdapter):
    """requests' connections from a given local address (another client on loopback)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, source_address=(self.source, 0), **kwargs)


def health_times(front: Front, source: str, seconds: float) -> list[float]:
    """Seconds each health check took (10 at most: a client's patience), asked one after another for
    `seconds` from `source`, each on a new connection as a monitoring probe asks."""
    times = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.monotonic()
        with requests.Session() as session:
            session.mount("http://", FromAddress(source))
            try:
                answer = session.get(f"{front.url}/api/v1/health", timeout=10)
                assert answer.status_code == 200, answer.text
            except requests.RequestException:
                pass
        times.append(time.monotonic() - started)
        time.sleep(0.1)
    return times


@pytest.mark.skipif(not can_bind(OTHER_ADDRESS), reason=f"{OTHER_ADDRESS} is not a loopback address here")
def test_1000_slowloris_connections_leave_the_health_check_answering(front):
    """The issue's attack: 1000 connections from one machine sending a header line now and then.
    Another machine's health checks answer within a second throughout."""
    with Slowloris(front, 1000) as attack:
        times = health_times(front, OTHER_ADDRESS, 12)
    assert len(times) > 10 and max(times) < 1.0, f"slowest health check {max(times):.1f} s of {len(times)}"
    assert attack.held <= CAP and attack.refused >= 1000 - CAP, (attack.held, attack.refused)


@pytest.mark.skipif(not can_bind(OTHER_ADDRESS), reason=f"{OTHER_ADDRESS} is not a loopback address here")
def test_one_address_is_capped_while_another_gets_in(front):
    busy = []
    try:
        for _ in range(CAP):  # each has begun a request: busy, not idle
            sock = connect(front)
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
            busy.append(sock)
        time.sleep(0.3)
        with connect(front) as extra:
            extra.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_answer(extra)
        assert status == 503 and headers["retry-after"] and headers["content-type"] == "application/problem+json"
        assert f"at most {CAP}" in requests.compat.json.loads(body)["detail"]
        with connect(front, OTHER_ADDRESS) as other:
            other.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_answer(other)[0] == 200
    finally:
        for sock in busy:
            sock.close()


@pytest.mark.skipif(not can_bind(FRESH_ADDRESS), reason=f"{FRESH_ADDRESS} is not a loopback address here")
def test_idle_connections_over_the_cap_make_room_for_new_ones(front):
    """A script that keeps more idle connections than the cap (old responses it still holds) goes on
    working: the least recently used idle connection is closed to make room. (From an address of its
    own: the connections the other tests' attacks left behind close at the server's pace.)"""
    kept = []
    try:
        for _ in range(CAP + 8):
            sock = connect(front, FRESH_ADDRESS)
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body = read_answer(sock)
            assert status == 200, body
            kept.append(sock)  # at once: idle as soon as its answer is sent, whatever its worker still does
        oldest = kept[0]
        oldest.settimeout(5)
        assert oldest.recv(1) == b"", "the oldest idle connection was closed"
    finally:
        for sock in kept:
            sock.close()


def test_a_connection_is_idle_once_its_answer_is_sent_while_its_worker_still_tidies_up(tmp_path):
    """The fault injected on purpose: an app whose teardown takes a second after the answer is sent
    (what a loaded machine does to Flask's teardown now and then). A client at the cap that opens one
    more connection gets it: its answered connection counts as idle at once, not a second later."""
    app = Flask("slow-teardown")

    @app.get("/")
    def slow_to_tidy_up():
        response = Response(b"ok")
        response.call_on_close(lambda: time.sleep(1.0))
        return response

    settings = Settings.from_env(data_dir=tmp_path, max_client_connections=2)
    server = create_server(app, settings, host="127.0.0.1", port=0, threads=4)
    assert isinstance(server, FrontServer)
    loop = threading.Thread(target=server.run, daemon=True)
    loop.start()
    kept = []
    try:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", server.effective_port), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_answer(sock)[0] == 200
            kept.append(sock)
        kept[0].settimeout(5)
        assert kept[0].recv(1) == b"", "the least recently used idle connection was closed"
    finally:
        for sock in kept:
            sock.close()
        server.close()
        server.task_dispatcher.shutdown()


# ---------------------------------------------------------------- behind a reverse proxy

@pytest.mark.parametrize("trusted", [False, True], ids=["no proxy", "trusted proxy"])
def test_forwarded_headers_count_only_from_the_trusted_proxy(settings, db, trusted):
    """Behind a proxy (COGBROWSER_TRUSTED_PROXY=its address) links say what the client used (https,
    the proxy's name) and the proxy's many connections are not capped; without one, a client's
    X-Forwarded-* headers change nothing."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "maps.lan", "X-Forwarded-For": "10.1.2.3"}
    served = dataclasses.replace(settings, trusted_proxy="127.0.0.1" if trusted else None)
    with serving(served, db) as url:
        links = requests.get(f"{url}/api/v1/images", headers=forwarded, timeout=10).json()["links"]
        self_link = next(link["href"] for link in links if link["rel"] == "self")
        assert self_link.startswith("https://maps.lan/" if trusted else f"{url}/"), self_link
        port = int(url.rsplit(":", 1)[1])
        busy = []
        try:
            for _ in range(CAP + 5):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
                busy.append(sock)
            time.sleep(0.5)  # the server has read their first lines: they are busy, not idle
            with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
                extra.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_answer(extra)[0] == (200 if trusted else 503)
        finally:
            for sock in busy:
                sock.close()
