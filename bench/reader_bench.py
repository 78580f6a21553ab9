"""Reader benchmark: what read_area() costs for a map tile of a real COG, above all one outside the image.

    python bench/reader_bench.py [--file PATH] [--repeat 200]

A map asks for every tile of its view, and most tiles of a small image's neighbourhood hold none of
it: such a read must answer "nothing here" at once (target: p95 < 10 ms).
The file defaults to the tests' real data set (titiler/TCI.tif, a 3-band uint8 Sentinel-2 TCI in
UTM), found as tests/helpers.py finds it: ../shared/data/real beside this clone, else
$COGBROWSER_REAL_DATA. The calls are cogbrowser.raster.reader.read_area() as the tile endpoints make
them, 256 x 256 in EPSG:3857, on one thread, after an untimed read that opens the file (the handle
pool keeps it open, as it does in the server):

  outside  the z10 WebMercatorQuad tile at (-150, 10), mid-Pacific, bands 1-3   target p95 < 10 ms
  inside   the z10 tile at (23.7, 32.0), inside the image, bands 1-3             (reported only)

Exit status 1 when the outside read misses its target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OtherLoad, percentiles, print_table, say  # noqa: E402

TARGET_OUTSIDE_P95_MS = 10.0
ZOOM = 10
INSIDE = (23.7, 32.0)  # lon, lat of a point of TCI.tif
OUTSIDE = (-150.0, 10.0)  # mid-Pacific, far from it


def real_data() -> Path:
    """The tests' real data set: ../shared/data/real beside this clone, else $COGBROWSER_REAL_DATA."""
    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
    return beside if beside.is_dir() else Path(os.environ.get("COGBROWSER_REAL_DATA", beside))


def tile_bounds(lonlat: tuple[float, float]) -> tuple[float, float, float, float]:
    """The EPSG:3857 bounds of the WebMercatorQuad tile of zoom ZOOM holding `lonlat`."""
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    return tuple(tms.xy_bounds(tms.tile(*lonlat, ZOOM)))


def timed_read(path: Path, bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    """Milliseconds of one read_area() of the tile, and the share of its pixels that are valid."""
    from cogbrowser.raster.reader import read_area

    started = time.perf_counter()
    area = read_area(path, "EPSG:3857", bounds, 256, 256, [1, 2, 3])
    return (time.perf_counter() - started) * 1000, float(area.valid.mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=None,
                        help="a 3-band COG around (23.7, 32.0) (default: titiler/TCI.tif of the real data set)")
    parser.add_argument("--repeat", type=int, default=200, help="reads of each tile (default 200)")
    args = parser.parse_args(argv)
    path = args.file or real_data() / "titiler" / "TCI.tif"
    if not path.is_file():
        raise SystemExit(f"no {path}: give --file, or set COGBROWSER_REAL_DATA to the real data set")

    tiles = {"outside": tile_bounds(OUTSIDE), "inside": tile_bounds(INSIDE)}
    say(f"opening {path} (an untimed read)")
    timed_read(path, tiles["inside"])
    load = OtherLoad()
    say(f"{args.repeat} reads of each tile, interleaved")
    samples: dict[str, list[float]] = {name: [] for name in tiles}
    valid: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, bounds in tiles.items():
            ms, valid[name] = timed_read(path, bounds)
            samples[name].append(ms)

    outside = percentiles(samples["outside"])
    inside = percentiles(samples["inside"])
    missed = outside["p95"] >= TARGET_OUTSIDE_P95_MS
    print_table(f"read_area() of a 256 x 256 z{ZOOM} WebMercatorQuad tile of {path.name}, bands 1-3: "
                f"{args.repeat} reads each",
                ["tile", "valid pixels", "p50 ms", "p95 ms", "max ms", "target", "verdict"],
                [["outside", f"{valid['outside']:.0%}", outside["p50"], outside["p95"], outside["max"],
                  f"p95 < {TARGET_OUTSIDE_P95_MS:.0f} ms", "MISSED" if missed else "met"],
                 ["inside", f"{valid['inside']:.0%}", inside["p50"], inside["p95"], inside["max"], "-", "-"]])
    print(load.note())
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
