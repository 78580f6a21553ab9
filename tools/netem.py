"""A network namespace behind a veth pair whose traffic crosses an added delay, so a store run on
this machine answers as one 20 ms of round trip away (the issue 15 bench), and the bytes never
leave the machine.

    python tools/netem.py [--delay-ms 10] [--swift DIR]   # until Ctrl-C: prints the measured round
                                                          # trip; --swift runs a Swift cluster inside
                                                          # and prints the variables GDAL needs

The namespace gets one end of a veth pair (10.x.y.2), the root namespace the other (10.x.y.1).
The delay is added on each way, by `tc qdisc ... netem delay` on both ends where the kernel has
sch_netem. A kernel without it (this project's 2-core VM: a Firecracker kernel with no netem, no
fq, no tbf) gets the same delay from a small relay process in the root namespace instead: it
accepts the client's connection, forwards each chunk of bytes across the veth after the one-way
delay, and holds the first request back by one more round trip (the TCP handshake the client did
not pay). What the relay does not model: TCP slow start over a long path (its buffers are
unbounded), which makes its large transfers a little faster than netem's.

Linux only; needs root (ip netns, ip link, tc). The namespace and the veth are always removed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DELAY_MS = 10.0  # each way: 20 ms of round trip
HTTP_METHODS = (b"GET ", b"HEAD ", b"PUT ", b"POST ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"COPY ")


# ---------------------------------------------------------------- the relay


class Relay:
    """A TCP relay from `listen` to `target` that delays each way by `delay` seconds and counts the
    connections and HTTP requests that pass (one request a chunk starting with a method: HTTP/1.1
    clients such as GDAL's curl send no pipelined requests). Run it in a thread (`running()`) to
    read its counts, or in a process of its own (this script's `relay` command) for throughput."""

    def __init__(self, target: tuple[str, int], listen: tuple[str, int] = ("127.0.0.1", 0),
                 delay: float = 0.0) -> None:
        self.target, self.listen, self.delay = target, listen, delay
        self.connections = 0
        self.requests: list[str] = []  # each request's first line and Range header
        self.bytes_to_client = 0
        self.address: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        assert self.address is not None
        return f"http://{self.address[0]}:{self.address[1]}"

    @property
    def counts(self) -> dict[str, int]:
        return {"connections": self.connections, "requests": len(self.requests), "bytes": self.bytes_to_client}

    async def _serve(self, started: threading.Event | None, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        server = await self._loop.create_server(lambda: _ClientSide(self), *self.listen)
        self.address = server.sockets[0].getsockname()[:2]
        if started is not None:
            started.set()
        async with server:
            await stop.wait()

    @contextmanager
    def running(self) -> Iterator[Relay]:
        """The relay on its own event loop in a daemon thread until the block ends."""
        started = threading.Event()
        stop: list[asyncio.Event] = []

        def run() -> None:
            async def main() -> None:
                stop.append(asyncio.Event())
                await self._serve(started, stop[0])
            asyncio.run(main())

        thread = threading.Thread(target=run, daemon=True, name="relay")
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the relay did not start")
        try:
            yield self
        finally:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(stop[0].set)
            thread.join(10)

    def serve_forever(self) -> None:
        """In this process until SIGTERM; prints `host port` once listening and its counts as JSON
        when stopped (`spawn_relay`, `stop_relay`)."""
        import json
        import signal

        async def main() -> None:
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            task = asyncio.create_task(self._serve(None, stop))
            while self.address is None:
                await asyncio.sleep(0.01)
            print(f"{self.address[0]} {self.address[1]}", flush=True)
            await task
        asyncio.run(main())
        print(json.dumps(self.counts), flush=True)


class _Delayed:
    """Bytes for one transport, written `delay` after they came, in order; None closes it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, not_before: float = 0.0) -> None:
        self.loop, self.delay, self.not_before = loop, delay, not_before
        self.transport: asyncio.Transport | None = None
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None

    def push(self, data: bytes | None) -> None:
        now = self.loop.time()
        self.queue.append((max(now, self.not_before) + self.delay, data))
        self.flush()

    def attach(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.flush()

    def flush(self) -> None:
        self.timer = None
        if self.transport is None:
            return
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            if data is None:
                self.transport.close()
                self.queue.clear()
                return
            self.transport.write(data)
        if self.queue and self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)


class _ClientSide(asyncio.Protocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def connection_made(self, transport) -> None:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        relay = self.relay
        relay.connections += 1
        self.transport = transport
        # The client's connect returned at once; a real one costs a round trip before the request.
        self.to_server = _Delayed(loop, relay.delay, loop.time() + 2 * relay.delay)
        self.to_client = _Delayed(loop, relay.delay)
        self.to_client.attach(transport)
        task = loop.create_task(loop.create_connection(lambda: _ServerSide(self), *relay.target))
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task) -> None:
        if task.exception() is not None:
            self.transport.close()
            return
        self.to_server.attach(task.result()[0])

    def data_received(self, data: bytes) -> None:
        if data.startswith(HTTP_METHODS):
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            ranges = [line for line in head[1:] if line.lower().startswith("range:")]
            self.relay.requests.append(" ".join([head[0].rsplit(" ", 1)[0], *ranges]))
        self.to_server.push(data)

    def eof_received(self) -> bool:
        self.to_server.push(None)
        return False

    def connection_lost(self, exc) -> None:
        self.to_server.push(None)


class _ServerSide(asyncio.Protocol):
    def __init__(self, client: _ClientSide) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.relay.bytes_to_client += len(data)
        self.client.to_client.push(data)

    def connection_lost(self, exc) -> None:
        self.client.to_client.push(None)


# ---------------------------------------------------------------- the namespace


@dataclass
class Namespace:
    """A network namespace reached from the root namespace across `delay_ms` each way."""

    name: str
    inside: str   # the namespace's end of the veth
    outside: str  # the root namespace's end
    delay_ms: float
    method: str   # "netem" (tc on both veth ends) or "relay" (no sch_netem in this kernel)
    _relays: list[subprocess.Popen] = field(default_factory=list)

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    @contextmanager
    def reach(self, port: int) -> Iterator[tuple[str, int]]:
        """(host, port) in the root namespace for `port` of the namespace's veth address, across
        the delay: the address itself under netem, else a relay process of this script."""
        if self.method == "netem":
            yield self.inside, port
            return
        relay, host, relay_port = spawn_relay((self.inside, port), (self.outside, 0), self.delay_ms / 1000)
        try:
            yield host, relay_port
        finally:
            stop_relay(relay)


def spawn_relay(target: tuple[str, int], listen: tuple[str, int] = ("127.0.0.1", 0),
                delay: float = 0.0) -> tuple[subprocess.Popen, str, int]:
    """This script's relay in a process of its own (it then costs the caller's threads no GIL):
    the process and the address it listens on."""
    relay = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "relay", target[0], str(target[1]),
                              "--listen", f"{listen[0]}:{listen[1]}", "--delay", str(delay)],
                             stdout=subprocess.PIPE, text=True)
    assert relay.stdout is not None
    host, port = relay.stdout.readline().split()
    return relay, host, int(port)


def stop_relay(relay: subprocess.Popen) -> dict[str, int]:
    """Stop a spawned relay: what passed through it (connections, requests, bytes to the client)."""
    import json

    relay.terminate()
    out, _ = relay.communicate(timeout=10)
    lines = out.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def _ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *arguments], check=check, capture_output=True, text=True)


def _netem(device: str, delay_ms: float, namespace: str | None = None) -> bool:
    """A netem delay on `device`; False when the kernel has no sch_netem."""
    command = ["tc", "qdisc", "add", "dev", device, "root", "netem", "delay", f"{delay_ms:g}ms"]
    if namespace:
        command = ["ip", "netns", "exec", namespace, *command]
    return subprocess.run(command, capture_output=True).returncode == 0


@contextmanager
def delayed_namespace(delay_ms: float = DEFAULT_DELAY_MS, name: str | None = None) -> Iterator[Namespace]:
    """A fresh namespace `name` with a veth to the root namespace and `delay_ms` added each way;
    removed with its veth when the block ends, whatever happens (stop what runs inside first)."""
    if sys.platform != "linux":
        raise RuntimeError("network namespaces are Linux only")
    if os.geteuid() != 0:
        raise RuntimeError("a network namespace needs root")
    pid = os.getpid()
    name = name or f"cogb-delay-{pid}"
    outer, inner = f"cbd{pid}a", f"cbd{pid}b"  # at most 15 characters
    subnet = f"10.{200 + pid % 50}.{(pid // 50) % 64 * 4}"
    namespace = Namespace(name, f"{subnet}.2", f"{subnet}.1", delay_ms, "netem")
    _ip("netns", "del", name, check=False)
    _ip("link", "del", outer, check=False)
    try:
        _ip("netns", "add", name)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", name)
        _ip("addr", "add", f"{namespace.outside}/30", "dev", outer)
        _ip("link", "set", outer, "up")
        for arguments in (("addr", "add", f"{namespace.inside}/30", "dev", inner), ("link", "set", inner, "up"),
                          ("link", "set", "lo", "up")):
            _ip("netns", "exec", name, "ip", *arguments)
        if not (_netem(outer, delay_ms) and _netem(inner, delay_ms, name)):
            namespace.method = "relay"
        yield namespace
    finally:
        _ip("netns", "del", name, check=False)
        _ip("link", "del", outer, check=False)  # gone with its peer already, unless the add failed half-way


def namespace_exists(name: str) -> bool:
    return name in _ip("netns", "list", check=False).stdout.split()


# ---------------------------------------------------------------- measuring it


def serve_echo(host: str, port: int) -> None:
    """An echo server (one byte back for each byte), to measure the round trip."""
    with socket.create_server((host, port)) as server:
        print("ready", flush=True)
        while True:
            connection, _ = server.accept()
            threading.Thread(target=_echo, args=(connection,), daemon=True).start()


def _echo(connection: socket.socket) -> None:
    with connection:
        while data := connection.recv(65536):
            connection.sendall(data)


def measure_round_trip(namespace: Namespace, samples: int = 10) -> tuple[float, float]:
    """(connect, median echo) ms from the root namespace to an echo server inside the namespace."""
    port = 17007
    echo = subprocess.Popen(namespace.command([sys.executable, str(Path(__file__).resolve()), "echo",
                                               namespace.inside, str(port)]), stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout is not None
        echo.stdout.readline()
        with namespace.reach(port) as address:
            t0 = time.perf_counter()
            with socket.create_connection(address, timeout=10) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(b"x")
                sock.recv(1)  # the relay's connection: the handshake's round trip shows in the first echo
                connect = (time.perf_counter() - t0) * 1000
                times = []
                for _ in range(samples):
                    t0 = time.perf_counter()
                    sock.sendall(b"x")
                    sock.recv(1)
                    times.append((time.perf_counter() - t0) * 1000)
        return connect, statistics.median(times)
    finally:
        echo.terminate()
        echo.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    relay = commands.add_parser("relay", help="(internal) the delaying relay")
    relay.add_argument("host")
    relay.add_argument("port", type=int)
    relay.add_argument("--listen", default="127.0.0.1:0")
    relay.add_argument("--delay", type=float, default=0.0, help="seconds each way")
    echo = commands.add_parser("echo", help="(internal) an echo server")
    echo.add_argument("host")
    echo.add_argument("port", type=int)
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="added each way (default 10)")
    parser.add_argument("--swift", type=Path, help="run a Swift cluster in this folder inside the namespace")
    args = parser.parse_args()
    if args.command == "relay":
        host, port = args.listen.rsplit(":", 1)
        Relay((args.host, args.port), (host, int(port)), args.delay).serve_forever()
        return 0
    if args.command == "echo":
        serve_echo(args.host, args.port)
        return 0
    import signal

    # SIGTERM (kill, timeout) ends the block like Ctrl-C, so the namespace is removed.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    with suppress(KeyboardInterrupt), delayed_namespace(args.delay_ms) as namespace:
        connect, echo_ms = measure_round_trip(namespace)
        print(f"# namespace {namespace.name} at {namespace.inside} ({namespace.method}): connect and first "
              f"byte {connect:.1f} ms, round trip {echo_ms:.1f} ms", file=sys.stderr)
        if args.swift:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            import swift_cluster

            port = swift_cluster.free_port()
            with swift_cluster.running(args.swift.resolve(), port, host=namespace.inside,
                                       wrap=namespace.command([])), namespace.reach(port) as (host, near):
                for key, value in swift_cluster.Cluster(f"http://{host}:{near}").environment.items():
                    print(f"export {key}={value}")
                print("# Ctrl-C stops the cluster and removes the namespace", file=sys.stderr)
                with suppress(KeyboardInterrupt):
                    signal.pause()
        else:
            print("# Ctrl-C removes the namespace", file=sys.stderr)
            with suppress(KeyboardInterrupt):
                signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
