"""A single-node OpenStack Swift cluster for tests and benchmarks: Debian's Swift servers (account,
container, object, proxy) and a memcached, all on loopback, all data in one folder.

The proxy speaks the Swift API with tempauth (user `test:tester`, key `testing`), TempURLs, and the
S3 API through its s3api middleware (access key `test:tester`, secret `testing`): one real store
tests both /vsiswift/ and /vsis3/. Nothing is written outside the folder (the servers read
swift.conf from their `swift_dir`), and nothing runs as a system service.

    python tools/swift_cluster.py DIR [--port 18080]   # runs until Ctrl-C, printing the variables
                                                       # GDAL and the clients need

Needs Debian's packages: swift swift-proxy swift-account swift-container swift-object memcached.
Linux only (it starts Debian's servers), like the store it stands in for.
"""

from __future__ import annotations

import argparse
import getpass
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

USER, KEY = "test:tester", "testing"
SERVERS = ("account", "container", "object")
MIDDLEWARE = ("catch_errors", "gatekeeper", "healthcheck", "proxy_logging", "listing_formats", "bulk", "tempurl",
              "copy", "slo", "dlo")
PIPELINE = ("catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl s3api tempauth "
            "copy slo dlo proxy-logging proxy-server")
DEBIAN_PACKAGES = "swift swift-proxy swift-account swift-container swift-object memcached"


