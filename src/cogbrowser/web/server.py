"""The server front: waitress, with what a request must pass before the app gets it.

waitress reads a request in one thread (its asyncore loop) and runs the app in worker threads; it
reads a request's whole body, spooled to a temporary file, before it calls the app. Left as it is,
a hostile client could fill the disk with a body the app would then refuse (no token), or hold every
connection slot by trickling header lines. This module subclasses waitress's parser, channel and
server (waitress 3.0; its hook points: `HTTPChannel.received/service`, `BaseWSGIServer.handle_accept/
maintenance`) so that:

- a request with a body stops after its headers: a worker runs `decide_before_body`, the app's own
  rules on the headers alone (the access check of auth.py, the route's body limit declared with
  @endpoint), and only then is the body read (and `100 Continue` sent). A refusal answers the app's
  own problem details and closes the connection after a short linger, so the client reads the answer
  rather than a reset; nothing of the body reaches the disk. A chunked body is cut at the route's limit.
- a request's headers must all arrive within HEADER_TIMEOUT of its first byte (else 408), an idle
  connection is closed after IDLE_TIMEOUT, and one address may hold at most
  `Settings.max_client_connections` connections (more are answered 503 and closed at once), so a
  slowloris from one machine cannot take the slots other clients need. Behind a reverse proxy
  (`Settings.trusted_proxy`), the proxy's connections are not capped (it caps its clients) and its
  X-Forwarded-* headers are believed (links say https://the-proxy's-name/...); nobody else's are.
- errors waitress answers itself (malformed requests, headers or bodies too large) are problem
  details too.

- every complete request (and every decision on headers) joins its admission lane in
  `FrontServer.add_task` (lanes.py decides which: cheap, tiles or heavy); each lane has its own
  threads and a short queue, and a request that finds it full, or waits in it longer than it allows,
  is answered 503 + Retry-After at once by a thread that does nothing else (`Lanes`).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask
from waitress.utilities import Error

from cogbrowser.config import Settings
from cogbrowser.web.auth import require_access
from cogbrowser.web.context import services, services_of
from cogbrowser.web.endpoints import body_limit, largest_body_limit
from cogbrowser.web.lanes import (
    CALLBACK_PEEK_BYTES,
    CHEAP,
    DASH_CALLBACK_PATH,
    INTERACTIVE_YIELD,
    TILES,
    Lane,
    callback_output,
    lane_of,
    plan_lanes,
    tiles_beside_interactive,
)
from cogbrowser.web.problems import RETRY_AFTER_CONNECTIONS, ApiError, Problem

log = logging.getLogger(__name__)

HEADER_TIMEOUT = 5.0  # seconds from a request's first byte to the end of its headers (a few KB)
IDLE_TIMEOUT = 30  # seconds a connection may stay silent: between requests, or in the middle of a body
LINGER_SECONDS = 2.0  # after refusing an unread body: how long its bytes are read and dropped ...
LINGER_BYTES = 32 * 2**20  # ... and how many, so that the client reads the answer instead of a reset
RECV_BYTES = 1 << 20  # socket reads; waitress's 8 KiB spools 0.35 GB/s on loopback, 1 MiB 1.7 GB/s
MAX_HEADER_BYTES = 64 * 1024  # a request line and headers (waitress: 256 KiB)
MAX_CONNECTIONS = 1000  # open connections in all, below the file descriptors the process may open
FORWARDED = {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port"}  # from a trusted proxy


# ---------------------------------------------------------------- answers given outside the app

@dataclass(frozen=True)
class Answer:
    """A complete answer given before (or instead of) the app: status line, headers, body."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def problem(cls, status: int, title: str, detail: str, headers: list[tuple[str, str]] | None = None) -> Answer:
        """Problem details (problems.py's format) without Flask: for answers waitress's loop gives."""
        body = Problem(title=title, status=status, detail=detail).model_dump_json(exclude_none=True).encode()
        return cls(f"{status} {title}", [("Content-Type", "application/problem+json"), *(headers or [])], body)

    @classmethod
    def of(cls, response: Response) -> Answer:
        headers = [(k, v) for k, v in response.headers.to_wsgi_list()
                   if k.lower() not in ("content-length", "connection")]
        return cls(response.status, headers, response.get_data())

    def raw(self) -> bytes:
        """The whole HTTP/1.1 message, closing the connection."""
        head = [f"HTTP/1.1 {self.status}", *(f"{k}: {v}" for k, v in self.headers),
                f"Content-Length: {len(self.body)}", "Connection: close"]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


