"""MapServer as a peer to measure against (never a dependency of cogbrowser): Debian's `mapserv`
as FastCGI processes under lighttpd, serving WMS GetMap of COGs as PNG, on loopback.

    python tools/mapserver_peer.py DIR rgb=/path/a.tif uint16=/path/b.tif:3,2,1:0,3000 [--port P]

Each layer is NAME=FILE[:BANDS[:MIN,MAX]] (bands drawn as RGB, and a linear stretch). The map
file writes 8-bit RGBA PNG with AGG at zlib level 1 and a transparent background, as issue 16's
figures were measured. Needs Debian's packages: cgi-mapserver lighttpd (the bench installs them).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

MAPSERV = Path("/usr/lib/cgi-bin/mapserv")
DEBIAN_PACKAGES = "cgi-mapserver lighttpd"


@dataclass(frozen=True)
class Layer:
    name: str
    path: Path
    bands: tuple[int, ...] = (1, 2, 3)
    stretch: tuple[float, float] | None = None  # a linear 8-bit scale; None: the file's values as they are

    @classmethod
    def parse(cls, text: str) -> Layer:
        """NAME=FILE[:BANDS[:MIN,MAX]], e.g. uint16=/data/b.tif:3,2,1:0,3000."""
        name, _, rest = text.partition("=")
        parts = rest.split(":")
        bands = tuple(int(b) for b in parts[1].split(",")) if len(parts) > 1 and parts[1] else (1, 2, 3)
        stretch = tuple(float(v) for v in parts[2].split(",")) if len(parts) > 2 else None
        return cls(name, Path(parts[0]).resolve(), bands, stretch)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Peer:
    url: str  # e.g. http://127.0.0.1:18500/mapserv

    def getmap(self, layer: str, bbox: tuple[float, float, float, float], width: int, height: int) -> str:
        """A WMS 1.3.0 GetMap URL in EPSG:3857 (x, y axis order), transparent PNG."""
        box = ",".join(f"{v:.3f}" for v in bbox)
        return (f"{self.url}?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={layer}&STYLES=&CRS=EPSG:3857"
                f"&BBOX={box}&WIDTH={width}&HEIGHT={height}&FORMAT=image/png&TRANSPARENT=TRUE")


def missing_programs() -> list[str]:
    return [name for name in ("lighttpd",) if shutil.which(name) is None] + ([] if MAPSERV.exists() else ["mapserv"])


def mapfile(layers: list[Layer]) -> str:
    """A map file serving each layer over WMS, in any CRS PROJ knows."""
    blocks = []
    for layer in layers:
        processing = [f'PROCESSING "BANDS={",".join(map(str, layer.bands))}"', 'PROCESSING "RESAMPLE=NEAREST"']
        if layer.stretch:
            low, high = layer.stretch
            processing.append(f'PROCESSING "SCALE={low:g},{high:g}"')
        blocks.append(f"""
  LAYER
    NAME "{layer.name}"
    TYPE RASTER
    STATUS ON
    DATA "{layer.path}"
    PROJECTION
      AUTO
    END
    {chr(10).join('    ' + p for p in processing).strip()}
    OFFSITE 0 0 0
    METADATA
      "wms_title" "{layer.name}"
    END
  END""")
    return f"""MAP
  NAME "peer"
  EXTENT -20037508 -20037508 20037508 20037508
  SIZE 256 256
  MAXSIZE 4096
  IMAGETYPE "png"
  PROJECTION
    "init=epsg:3857"
  END
  OUTPUTFORMAT
    NAME "png"
    DRIVER AGG/PNG
    MIMETYPE "image/png"
    IMAGEMODE RGBA
    EXTENSION "png"
    TRANSPARENT ON
    FORMATOPTION "COMPRESSION=1"
  END
  WEB
    METADATA
      "wms_title" "peer"
      "wms_enable_request" "*"
      "wms_srs" "EPSG:3857 EPSG:4326"
      "wms_onlineresource" "http://127.0.0.1/mapserv?"
    END
  END
{''.join(blocks)}
END
"""


def lighttpd_conf(folder: Path, port: int, processes: int, map_path: Path) -> str:
    return f"""server.modules = ("mod_fastcgi")
server.document-root = "{folder}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{folder / 'lighttpd.log'}"
server.max-connections = 256
fastcgi.server = ( "/mapserv" => ((
    "bin-path" => "{MAPSERV}",
    "socket" => "{folder / 'mapserv.sock'}",
    "max-procs" => {processes},
    "bin-environment" => ( "MAPSERVER_CONFIG_FILE" => "{folder / 'mapserver.conf'}" ),
    "check-local" => "disable"
)))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(folder: Path, layers: list[Layer], port: int | None = None, processes: int = 2,
            timeout: float = 30) -> Iterator[Peer]:
    """MapServer (`processes` FastCGI processes) behind lighttpd until the block ends."""
    missing = missing_programs()
    if missing:
        raise RuntimeError(f"no {', '.join(missing)}: install Debian's {DEBIAN_PACKAGES}")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    map_path = folder / "peer.map"
    map_path.write_text(mapfile(layers))
    # MapServer 8 reads its configuration file first: the map file it serves is named there
    (folder / "mapserver.conf").write_text(f'CONFIG\n  ENV\n    MS_MAPFILE "{map_path}"\n  END\nEND\n')
    conf = folder / "lighttpd.conf"
    conf.write_text(lighttpd_conf(folder, port, processes, map_path))
    server = subprocess.Popen(["lighttpd", "-D", "-f", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    peer = Peer(f"http://127.0.0.1:{port}/mapserv")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{peer.url}?SERVICE=WMS&REQUEST=GetCapabilities", timeout=5) as answer:
                    if b"WMS_Capabilities" in answer.read():
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log = (folder / "lighttpd.log").read_text(errors="replace")[-2000:] if (
                    folder / "lighttpd.log").exists() else ""
                raise RuntimeError(f"MapServer under lighttpd did not answer within {timeout:g} s: {log}")
            time.sleep(0.2)
        yield peer
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("layers", nargs="+", help="NAME=FILE[:BANDS[:MIN,MAX]]")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    layers = [Layer.parse(text) for text in args.layers]
    with running(args.folder.resolve(), layers, args.port, args.processes) as peer:
        print(f"# MapServer: {peer.url} (Ctrl-C stops it)", file=sys.stderr)
        with suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