@dataclass(frozen=True)
class Cluster:
    """A running cluster: where its proxy answers, and the environment GDAL and clients read."""

    url: str  # the proxy, e.g. http://127.0.0.1:18080

    @property
    def auth_url(self) -> str:
        return f"{self.url}/auth/v1.0"

    @property
    def environment(self) -> dict[str, str]:
        """GDAL's /vsiswift/ (auth v1) and /vsis3/ (path-style, plain HTTP) for this cluster, as
        environment variables (rasterio leaves AWS_* to boto3 in its Env: set them in os.environ)."""
        host = self.url.split("://", 1)[1]
        return {"SWIFT_AUTH_V1_URL": self.auth_url, "SWIFT_USER": USER, "SWIFT_KEY": KEY,
                "AWS_ACCESS_KEY_ID": USER, "AWS_SECRET_ACCESS_KEY": KEY, "AWS_S3_ENDPOINT": host,
                "AWS_HTTPS": "NO", "AWS_VIRTUAL_HOSTING": "FALSE", "AWS_REGION": "us-east-1"}

    def token(self) -> tuple[str, str]:
        """(storage URL, auth token) of the test account, from tempauth."""
        request = urllib.request.Request(self.auth_url, headers={"X-Auth-User": USER, "X-Auth-Key": KEY})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.headers["X-Storage-Url"], answer.headers["X-Auth-Token"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_programs() -> list[str]:
    """The cluster's programs this machine lacks (install DEBIAN_PACKAGES)."""
    return [name for name in ("swift-ring-builder", "swift-proxy-server", "swift-object-server", "memcached")
            if shutil.which(name) is None]


def write_configuration(folder: Path, port: int, host: str = "127.0.0.1") -> dict[str, Path]:
    """swift.conf, the four servers' configurations and one-replica rings under `folder`; the
    configuration file of each server. The proxy listens on `host`, the others on loopback."""
    etc, devices, logs = folder / "etc", folder / "srv", folder / "log"
    for path in (etc, devices / "d1", logs):
        path.mkdir(parents=True, exist_ok=True)
    (etc / "swift.conf").write_text("[swift-hash]\nswift_hash_path_suffix = cogbrowser-test\n"
                                    "swift_hash_path_prefix = cogbrowser\n"
                                    "[storage-policy:0]\nname = gold\ndefault = yes\n")
    common = (f"bind_ip = 127.0.0.1\nworkers = 0\nuser = {_user()}\nswift_dir = {etc}\n"
              f"log_address = {logs / 'no-syslog'}\n")
    configurations = {}
    for name in SERVERS:
        server_port = free_port()
        path = etc / f"{name}-server.conf"
        path.write_text(f"[DEFAULT]\ndevices = {devices}\nmount_check = false\nbind_port = {server_port}\n{common}"
                        f"[pipeline:main]\npipeline = {name}-server\n[app:{name}-server]\nuse = egg:swift#{name}\n")
        builder = etc / f"{name}.builder"
        for arguments in (["create", "8", "1", "1"], ["add", f"r1z1-127.0.0.1:{server_port}/d1", "1"],
                          ["rebalance"]):
            subprocess.run(["swift-ring-builder", str(builder), *arguments], check=True, capture_output=True)
        configurations[name] = path
    memcache_port = free_port()
    filters = "".join(f"[filter:{name.replace('_', '-') if name == 'proxy_logging' else name}]\n"
                      f"use = egg:swift#{name}\n" for name in MIDDLEWARE)
    proxy = etc / "proxy-server.conf"
    proxy_common = common.replace("127.0.0.1", host, 1)
    proxy.write_text(f"[DEFAULT]\nbind_port = {port}\n{proxy_common}[pipeline:main]\npipeline = {PIPELINE}\n"
                     "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
                     "allow_account_management = true\n"
                     f"[filter:tempauth]\nuse = egg:swift#tempauth\nuser_{USER.replace(':', '_')} = {KEY} .admin\n"
                     "[filter:s3api]\nuse = egg:swift#s3api\n"
                     f"[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:{memcache_port}\n"
                     f"{filters}")
    configurations["proxy"] = proxy
    (etc / "memcached.port").write_text(str(memcache_port))
    return configurations


def _user() -> str:
    """The servers run as whoever starts them (they drop privileges to this user)."""
    return getpass.getuser()


@contextmanager
def running(folder: Path, port: int | None = None, timeout: float = 30, host: str = "127.0.0.1",
            wrap: Sequence[str] = ()) -> Iterator[Cluster]:
    """A cluster in `folder` until the block ends (its processes stopped, its data left in place).

    The proxy listens on `host`; every server's command line is prefixed with `wrap`, e.g.
    `ip netns exec NAME` to run the cluster in a network namespace (tools/netem.py)."""
    missing = missing_programs()
    if missing:
        raise RuntimeError(f"no {', '.join(missing)}: install Debian's {DEBIAN_PACKAGES}")
    port = port or free_port()
    configurations = write_configuration(folder, port, host)
    logs = folder / "log"
    memcache_port = (folder / "etc" / "memcached.port").read_text()
    memcached = ["memcached", "-p", memcache_port, "-U", "0", "-l", "127.0.0.1", "-u", _user()]
    processes = [subprocess.Popen([*wrap, *memcached], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for name, path in configurations.items():
        log = (logs / f"{name}.log").open("ab")
        processes.append(subprocess.Popen([*wrap, f"swift-{name}-server", str(path)], stdout=log, stderr=log))
    cluster = Cluster(f"http://{host}:{port}")
    try:
        _wait_until_ready(cluster, processes, timeout)
        yield cluster
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_until_ready(cluster: Cluster, processes: list[subprocess.Popen], timeout: float) -> None:
    """Until an object can be written and removed (the proxy authenticates the test user, and the
    account, container and object servers answer: the proxy answers 503 while one does not)."""
    deadline = time.monotonic() + timeout
    while True:
        dead = [process.args for process in processes if process.poll() is not None]
        if dead:
            raise RuntimeError(f"the cluster's server stopped: {dead[0]}")
        try:
            storage, token = cluster.token()
            for method, path, body in (("PUT", "/ready", None), ("PUT", "/ready/probe", b"ok"),
                                       ("DELETE", "/ready/probe", None), ("DELETE", "/ready", None)):
                request = urllib.request.Request(storage + path, data=body, method=method,
                                                 headers={"X-Auth-Token": token})
                urllib.request.urlopen(request, timeout=5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster at {cluster.url} did not answer within {timeout:g} s") from None
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    with running(args.folder.resolve(), args.port) as cluster:
        for name, value in cluster.environment.items():
            print(f"export {name}={value}")
        print(f"# the proxy: {cluster.url} (Ctrl-C stops the cluster)", file=sys.stderr)
        with suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