class EarlyAnswer(Error):
    """An Answer where waitress expects an error (`request.error`): its ErrorTask writes it."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body)
        self.answer = answer

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        return self.answer.status, self.answer.headers, self.answer.body


def answer_of(error: Error) -> Answer:
    """waitress's own errors (a malformed request, headers or body over a limit) as problem details."""
    if isinstance(error, EarlyAnswer):
        return error.answer
    detail = {413: f"the body is larger than this server accepts ({error.body})",
              431: f"the request's headers are too large ({error.body})"}.get(error.code, str(error.body))
    return Answer.problem(error.code, error.reason, detail)


class ProblemErrorTask(ErrorTask):
    """waitress's error answer, as problem details."""

    def execute(self) -> None:
        answer = answer_of(self.request.error)
        self.status = answer.status
        self.response_headers.extend(answer.headers)
        self.set_close_on_finish()
        self.content_length = len(answer.body)
        self.write(answer.body)


# ---------------------------------------------------------------- the decision on the headers

@dataclass(frozen=True)
class Decision:
    """What the app decides on a request's headers: refuse it (`refusal`), or read a body of at most
    `body_limit` bytes."""

    refusal: Answer | None
    body_limit: int = 0


def decide_before_body(app: Flask, environ: dict[str, Any]) -> Decision:
    """The app's rules that need only the headers, on a request whose body is not read yet: who may
    do this (auth.require_access, as before every request), whether the route exists for this method,
    and whether the declared Content-Length is within the route's limit (endpoints.body_limit). A
    refusal is the very answer the app would give (its error handlers, its CORS headers)."""
    with app.request_context(environ):
        try:
            to_sign_in = require_access()
            if to_sign_in is not None:
                return Decision(Answer.of(app.process_response(app.make_response(to_sign_in))))
            if request.routing_exception is not None:
                raise request.routing_exception
            limit = body_limit(request.endpoint, services().settings)
            length = request.content_length
            if length is not None and length > limit:
                raise ApiError(413, "Content Too Large", f"the body is {length:,} bytes; {request.method} "
                               f"{request.path} accepts at most {limit:,} ({_size(limit)})")
            return Decision(None, limit)
        except Exception as exc:  # noqa: BLE001 - every refusal goes through the app's own error handlers
            return Decision(_answer_in_context(app, exc))


def answer_as_app(app: Flask, environ: dict[str, Any], error: ApiError) -> Answer:
    """The answer the app gives to `error` raised by this request (problem details, or an OGC
    exception report on the OGC services), without running the request itself."""
    with app.request_context(environ):
        return _answer_in_context(app, error)


def _answer_in_context(app: Flask, exc: Exception) -> Answer:
    try:
        return Answer.of(app.process_response(app.make_response(app.handle_user_exception(exc))))
    except Exception:  # a handler that fails: the app's unexpected-error answer, as after a body
        log.exception("answering %s %s", request.method, request.path)
        return Answer.problem(500, "Internal Server Error", "the server failed to answer this request; "
                              "its log has the details")


