"""The demo data set: what it contains, and making it (once) through the same ingest users' data takes.

`ensure_demo_data` checks the catalog (one query, a few file stats) and returns at once when the demo
is in place. Otherwise it models the world, writes each image as a plain tiled GeoTIFF (not a COG,
so the conversion is exercised) with its acquisition time and cloud cover in the TIFF tags, ingests
it with `ingest_file`, then imports the detections from a CSV with `import_detections`. The
collections are marked with DEMO_VERSION last, so an interrupted run is completed by the next one.
Everything is seeded: every run writes the same bytes.
"""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Database
from cogbrowser.config import Settings
from cogbrowser.demo import aerial, dem, labels, sentinel2, targets, world
from cogbrowser.demo.canvas import CRS, Grid
from cogbrowser.errors import CogbrowserError

DEMO_VERSION = 1
SOURCES_DIR = "demo-sources"
REGION = "Gulf of Trieste, Adriatic Sea (synthetic landscape)"

S2_COLLECTION = "sentinel2-demo"
AERIAL_COLLECTION = "aerial-demo"
DEM_COLLECTION = "dem-demo"
COLLECTION_IDS = (S2_COLLECTION, AERIAL_COLLECTION, DEM_COLLECTION)

S2_BANDS = [
    {"name": "B02", "common_name": "blue", "description": "Blue", "center_wavelength": 0.49},
    {"name": "B03", "common_name": "green", "description": "Green", "center_wavelength": 0.56},
    {"name": "B04", "common_name": "red", "description": "Red", "center_wavelength": 0.665},
    {"name": "B08", "common_name": "nir", "description": "Near infrared", "center_wavelength": 0.842},
]
S2_PRESETS = [
    {"name": "true-color", "title": "True colour", "bands": ["B04", "B03", "B02"], "rescale": [[0, 2500]]},
    {"name": "false-color", "title": "False colour (NIR)", "bands": ["B08", "B04", "B03"], "rescale": [[0, 4000]]},
    {"name": "ndvi", "title": "NDVI", "expression": "(B08-B04)/(B08+B04)", "rescale": [[-1, 1]], "colormap": "rdylgn"},
    {"name": "ndwi", "title": "NDWI (water)", "expression": "(B03-B08)/(B03+B08)", "rescale": [[-1, 1]],
     "colormap": "viridis"},
]
AERIAL_BANDS = [
    {"name": "red", "common_name": "red", "description": "Red"},
    {"name": "green", "common_name": "green", "description": "Green"},
    {"name": "blue", "common_name": "blue", "description": "Blue"},
]
AERIAL_PRESETS = [
    {"name": "true-color", "title": "True colour", "bands": ["red", "green", "blue"], "rescale": [[0, 255]]}]
DEM_BANDS = [{"name": "elevation", "description": "Height above sea level (m)"}]

Echo = Callable[[str], None]


@dataclass(frozen=True)
class DemoImage:
    """One image of the demo: its id (the source file's stem), collection and time."""

    image_id: str
    collection: str
    acquired: datetime
    title: str
    scene: sentinel2.SceneSpec | None = None

    @property
    def has_detections(self) -> bool:
        return self.collection != DEM_COLLECTION


def demo_images() -> list[DemoImage]:
    images = [DemoImage(spec.image_id, S2_COLLECTION, spec.acquired,
                        f"Sentinel-2 L2A {spec.acquired:%Y-%m-%d} (demo)", spec) for spec in sentinel2.SCENES]
    images.append(DemoImage(aerial.IMAGE_ID, AERIAL_COLLECTION, aerial.ACQUIRED,
                            f"Aerial photo of the port {aerial.ACQUIRED:%Y-%m-%d} (demo)"))
    images.append(DemoImage(dem.IMAGE_ID, DEM_COLLECTION, dem.ACQUIRED, "Elevation model 30 m (demo)"))
    return images


# -- generation ---------------------------------------------------------------------------------
@dataclass
class Generated:
    """An image's pixels and how to write them, plus its detections (CSV rows)."""

    data: np.ndarray
    grid: Grid
    nodata: float | None
    band_names: tuple[str, ...]
    tags: dict[str, str]
    detections: list[dict]
    photometric: str | None = None


