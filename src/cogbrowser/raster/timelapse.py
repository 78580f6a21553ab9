"""Timelapses: one area drawn date after date, as the frames of an animated GIF or an MP4 video.

The area is drawn in Web Mercator, as the web map shows it, on a grid that keeps the area's shape
there. A lon/lat box across the antimeridian (east past 180) stays one box: Web Mercator's x is
linear in longitude, so the grid simply reaches past the world's edge, where the reader still finds
the image's pixels. Frames are RGBA renders laid on a light background (a GIF has no partial
transparency) with the date written in a corner. Pure functions over numpy and Pillow; the MP4 is
H.264 made by the ffmpeg that the imageio-ffmpeg wheel carries (nothing to install or download, on
Windows too), through a temporary file.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageDraw

from cogbrowser.raster.bbox import Bounds
from cogbrowser.raster.crs import WEB_MERCATOR, WGS84
from cogbrowser.raster.legend import default_font
from cogbrowser.raster.reader import transformer

__all__ = ["mercator_grid", "frame", "animated_gif", "mp4_video", "MERCATOR_MAX_LATITUDE"]

MERCATOR_MAX_LATITUDE = 85.0511287798066  # Web Mercator's square world ends here
MERCATOR_RADIUS = 6378137.0  # Web Mercator's sphere: x = radius * longitude in radians
BACKGROUND = (236, 240, 234, 255)
LABEL_BACKGROUND = (29, 39, 51)
LABEL_INK = (255, 255, 255)


def mercator_grid(bbox: Sequence[float], width: int, max_height: int) -> tuple[Bounds, int, int]:
    """A lon/lat box (west < east; east past 180 across the antimeridian) as bounds in Web
    Mercator, with the picture size keeping its shape there: `width` across and the height that
    follows, in 1..`max_height`. Latitudes beyond Web Mercator's +-85.05 are cut off."""
    west, south, east, north = (float(v) for v in bbox)
    south, north = (min(max(v, -MERCATOR_MAX_LATITUDE), MERCATOR_MAX_LATITUDE) for v in (south, north))
    _, (bottom, top) = transformer(WGS84, WEB_MERCATOR).transform([0.0, 0.0], [south, north])
    left, right = (MERCATOR_RADIUS * math.radians(longitude) for longitude in (west, east))
    if not right > left:
        raise ValueError(f"the box {west:g}..{east:g} has no width")
    height = max(1, min(max_height, round(width * (top - bottom) / (right - left))))
    return (left, bottom, right, top), width, height


def frame(rgba: np.ndarray, label: str | None = None) -> Image.Image | None:
    """One frame from a render, RGBA (4, H, W) uint8: laid on the background, as RGB, with `label`
    (the date) in the top left corner. None when the render drew nothing (no data in the area)."""
    if not rgba[3].any():
        return None
    drawn = Image.fromarray(np.ascontiguousarray(np.moveaxis(rgba, 0, -1)), "RGBA")
    picture = Image.alpha_composite(Image.new("RGBA", drawn.size, BACKGROUND), drawn).convert("RGB")
    if label:
        draw = ImageDraw.Draw(picture)
        font = default_font()
        box = draw.textbbox((0, 0), label, font=font)
        draw.rectangle((4, 4, 12 + box[2] - box[0], 12 + box[3] - box[1]), fill=LABEL_BACKGROUND)
        draw.text((8, 6), label, font=font, fill=LABEL_INK)
    return picture


def animated_gif(frames: Sequence[Image.Image], frame_ms: int) -> bytes:
    """The frames as one animated GIF that loops, each shown `frame_ms` milliseconds."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=list(frames[1:]), duration=frame_ms, loop=0,
                   optimize=False)
    return out.getvalue()


def mp4_video(frames: Sequence[Image.Image], frame_seconds: float) -> bytes:
    """The frames as an H.264 MP4 (yuv420p, playable by browsers and office software), each shown
    `frame_seconds`. H.264 wants even sizes: an odd last row or column is padded with the background."""
    if not frames:
        raise ValueError("a video needs at least one frame")
    width, height = frames[0].size
    even = (width + width % 2, height + height % 2)
    with tempfile.TemporaryDirectory(prefix="cogbrowser-mp4-") as folder:
        path = Path(folder) / "timelapse.mp4"
        writer = imageio_ffmpeg.write_frames(str(path), even, fps=1 / frame_seconds, codec="libx264",
                                             macro_block_size=2, output_params=["-movflags", "+faststart"],
                                             ffmpeg_log_level="error")
        writer.send(None)  # start ffmpeg
        try:
            for picture in frames:
                padded = Image.new("RGB", even, BACKGROUND[:3])
                padded.paste(picture.convert("RGB"), (0, 0))
                writer.send(np.ascontiguousarray(np.asarray(padded)))
        finally:
            writer.close()
        return path.read_bytes()