def _size(count: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= factor:
            return f"{count / factor:g} {unit}"
    return f"{count} bytes"


Decide = Callable[[dict[str, Any]], Decision]


# ---------------------------------------------------------------- waitress, subclassed

class HeadFirstParser(HTTPRequestParser):
    """waitress's request parser, stopping after the headers of a request that has a body until the
    app's decision (`awaiting_decision`), and holding a chunked body to the route's limit."""

    awaiting_decision = False  # headers read, a body follows: waiting for decide_before_body
    decided = False
    body_limit: int | None = None
    completed: bool  # waitress's attributes, typed here (waitress has no type hints)
    error: Error | None

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.monotonic()  # the request's first byte: its headers' deadline runs from here

    def received(self, data: bytes) -> int:
        if self.awaiting_decision:
            return 0
        in_headers = self.body_rcv is None and not self.headers_finished
        consumed = super().received(data)
        if in_headers and self.headers_finished and not self.completed and not self.decided:
            self.awaiting_decision = True
        elif self.body_limit is not None and self.body_bytes_received > self.body_limit and self.error is None:
            self.error = EarlyAnswer(Answer.problem(
                413, "Content Too Large", f"the body is over {self.body_limit:,} bytes; "
                f"{self.command} {self.path} accepts at most {self.body_limit:,} ({_size(self.body_limit)})"))
            self.completed = True
        return consumed

    def body_unread(self) -> bool:
        """Whether the client may still be sending a body this request did not read."""
        return self.body_rcv is not None and not self.body_rcv.completed


class FrontTask(WSGITask):
    """waitress's task running the app, telling its channel when the answer's last byte is queued:
    from then on the client may have the whole answer while the worker still closes the response
    (Flask's teardown), and the connection counts as idle (FrontChannel.is_idle)."""

    channel: FrontChannel

    def write(self, data: bytes) -> None:
        with self.channel.outbuf_lock:  # the bytes and the mark together, as is_idle reads them
            super().write(data)
            if not self.has_body or (self.content_length is not None
                                     and self.content_bytes_written >= self.content_length):
                self.channel.answered = self.request

    def finish(self) -> None:
        with self.channel.outbuf_lock:
            super().finish()
            self.channel.answered = self.request

    def build_response_header(self) -> bytes:
        shares = self.channel.server.shares
        if shares is not None and shares.over_share():
            self.set_close_on_finish()  # "Connection: close": the client connects again, maybe to another process
        return super().build_response_header()


class FrontChannel(HTTPChannel):
    """One client connection: waitress's, with the decision before a body, the headers' deadline,
    and a lingering close after refusing an unread body."""

    parser_class = HeadFirstParser
    task_class = FrontTask
    error_task_class = ProblemErrorTask
    server: FrontServer
    request: HeadFirstParser | None  # waitress's attributes, typed here (waitress has no type hints)
    requests: list[HeadFirstParser]
    sent_continue: bool

    deciding = False  # a request's headers are with decide_before_body: read nothing more meanwhile
    held = b""  # what arrived after those headers (the body's start), fed to the parser once decided
    linger_after_answer = False  # the answer refuses a body still coming: drain it a while before closing
    lingering_until: float | None = None
    lingered = 0
    answered: HeadFirstParser | None = None  # the request whose answer is all queued (FrontTask)

    def __init__(self, server: FrontServer, sock: socket.socket, addr: Any, adj: Adjustments,
                 map: dict | None = None) -> None:  # noqa: A002 - waitress's name
        self.client = addr[0] if isinstance(addr, tuple) else str(addr)
        super().__init__(server, sock, addr, adj, map)

    def add_channel(self, map: dict | None = None) -> None:  # noqa: A002
        super().add_channel(map)
        self.server.clients[self.client] += 1
        self.server.count_connections()

    def del_channel(self, map: dict | None = None) -> None:  # noqa: A002
        if self._fileno is not None and self._fileno in self.server.active_channels:
            self.server.clients[self.client] -= 1
            if self.server.clients[self.client] <= 0:
                del self.server.clients[self.client]
            self.server.count_connections()
        super().del_channel(map)

    def is_idle(self) -> bool:
        """Waiting for the client's next request: no byte of one yet, every answer sent (its worker
        may still be tidying up after it), nothing more to send."""
        with self.outbuf_lock:
            answered = not self.requests or (len(self.requests) == 1 and self.requests[0] is self.answered)
            return (answered and self.request is None and not self.deciding and not self.total_outbufs_len
                    and self.lingering_until is None and not self.will_close and not self.close_when_flushed)

    def readable(self) -> bool:
        if self.lingering_until is not None:
            return True
        return not self.deciding and super().readable()

    def writable(self) -> bool:
        return self.lingering_until is None and bool(super().writable())

    def handle_read(self) -> None:
        if self.lingering_until is None:
            super().handle_read()
            return
        try:
            data = self.socket.recv(self.adj.recv_bytes)
        except OSError:
            data = b""
        self.lingered += len(data)
        if not data or self.lingered > LINGER_BYTES:
            self.close_now()

    def handle_close(self) -> None:
        """Close; after refusing a body the client is still sending, first send FIN and drain what
        comes for a moment: closing with unread bytes resets the connection, and a client still
        busy sending would lose the answer with it."""
        if self.linger_after_answer and self.lingering_until is None and not self.total_outbufs_len:
            self.linger_after_answer = False
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                self.close_now()
                return
            self.lingering_until = time.monotonic() + LINGER_SECONDS
            self.will_close = self.close_when_flushed = False
            return
        self.close_now()

    def close_now(self) -> None:
        self.lingering_until = None
        self.linger_after_answer = False
        super().handle_close()

    def received(self, data: bytes) -> bool:
        """waitress's `received`, stopping at the headers of a request with a body: that request is
        queued as a task (the decision, `service`) and the bytes after its headers are held."""
        if not data:
            return False
        with self.requests_lock:
            if self.will_close or self.close_when_flushed:
                return False
            while data:
                if self.request is None:
                    self.request = self.parser_class(self.adj)
                parser = self.request
                n = parser.received(data)
                if parser.awaiting_decision:
                    self.held += data[n:]
                    self.deciding = True
                    self.requests.append(parser)
                    self.request = None
                    if len(self.requests) == 1:
                        self.server.add_task(self)
                    break
                if parser.expect_continue and parser.headers_finished and not self.requests \
                        and not self.sent_continue:
                    self.send_continue()
                if parser.completed:
                    self.sent_continue = False
                    if not parser.empty:
                        self.requests.append(parser)
                        if len(self.requests) == 1:
                            self.server.add_task(self)
                    self.request = None
                if n >= len(data):
                    break
                data = data[n:]
        return True

    def service(self) -> None:
        parser = self.requests[0]
        if parser.awaiting_decision:
            self._decide(parser)
            return
        if parser.error is not None and parser.body_unread():
            self.linger_after_answer = True
        super().service()

    def refuse(self, answer: Answer) -> None:
        """Answer the first request with `answer` instead of running it (in a worker thread), and
        close the connection: lingering first when the client may still be sending its body."""
        parser = self.requests[0]
        if parser.awaiting_decision or parser.body_unread():
            self.linger_after_answer = True
        parser.awaiting_decision = False
        parser.error = EarlyAnswer(answer)
        parser.completed = True
        with self.requests_lock:
            self.held = b""
            self.deciding = False
        super().service()

    def _decide(self, parser: HeadFirstParser) -> None:
        """Run the app's decision on the headers (in a worker thread), then answer the refusal, or
        read the body: the held bytes first, then the socket again."""
        try:
            decision = self.server.decide(WSGITask(self, parser).get_environment())
        except Exception:
            log.exception("deciding on %s %s", parser.command, parser.path)
            decision = Decision(Answer.problem(500, "Internal Server Error",
                                               "the server failed to answer this request; its log has the details"))
        parser.decided = True
        if decision.refusal is not None:
            self.refuse(decision.refusal)
            return
        parser.awaiting_decision = False
        parser.body_limit = decision.body_limit
        with self.requests_lock:
            self.requests.pop(0)
            self.request = parser
            held, self.held = self.held, b""
        if parser.expect_continue and not self.sent_continue and not held:
            self.send_continue()
        if held:
            self.received(held)
        with self.requests_lock:
            self.deciding = any(getattr(r, "awaiting_decision", False) for r in self.requests)
        self.server.pull_trigger()  # the loop polls this socket again


class ConnectionShares:
    """The open connections of each process of `serve --processes` (one slot a process, in memory
    they share), and whether this one (`slot`) holds more than its share.

    The kernel gives each new connection to whichever process accepts it first, and a kept-alive
    connection stays there: 8 clients came out 7 and 1 in two runs of four. The process with 7
    then queued their requests while the other idled between its one client's requests (1024 x
    768 maps: p99 183-195 ms split 7/1, 87-94 ms split 4/4, and a tenth fewer maps a second). A
    process holding more than one connection over the fewest another holds closes a connection
    after its answer ("Connection: close", which every HTTP client honours by connecting again);
    the new connection may land in any process, and the shedding goes on until the counts are
    within one of each other. Nothing waits for it: every process keeps accepting."""

    NOT_SERVING = -1  # a slot's value while its process starts, or after it died

    def __init__(self, counts: Any, slot: int) -> None:
        self.counts = counts  # a multiprocessing RawArray of ints, one a serving process
        self.slot = slot
        self.hold(0)  # serving from now on

    def hold(self, count: int) -> None:
        self.counts[self.slot] = count

    def over_share(self) -> bool:
        serving = [count for count in self.counts if count != self.NOT_SERVING]
        return self.counts[self.slot] > min(serving) + 1


class FrontServer(TcpWSGIServer):
    """waitress's TCP server with a per-address connection cap and the headers' deadline."""

    channel_class = FrontChannel

    def __init__(self, application: Flask, *, decide: Decide, max_client_connections: int,
                 clients: Counter[str], lanes: Lanes, heavy_callbacks: Collection[str],
                 shares: ConnectionShares | None = None, **kwargs: Any) -> None:
        self.app = application  # waitress wraps it (`self.application`) in its proxy-headers middleware
        self.decide = decide
        self.lanes = lanes
        self.heavy_callbacks = heavy_callbacks  # page callbacks that render or read large areas (lanes.py)
        self.max_client_connections = max_client_connections
        self.clients = clients  # open connections by remote address (shared by every listening socket)
        self.shares = shares  # the connections of every serving process (`serve --processes`), or None
        super().__init__(application, dispatcher=lanes, **kwargs)

    def count_connections(self) -> None:
        """Tell the other serving processes how many connections this one holds now."""
        if self.shares is not None:
            self.shares.hold(self.clients.total())

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:
            return
        addr = self.fix_addr(addr)
        client = addr[0] if isinstance(addr, tuple) else str(addr)
        if 0 < self.max_client_connections <= self.clients[client] and client != self.adj.trusted_proxy:
            idle = self._least_recently_used_idle(client)
            if idle is None:
                _refuse(conn, Answer.problem(
                    503, "Service Unavailable", f"{client} has {self.clients[client]} connections busy with "
                    f"requests; at most {self.max_client_connections} are accepted from one address",
                    [("Retry-After", str(RETRY_AFTER_CONNECTIONS))]))
                return
            idle.close_now()  # a kept-alive connection nobody uses: a client that opens more does not need it
        self.channel_class(self, conn, addr, self.adj, map=self._map)

    def _least_recently_used_idle(self, client: str) -> FrontChannel | None:
        """The connection of `client` that waits for a request (none begun, nothing to send) and was
        used least recently: closing it costs the client nothing (a leaky script, a browser's spare)."""
        idle = [channel for channel in self.active_channels.values()
                if isinstance(channel, FrontChannel) and channel.client == client and channel.is_idle()]
        return min(idle, key=lambda channel: channel.last_activity, default=None)

    def add_task(self, task: Any) -> None:
        """Queue a channel's request (or the decision on its headers) in its lane (lanes.py): every
        request passes here, complete, or with its headers only when `.awaiting_decision` (a
        decision is cheap). A full lane answers 503 + Retry-After at once, from the refusals thread."""
        channel: FrontChannel = task
        parser = channel.requests[0]
        deciding = parser.awaiting_decision or parser.error is not None
        lane = self.lanes.plan[CHEAP if deciding else self.lane_of(parser)]
        page_callback = not deciding and parser.command == "POST" and parser.path == DASH_CALLBACK_PATH
        if not self.lanes.admit(lane, InLane(self, lane, channel, interactive=page_callback)):
            self.lanes.refuse(TurnedAway(self, lane, channel))

    def lane_of(self, parser: HeadFirstParser) -> str:
        """The lane of a complete request (lanes.lane_of), a page callback's by the start of its body."""
        output = None
        if parser.command == "POST" and parser.path == DASH_CALLBACK_PATH and parser.body_rcv is not None:
            output = callback_output(parser.body_rcv.getbuf().get(CALLBACK_PEEK_BYTES))
        return lane_of(parser.command, parser.path, parser.query, output, self.heavy_callbacks)

    def turn_away_overdue(self) -> None:
        """Answer 503 the requests that waited in their lanes past the lane's `max_wait`."""
        now = time.monotonic()
        for task in self.lanes.overdue(now):
            self.lanes.refuse(TurnedAway(self, task.lane, task.channel, now - task.queued))

    def turn_away(self, channel: FrontChannel, lane: Lane, waited: float | None) -> None:
        """Answer the channel's request 503 + Retry-After, as the app answers errors on its route
        (problem details, an OGC exception report on /wms and /wmts): its lane is full, or it
        waited longer than the lane allows (`waited` seconds)."""
        parser = channel.requests[0]
        if waited is None:
            detail = (f"the server is busy: its {lane.name} lane is full ({lane.threads} running, {lane.queue} "
                      f"waiting); try again in {lane.retry_after} s")
        else:
            detail = (f"the server is busy: this request waited {waited:.0f} s for one of the {lane.threads} "
                      f"threads of its {lane.name} lane; try again in {lane.retry_after} s")
        error = ApiError(503, "Service Unavailable", detail, {"Retry-After": str(lane.retry_after)})
        try:
            answer = answer_as_app(self.app, WSGITask(channel, parser).get_environment(), error)
        except Exception:  # a request the app cannot even look at: plain problem details
            log.exception("turning away %s %s", parser.command, parser.path)
            answer = Answer.problem(503, "Service Unavailable", detail, [("Retry-After", str(lane.retry_after))])
        channel.refuse(answer)

    def maintenance(self, now: float) -> None:
        """waitress's idle timeout, plus: a request whose headers are not all in within
        HEADER_TIMEOUT is answered 408 and closed; a lingering close ends after LINGER_SECONDS; a
        request that waited in its lane too long is answered 503."""
        super().maintenance(now)
        self.turn_away_overdue()
        clock = time.monotonic()
        for channel in list(self.active_channels.values()):
            if not isinstance(channel, FrontChannel):
                continue
            if channel.lingering_until is not None:
                if clock > channel.lingering_until:
                    channel.close_now()
                continue
            parser = channel.request
            if parser is None or parser.headers_finished or channel.requests or channel.will_close \
                    or channel.close_when_flushed or clock - parser.started <= HEADER_TIMEOUT:
                continue
            answer = Answer.problem(408, "Request Timeout", f"the request's headers did not all arrive within "
                                    f"{HEADER_TIMEOUT:g} s of its first byte")
            with channel.outbuf_lock:
                payload = answer.raw()
                channel.outbufs[-1].append(payload)
                channel.total_outbufs_len += len(payload)
            channel.request = None
            channel.close_when_flushed = True


class Lanes:
    """waitress's task dispatcher, one thread pool a lane (lanes.py), and one thread that answers
    the requests turned away. A lane takes a request while it holds fewer than its capacity
    (running and waiting); what waits longer than the lane's `max_wait` is turned away — by the
    server's maintenance, every second, or when its turn comes, whichever is first."""

    def __init__(self, plan: Mapping[str, Lane]) -> None:
        self.plan = dict(plan)
        self.pools: dict[str, ThreadedTaskDispatcher] = {}
        for name, lane in self.plan.items():
            self.pools[name] = ThreadedTaskDispatcher()
            self.pools[name].set_thread_count(lane.threads)
        self.refusals = ThreadedTaskDispatcher()
        self.refusals.set_thread_count(1)
        self.held: Counter[str] = Counter()  # requests in each lane, running or waiting
        self.lock = threading.Lock()
        # interactive first: while a page's callback runs, fewer tiles render at once (lanes.py)
        self.turns = threading.Condition()
        self.interactive = 0  # page callbacks running
        self.rendering = 0  # tiles rendering
        self.tiles_beside_interactive = tiles_beside_interactive(self.plan[TILES].threads) if TILES in self.plan else 0

    def admit(self, lane: Lane, task: InLane) -> bool:
        """Queue `task` in `lane` if the lane has room; False when it is full."""
        with self.lock:
            if self.held[lane.name] >= lane.capacity:
                return False
            self.held[lane.name] += 1
        self.pools[lane.name].add_task(task)
        return True

    def release(self, lane: Lane) -> None:
        with self.lock:
            self.held[lane.name] -= 1

    def refuse(self, task: TurnedAway) -> None:
        self.refusals.add_task(task)

    @contextmanager
    def interactive_turn(self) -> Iterator[None]:
        """A page's callback runs: tiles that start meanwhile wait for it (lanes.py)."""
        with self.turns:
            self.interactive += 1
        try:
            yield
        finally:
            with self.turns:
                self.interactive -= 1
                self.turns.notify_all()

    @contextmanager
    def tile_turn(self) -> Iterator[None]:
        """A tile renders: while a page's callback runs, only `tiles_beside_interactive` at once, and
        none waits longer than INTERACTIVE_YIELD seconds for its turn."""
        deadline = time.monotonic() + INTERACTIVE_YIELD
        with self.turns:
            while self.interactive and self.rendering >= self.tiles_beside_interactive:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.turns.wait(left)
            self.rendering += 1
        try:
            yield
        finally:
            with self.turns:
                self.rendering -= 1
                self.turns.notify_all()

    def overdue(self, now: float) -> list[InLane]:
        """Take out of their queues the requests that have waited longer than their lane allows
        (their places are free again): they are turned away now, not when a thread comes free."""
        found: list[InLane] = []
        for name, pool in self.pools.items():
            lane = self.plan[name]
            with pool.lock:
                late = [task for task in pool.queue if isinstance(task, InLane) and now - task.queued > lane.max_wait]
                for task in late:
                    pool.queue.remove(task)
            with self.lock:
                self.held[name] -= len(late)
            found += late
        return found

    def add_task(self, task: Any) -> None:
        """waitress's interface; FrontServer.add_task chooses the lane."""
        raise NotImplementedError("requests reach the lanes through FrontServer.add_task")

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        """Stop every pool (waitress's interface, at the server's end)."""
        pools = [*self.pools.values(), self.refusals]
        for pool in pools:
            pool.set_thread_count(0)
        stopped = [pool.shutdown(cancel_pending, timeout) for pool in pools]  # every pool, even after a failure
        return all(stopped)


@dataclass
class InLane:
    """A channel's request waiting in its lane; `service` runs in one of the lane's threads."""

    server: FrontServer
    lane: Lane
    channel: FrontChannel
    interactive: bool = False  # a page's callback: a user waits for it
    queued: float = field(default_factory=time.monotonic)

    def service(self) -> None:
        lanes = self.server.lanes
        try:
            waited = time.monotonic() - self.queued
            if waited > self.lane.max_wait:
                self.server.turn_away(self.channel, self.lane, waited)
            elif self.interactive:
                with lanes.interactive_turn():
                    self.channel.service()
            elif self.lane.name == TILES:
                with lanes.tile_turn():
                    self.channel.service()
            else:
                self.channel.service()
        finally:
            self.server.lanes.release(self.lane)

    def cancel(self) -> None:  # the server stops with the request still waiting
        self.server.lanes.release(self.lane)
        self.channel.cancel()


@dataclass
class TurnedAway:
    """A channel's request its full lane did not take, or that waited in it too long: answered 503
    by the refusals thread."""

    server: FrontServer
    lane: Lane
    channel: FrontChannel
    waited: float | None = None  # seconds it waited in the lane; None: the lane was full

    def service(self) -> None:
        self.server.turn_away(self.channel, self.lane, self.waited)

    def cancel(self) -> None:
        self.channel.cancel()


def _refuse(conn: socket.socket, answer: Answer) -> None:
    """Answer a connection that is not taken at once, and close it (best effort: never blocks)."""
    try:
        conn.setblocking(False)
        conn.send(answer.raw())
    except OSError:
        pass
    finally:
        conn.close()


# ---------------------------------------------------------------- making and running the server

def connection_limit() -> int:
    """Open connections in all: MAX_CONNECTIONS, or fewer where the process may open fewer files
    (Linux's usual 1024) or select() watches fewer (512 on Windows, which has no poll)."""
    if sys.platform != "win32":
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return MAX_CONNECTIONS
        return max(64, min(MAX_CONNECTIONS, soft - 200))  # room for the database, the COGs, the logs
    return 500


def server_options(settings: Settings) -> dict[str, Any]:
    """waitress's adjustments of the front (call once the app exists: the body ceiling is the largest
    limit its routes declare, the upload's)."""
    proxy = {"trusted_proxy": settings.trusted_proxy, "trusted_proxy_count": 1, "trusted_proxy_headers": FORWARDED}
    return {
        **(proxy if settings.trusted_proxy else {}),  # links and REMOTE_ADDR as the client sees them; else ignored
        "max_request_body_size": largest_body_limit(settings) + 1,  # waitress refuses a length at or over it
        "max_request_header_size": MAX_HEADER_BYTES,
        "recv_bytes": RECV_BYTES,  # read one at a time by the loop: costs 1 MiB
        "channel_timeout": IDLE_TIMEOUT,
        "cleanup_interval": 1,  # how often the timeouts are checked
        "connection_limit": connection_limit(),
        "asyncore_use_poll": True,  # select() cannot watch file descriptors over 1023; Windows falls back to it
        "ident": "cogbrowser",
    }


def create_server(app: Flask, settings: Settings, *, host: str, port: int, threads: int,
                  heavy_callbacks: Collection[str] = (), sockets: Sequence[socket.socket] = (),
                  shares: ConnectionShares | None = None) -> FrontServer | MultiSocketServer:
    """The front serving `app` on host:port (every address `host` resolves to), or on `sockets`
    already listening (`serve --processes`: the parent's, shared by its serving processes, which
    keep their connections even by `shares`): `threads` workers for tiles, as many for cheap
    requests, and the settings' heavy lane (lanes.plan_lanes), which also runs the page callbacks
    that write to `heavy_callbacks`."""
    where: dict[str, Any] = {"sockets": list(sockets)} if sockets else {"host": host, "port": port}
    adj = Adjustments(threads=threads, **where, **server_options(settings))
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a request waiting in its lane is normal
    lanes = Lanes(plan_lanes(threads, settings.heavy_threads, settings.heavy_queue, settings.render_deadline))
    socket_map: dict = {}
    clients: Counter[str] = Counter()
    bound = [(None, sockinfo) for sockinfo in adj.listen] if not sockets else [
        (sock, (sock.family, sock.type, sock.proto, sock.getsockname())) for sock in sockets]
    servers = [FrontServer(app, decide=lambda environ: decide_before_body(app, environ),
                           max_client_connections=settings.max_client_connections, clients=clients, lanes=lanes,
                           heavy_callbacks=heavy_callbacks, shares=shares, map=socket_map, adj=adj,
                           sockinfo=sockinfo, _sock=sock, bind_socket=sock is None)
               for sock, sockinfo in bound]
    if len(servers) == 1:
        return servers[0]
    return MultiSocketServer(socket_map, adj, [(s.effective_host, s.effective_port) for s in servers],
                             lanes, servers[-1].log_info)


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Sockets listening on host:port (every address `host` resolves to), bound as waitress binds
    them, for servers in other processes to accept on (`serve --processes`)."""
    bound: list[socket.socket] = []
    try:
        for family, socktype, proto, address in Adjustments(host=host, port=port).listen:
            sock = socket.socket(family, socktype, proto)
            bound.append(sock)
            if sys.platform != "win32":  # waitress's choice: a restarted server need not wait for TIME_WAIT
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(Adjustments.backlog)
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


def serve(app: Flask, settings: Settings, threads: int, sockets: Sequence[socket.socket] = (),
          shares: ConnectionShares | None = None) -> None:
    """Serve `app` on the settings' host and port, or on `sockets` already listening (with the
    other serving processes' `shares`), until interrupted (KeyboardInterrupt stops it)."""
    server = create_server(app, settings, host=settings.host, port=settings.port, threads=threads,
                           heavy_callbacks=services_of(app).heavy_callbacks, sockets=sockets, shares=shares)
    log.info("serving on %s:%s (pid %s)", settings.host, settings.port, os.getpid())
    server.run()