class Generator:
    """Makes demo images; keeps the Sentinel-2 landscape between dates (it takes a few seconds)."""

    def __init__(self) -> None:
        self._static: sentinel2.StaticScene | None = None

    @property
    def static(self) -> sentinel2.StaticScene:
        if self._static is None:
            self._static = sentinel2.build_static()
        return self._static

    def generate(self, image: DemoImage) -> Generated:
        if image.scene is not None:
            return self._sentinel2(image.scene)
        if image.collection == AERIAL_COLLECTION:
            return self._aerial()
        return self._dem()

    def detections(self, image: DemoImage) -> list[dict]:
        """Only the detections of an image (without rendering it, for images already catalogued)."""
        if image.scene is not None:
            spec = image.scene
            clouds = sentinel2.cloud_layer(spec)
            ships, aircraft = targets.ships_on(spec.image_id), targets.aircraft_on(spec.image_id)
            return labels.sentinel2_detections(spec.image_id, spec.acquired, ships, aircraft,
                                               clouds[0] if clouds else None, sentinel2.valid_mask(spec))
        if image.collection == AERIAL_COLLECTION:
            return labels.aerial_detections(aerial.IMAGE_ID, aerial.ACQUIRED,
                                            targets.ships_on(aerial.IMAGE_ID, aerial=True), targets.vehicles())
        return []

    def _sentinel2(self, spec: sentinel2.SceneSpec) -> Generated:
        ships, aircraft = targets.ships_on(spec.image_id), targets.aircraft_on(spec.image_id)
        data, cloud_cover, alpha = sentinel2.render_scene(self.static, spec, ships, aircraft)
        valid = sentinel2.valid_mask(spec)
        rows = labels.sentinel2_detections(spec.image_id, spec.acquired, ships, aircraft, alpha, valid)
        tags = {
            "datetime": _iso(spec.acquired), "cloud_cover": f"{cloud_cover:.2f}",
            "platform": "sentinel-2 (simulated)", "instrument": "msi", "processing_level": "L2A",
            "quantification_value": "10000", "generator": f"cogbrowser demo v{DEMO_VERSION}", "region": REGION,
        }
        return Generated(data, world.S2_GRID, sentinel2.NODATA, sentinel2.BANDS, tags, rows)

    def _aerial(self) -> Generated:
        ships, vehicles = targets.ships_on(aerial.IMAGE_ID, aerial=True), targets.vehicles()
        data = aerial.render(ships, vehicles)
        rows = labels.aerial_detections(aerial.IMAGE_ID, aerial.ACQUIRED, ships, vehicles)
        tags = {"datetime": _iso(aerial.ACQUIRED), "cloud_cover": "0", "platform": "aerial survey (simulated)",
                "gsd": "0.5", "generator": f"cogbrowser demo v{DEMO_VERSION}", "region": REGION}
        return Generated(data, world.AERIAL_GRID, None, aerial.BANDS, tags, rows, photometric="RGB")

    def _dem(self) -> Generated:
        data = dem.render()
        tags = {"datetime": _iso(dem.ACQUIRED), "units": "metre", "vertical_datum": "mean sea level",
                "generator": f"cogbrowser demo v{DEMO_VERSION}", "region": REGION}
        return Generated(data, world.DEM_GRID, dem.NODATA, ("elevation",), tags, [])


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_source(generated: Generated, path: Path) -> None:
    """Write a plain tiled GeoTIFF (no overviews: ingest must make the COG)."""
    data = generated.data
    profile = {
        "driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
        "dtype": data.dtype.name, "crs": CRS, "transform": generated.grid.transform, "nodata": generated.nodata,
        "tiled": True, "blockxsize": 512, "blockysize": 512, "interleave": "pixel",
    }
    if generated.photometric:
        profile["photometric"] = generated.photometric
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            dst.update_tags(**generated.tags)
            for index, name in enumerate(generated.band_names, start=1):
                dst.set_band_description(index, name)


def generate_array(image_id: str, generator: Generator | None = None) -> np.ndarray:
    """The pixels of one demo image (for checks: the same on every run)."""
    image = next(i for i in demo_images() if i.image_id == image_id)
    return (generator or Generator()).generate(image).data


