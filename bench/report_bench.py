"""Report-ready exports: what decorations, an area's mask, a KMZ and an MP4 add to an export.

Issue 14, item 8. An export's picture is a render, then (when asked) the mask of the area of
interest, the decorations (scale bar, north arrow, legend, caption, up to 5,000 detection
outlines) and the encoding (PNG, JPEG, or a PNG inside a KMZ); a timelapse is frames, then a GIF or
an H.264 MP4. This times the parts added by the report options, in process, on pictures of the
export's sizes (median of `--repeat`), so they can be read against the render itself:

- target: decorations and the mask add at most 10 % to a 4096 x 4096 PNG export's encoding (the
  render itself, reading and warping, is not counted: it only makes the share smaller);
- target: an MP4 of 30 frames of 512 x 512 encodes no slower than the GIF of the same frames.

    python bench/report_bench.py [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from affine import Affine
from PIL import Image
from rasterio.crs import CRS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, say  # noqa: E402
from cogbrowser.raster.decorations import Decorations, Outline, decorate, mask_outside  # noqa: E402
from cogbrowser.raster.kmz import kmz_bytes  # noqa: E402
from cogbrowser.raster.legend import legend_for  # noqa: E402
from cogbrowser.raster.render import encode  # noqa: E402
from cogbrowser.raster.render_spec import parse_render_spec  # noqa: E402
from cogbrowser.raster.timelapse import animated_gif, mp4_video  # noqa: E402

UTM = CRS.from_epsg(32633)


def median_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def picture(size: int) -> np.ndarray:
    """An RGBA picture with the texture of imagery (noise over gradients: PNG cannot cheat)."""
    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 200, size, dtype=np.float32)
    rgba = np.empty((4, size, size), np.uint8)
    for band in range(3):
        rgba[band] = np.clip(ramp[None, :] * 0.6 + ramp[:, None] * 0.3 + rng.normal(0, 12, (size, size)), 0, 255)
    rgba[3] = 255
    return rgba


def outlines(size: int, count: int, bounds: tuple[float, float, float, float]) -> list[Outline]:
    rng = np.random.default_rng(2)
    west, south, east, north = bounds
    step = (east - west) / size
    found = []
    for _ in range(count):
        x, y = rng.uniform(west, east - 40 * step), rng.uniform(south, north - 40 * step)
        w = rng.uniform(4, 40) * step
        found.append(Outline([[(x, y), (x + w, y), (x + w, y + w), (x, y + w)]], f"ship {rng.uniform():.2f}"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes: check that the script works")
    args = parser.parse_args()
    size, frames_count, frame_size = (512, 5, 128) if args.quick else (4096, 30, 512)
    repeat = 1 if args.quick else args.repeat
    bounds = (400000.0, 5000000.0, 400000.0 + 10 * size, 5000000.0 + 10 * size)  # 10 m pixels
    rgba = picture(size)
    legend = legend_for(parse_render_spec({"bands": ["B04,B03,B02"], "rescale": ["0,3000"]}, ["B04", "B03", "B02"]),
                        [{"name": name} for name in ("B04", "B03", "B02")])
    full = Decorations(scale_bar=True, north_arrow=True, legend=legend, caption="S2_T33TUL · 2024-06-01 · true colour",
                       outlines=outlines(size, 5000, bounds))
    cx, cy, r = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, (bounds[2] - bounds[0]) * 0.45
    circle = {"type": "Polygon", "coordinates": [[(cx + r * math.cos(a), cy + r * math.sin(a))
                                                  for a in np.linspace(0, 2 * math.pi, 200)]]}
    transform = Affine.translation(bounds[0], bounds[3]) * Affine.scale(10, -10)
    say(f"pictures of {size} x {size}, {repeat} runs each")
    png = median_ms(lambda: encode(rgba, "png"), repeat)
    jpeg = median_ms(lambda: encode(rgba, "jpg"), repeat)
    copy = median_ms(rgba.copy, repeat)  # the benchmark's own copy of the render, taken out below
    decorated = median_ms(lambda: decorate(rgba.copy(), UTM, bounds, full), repeat) - copy
    plain_decorations = median_ms(lambda: decorate(rgba.copy(), UTM, bounds, Decorations(
        scale_bar=True, north_arrow=True, legend=legend, caption="caption")), repeat) - copy
    masked = median_ms(lambda: mask_outside(rgba.copy(), [circle], transform), repeat) - copy
    png_bytes = encode(rgba, "png")
    kmz = median_ms(lambda: kmz_bytes(png_bytes, "png", (13.0, 45.0, 13.5, 45.4), "name"), repeat)
    print_table(f"A {size} x {size} export (ms, median)", ["step", "ms", "share of the PNG encoding"], [
        ("encode PNG (every export)", f"{png:.0f}", "100 %"),
        ("encode JPEG", f"{jpeg:.0f}", f"{100 * jpeg / png:.0f} %"),
        ("scale bar, north arrow, legend, caption", f"{plain_decorations:.0f}",
         f"{100 * plain_decorations / png:.1f} %"),
        ("the same and 5,000 detection outlines", f"{decorated:.0f}", f"{100 * decorated / png:.1f} %"),
        ("mask outside a 200-vertex polygon", f"{masked:.0f}", f"{100 * masked / png:.1f} %"),
        ("a KMZ around the PNG", f"{kmz:.0f}", f"{100 * kmz / png:.1f} %"),
    ])
    frames = [Image.fromarray(np.moveaxis(picture(frame_size), 0, -1)[..., :3]) for _ in range(frames_count)]
    gif = median_ms(lambda: animated_gif(frames, 500), repeat)
    mp4 = median_ms(lambda: mp4_video(frames, 0.5), repeat)
    gif_size, mp4_size = len(animated_gif(frames, 500)), len(mp4_video(frames, 0.5))
    print_table(f"A timelapse of {frames_count} frames of {frame_size} x {frame_size}", ["format", "ms", "bytes"], [
        ("GIF", f"{gif:.0f}", f"{gif_size:,}"), ("MP4 (H.264)", f"{mp4:.0f}", f"{mp4_size:,}")])
    if args.quick:
        return 0
    missed = []
    if plain_decorations + masked > 0.10 * png:
        missed.append("decorations and the mask add more than 10 % to the PNG encoding")
    if mp4 > gif:
        missed.append("the MP4 encodes slower than the GIF")
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
