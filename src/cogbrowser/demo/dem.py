"""The demo's elevation model: float32 metres at 30 m, the Sentinel-2 area and its hinterland.

The same terrain function gives the forests of the Sentinel-2 scenes their hills; the sea is nodata.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from cogbrowser.demo import world

IMAGE_ID = "dem_demo_30m"
ACQUIRED = datetime(2024, 3, 1, tzinfo=timezone.utc)  # the model's reference date
NODATA = -9999.0


def render(grid=world.DEM_GRID) -> np.ndarray:
    """Elevation as float32 (1, H, W), NODATA over the sea."""
    us, vs = grid.us, grid.vs
    h = world.elevation(us, vs)
    sea = world.land_distance(us, vs) < 0
    h = np.round(h, 2).astype(np.float32)
    h[sea] = NODATA
    return h[None]


def rescale_max(elevation: np.ndarray) -> float:
    """The top of the colour ramp: the highest point rounded up to 50 m."""
    valid = elevation[elevation != NODATA]
    return float(np.ceil(valid.max() / 50.0) * 50.0)