# -- the catalog side ---------------------------------------------------------------------------
@dataclass
class _Survey:
    versions: dict[str, object]
    present: dict[str, dict]  # image id -> row (id, collection_id, path, managed, detections)

    def complete(self, images: list[DemoImage], settings: Settings) -> bool:
        if any(self.versions.get(c) != DEMO_VERSION for c in COLLECTION_IDS):
            return False
        return all(self._usable(image, settings) for image in images)

    def _usable(self, image: DemoImage, settings: Settings) -> bool:
        row = self.present.get(image.image_id)
        return bool(row and row["collection_id"] == image.collection and _file_of(row, settings).is_file())


def _file_of(row: dict, settings: Settings) -> Path:
    return settings.data_dir / row["path"] if row["managed"] else Path(row["path"])


def _survey(db: Database, images: list[DemoImage]) -> _Survey:
    with db.connection() as conn:
        versions = {r["id"]: (r["properties"] or {}).get("demo_version") for r in conn.execute(
            "SELECT id, properties FROM collections WHERE id = ANY(%s)", (list(COLLECTION_IDS),))}
        rows = conn.execute(
            "SELECT i.id, i.collection_id, i.path, i.managed,"
            " (SELECT count(*) FROM detections d WHERE d.image_id = i.id) AS detections"
            " FROM images i WHERE i.id = ANY(%s)", ([i.image_id for i in images],)).fetchall()
    return _Survey(versions, {r["id"]: r for r in rows})


def _collections(db: Database, dem_max: float, version: int | None) -> None:
    base = {"demo": True, "synthetic": True, "region": REGION}
    if version is not None:
        base["demo_version"] = version
    with db.connection() as conn, conn.transaction():
        queries.upsert_collection(
            conn, S2_COLLECTION, "Sentinel-2 L2A demo (generated)",
            "Synthetic Sentinel-2 L2A scenes of a stretch of Adriatic coast with a port town, an airfield, "
            "forested hills and fields, from April to October 2024: surface reflectance x 10000 in B02, B03, "
            "B04 and B08 at 10 m, some dates with clouds and one at the edge of the orbit's swath.",
            S2_BANDS, S2_PRESETS, {**base, "platform": "sentinel-2 (simulated)", "gsd": 10})
        queries.upsert_collection(
            conn, AERIAL_COLLECTION, "Aerial photo demo (generated)",
            "A synthetic RGB aerial photo of the port at 0.5 m: ships at the piers, container stacks, "
            "a tank farm, warehouses, cars and lorries.",
            AERIAL_BANDS, AERIAL_PRESETS, {**base, "platform": "aerial survey (simulated)", "gsd": 0.5})
        queries.upsert_collection(
            conn, DEM_COLLECTION, "Elevation model demo (generated)",
            "A synthetic 30 m elevation model of the same coast and its hinterland (metres; the sea is no data).",
            DEM_BANDS, [{"name": "terrain", "title": "Elevation", "bands": ["elevation"], "rescale": [[0, dem_max]],
                         "colormap": "terrain"}], {**base, "gsd": 30})


def _remove_images(db: Database, settings: Settings, where: str, params: tuple) -> int:
    """Delete catalog rows (their detections go with them) and their managed files."""
    removed = 0
    with db.connection() as conn:
        rows = conn.execute(f"SELECT id FROM images WHERE {where}", params).fetchall()
        for row in rows:
            deleted = queries.delete_image(conn, row["id"])
            if deleted and deleted.managed:
                (settings.data_dir / deleted.path).unlink(missing_ok=True)
            removed += 1
    return removed


def ensure_demo_data(db: Database, settings: Settings, echo: Echo) -> None:
    """Make the demo data set in the data dir unless it is already there (then return at once)."""
    images = demo_images()
    survey = _survey(db, images)
    if survey.complete(images, settings):
        count = sum(r["detections"] for r in survey.present.values())
        echo(f"Demo data set in place: {len(images)} images, {count} detections.")
        return
    import filelock

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(settings.data_dir / "demo.lock")):
        survey = _survey(db, images)  # another process may have made it meanwhile
        if survey.complete(images, settings):
            echo("Demo data set in place (made by another process).")
            return
        _make(db, settings, echo, images, survey)


