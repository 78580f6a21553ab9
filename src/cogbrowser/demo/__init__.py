"""The demo data set: a synthetic but realistic stretch of coast, made once in the data dir.

`cogbrowser demo` calls `ensure_demo_data`: eight Sentinel-2-like dates, an aerial photo of the port
and an elevation model (all in UTM 33N, roughly the Gulf of Trieste), with a few thousand detections
of ships, aircraft, vehicles, storage tanks and buildings. Everything goes through the same ingest
and detections import as users' data; everything is seeded, so every run makes the same bytes.
"""

from cogbrowser.demo.dataset import (
    AERIAL_COLLECTION,
    COLLECTION_IDS,
    DEM_COLLECTION,
    DEMO_VERSION,
    S2_COLLECTION,
    demo_images,
    ensure_demo_data,
    generate_array,
)

__all__ = ["AERIAL_COLLECTION", "COLLECTION_IDS", "DEM_COLLECTION", "DEMO_VERSION", "S2_COLLECTION", "demo_images",
           "ensure_demo_data", "generate_array"]