def _make(db: Database, settings: Settings, echo: Echo, images: list[DemoImage], survey: _Survey) -> None:
    from cogbrowser.ingest.detections import import_detections
    from cogbrowser.ingest.images import IngestRequest, ingest_file

    started = time.perf_counter()
    echo(f"Making the demo data set in {settings.data_dir} (first run only; about a minute) ...")
    if any(v not in (None, DEMO_VERSION) for v in survey.versions.values()):
        removed = _remove_images(db, settings, "collection_id = ANY(%s)", (list(COLLECTION_IDS),))
        echo(f"  removed {removed} image(s) of an older demo version")
        survey = _survey(db, images)
    taken = [(i.image_id, survey.present[i.image_id]["collection_id"]) for i in images
             if i.image_id in survey.present and survey.present[i.image_id]["collection_id"] != i.collection]
    if taken:
        image_id, other = taken[0]
        raise CogbrowserError(f"the demo's image id {image_id} is taken by an image of collection {other!r}; "
                              "delete or rename that image, or use another data dir")
    broken = [i.image_id for i in images if i.image_id in survey.present and not survey._usable(i, settings)]
    if broken:  # a catalog row whose COG file is gone: make the image again
        _remove_images(db, settings, "id = ANY(%s)", (broken,))
        echo(f"  replacing {len(broken)} demo image(s) whose file is missing: {', '.join(broken)}")
        survey = _survey(db, images)

    generator = Generator()
    elevation = generator.generate(next(i for i in images if i.collection == DEM_COLLECTION))
    _collections(db, dem.rescale_max(elevation.data), None)

    sources = settings.data_dir / SOURCES_DIR
    sources.mkdir(parents=True, exist_ok=True)
    missing = [i for i in images if i.image_id not in survey.present]
    detections: dict[str, list[dict]] = {}
    try:
        if any(i.scene is not None for i in missing):
            step = time.perf_counter()
            _ = generator.static  # the landscape, modelled now to time it on its own
            echo(f"  landscape modelled ({time.perf_counter() - step:.1f} s)")
        for number, image in enumerate(missing, start=1):
            step = time.perf_counter()
            generated = elevation if image.collection == DEM_COLLECTION else generator.generate(image)
            path = sources / f"{image.image_id}.tif"
            write_source(generated, path)
            made = time.perf_counter() - step
            stale = settings.cog_dir / f"{image.image_id}.tif"
            stale.unlink(missing_ok=True)  # left by an interrupted run: no row refers to it
            result = ingest_file(db, settings, IngestRequest(
                path=path, collection=image.collection, image_id=image.image_id, title=image.title,
                properties={"demo": True}))
            path.unlink(missing_ok=True)
            if result.status == "failed" or result.image_id != image.image_id:
                raise CogbrowserError(f"demo image {image.image_id} could not be ingested: {result.message}")
            detections[image.image_id] = generated.detections
            what = _describe(image, generated)
            echo(f"  [{number}/{len(missing)}] {image.image_id}: {what}; generated in {made:.1f} s, "
                 f"ingested in {result.seconds:.1f} s")
        survey = _survey(db, images)
        pending = [i for i in images if i.has_detections and not survey.present[i.image_id]["detections"]]
        if pending:
            step = time.perf_counter()
            rows = [row for i in pending for row in (detections.get(i.image_id) or generator.detections(i))]
            csv_path = sources / "detections.csv"
            with open(csv_path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=labels.COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
            report = import_detections(db, csv_path)
            if report.problems:
                first = report.problems[0]
                raise CogbrowserError(f"demo detections were not imported: {first.where}: {first.message}")
            echo(f"  {report.imported} detections imported ({time.perf_counter() - step:.1f} s)")
        _collections(db, dem.rescale_max(elevation.data), DEMO_VERSION)
    finally:
        shutil.rmtree(sources, ignore_errors=True)
    survey = _survey(db, images)
    count = sum(r["detections"] for r in survey.present.values())
    echo(f"Demo data set ready: {len(images)} images in {len(COLLECTION_IDS)} collections, {count} detections "
         f"({time.perf_counter() - started:.0f} s).")


def _describe(image: DemoImage, generated: Generated) -> str:
    if image.scene is not None:
        cover = float(generated.tags["cloud_cover"])
        sky = f"{cover:.0f}% cloud" if cover else "clear"
        if image.scene.wedge:
            sky += ", swath edge"
        return f"Sentinel-2 {image.acquired:%Y-%m-%d}, {sky}, {len(generated.detections)} detections"
    if image.collection == AERIAL_COLLECTION:
        return f"aerial photo 0.5 m, {len(generated.detections)} detections"
    return "elevation model 30 m"
