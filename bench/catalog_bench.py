"""Catalog benchmark: search latency over 100,000 images and 1,000,000 detections.

    python bench/catalog_bench.py [--images 100000] [--detections 1000000] [--queries 200]
                                  [--workdir DIR] [--explain | --explain-all] [--experiment SQL ...] [--quick]

Starts the embedded PostgreSQL in a throw-away data dir (migrated by cogbrowser itself), fills it
with generated rows in SQL (generate_series), VACUUM ANALYZE, then times randomised queries through
cogbrowser.catalog.queries, the functions the app uses, each on a connection from the app's pool:

  a  search_images: bbox (1-10 degrees), 3-month range, with_target_class=[one class], limit 100
  b  the same + max_cloud_cover and 1-3 collections
  c  search_detections: bbox, 3-month range, 1-2 classes, limit 1000
  d  count_detections_by(image_ids=[10-100 images of the period], 3-month range, "class")
  e  count_detections_by(a one-year range only, "class")

Targets (p95): 50 ms for the searches a-c (issue 2), 150 ms for the aggregations d-e (issue 4).
--explain prints EXPLAIN (ANALYZE, BUFFERS) of the slowest query
of every kind over target; --experiment runs SQL (e.g. CREATE INDEX ...) after the baseline, then
the very same queries again, and prints before/after.
Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    OtherLoad,
    default_workdir,
    embedded_catalog,
    percentiles,
    postmaster_pid,
    print_table,
    say,
    scratch_dir,
)
from cogbrowser.catalog import queries  # noqa: E402
from cogbrowser.catalog.queries import DetectionQuery, ImageQuery  # noqa: E402
from cogbrowser.raster.bbox import BBox  # noqa: E402

SEARCH_P95_MS = 50.0  # issue 2: catalog search with bbox + time + class filters
AGGREGATION_P95_MS = 150.0  # issue 4: dashboard aggregations over 1,000,000 detections
T0 = datetime(2022, 1, 1, tzinfo=timezone.utc)
SPAN_DAYS = 3 * 365
# Where the data is: analysts' areas of interest (west, south, east, north); 10 % of images fall anywhere.
REGIONS = [
    (5, 42, 25, 55),       # central Europe
    (25, 30, 40, 40),      # eastern Mediterranean
    (45, 22, 60, 32),      # Persian Gulf
    (105, 5, 122, 22),     # South China Sea
    (122, 30, 142, 42),    # Korea, Japan
    (-82, 30, -68, 44),    # US east coast
    (-18, 0, 5, 15),       # West Africa
    (28, 40, 42, 47),      # Black Sea
    (10, 53, 30, 62),      # Baltic
    (-85, 10, -60, 25),    # Caribbean
]
COLLECTIONS = ["sentinel-2-l2a", "sentinel-1-grd", "landsat-c2-l2", "spot-6", "pleiades", "worldview-3",
               "planetscope", "aerial-ortho", "capella-sar", "iceye-sar"]
# Detection classes and how common each is (cumulative thresholds are built from these).
CLASSES = [("vehicle", 0.30), ("ship", 0.20), ("building", 0.15), ("aircraft", 0.08), ("storage-tank", 0.07),
           ("container", 0.06), ("boat", 0.05), ("helicopter", 0.03), ("bridge", 0.03), ("train", 0.03)]
CLASS_NAMES = [name for name, _ in CLASSES]


# -- filling the catalog ----------------------------------------------------------------------
@dataclass
class Filled:
    """A throw-away embedded catalog filled by `fill`: where it lives, and how the filling went."""

    data_dir: Path
    db: object
    settings: object
    steps: list[tuple[str, float]]
    seconds: float


@contextlib.contextmanager
def filled_catalog(workdir: Path, prefix: str, n_images: int, n_detections: int) -> Iterator[Filled]:
    """A scratch data dir under `workdir` with an embedded catalog of `n_images` images and
    `n_detections` detections (the catalog, API and Analytics benches measure the same data)."""
    with scratch_dir(workdir.expanduser().resolve(), prefix) as scratch:
        data_dir = scratch / "data"
        with embedded_catalog(data_dir, max_size=2) as (db, settings):
            say(f"filling the catalog: {n_images:,} images, {n_detections:,} detections")
            with db.connection() as conn:
                started = time.perf_counter()
                steps = fill(conn, n_images, n_detections)
            yield Filled(data_dir, db, settings, steps, time.perf_counter() - started)


def fill(conn, n_images: int, n_detections: int) -> list[tuple[str, float]]:
    """Generate the rows in SQL; returns the time of each step."""
    steps: list[tuple[str, float]] = []

    def step(label: str, statement: str, params=None) -> None:
        started = time.perf_counter()
        conn.execute(statement, params)
        steps.append((label, time.perf_counter() - started))
        say(f"  {label}: {steps[-1][1]:.1f} s")

    conn.execute("SELECT setseed(0.42)")
    step("collections", "INSERT INTO collections (id, title) SELECT c, c FROM unnest(%s::text[]) c", (COLLECTIONS,))
    # Image geometry first, in a temp table the detections step joins on the image number.
    step("image layout", f"""
        CREATE TEMP TABLE gen_images AS
        SELECT n, west, south, west + w AS east, south + h AS north, acquired_at, cloud_cover, collection_id
        FROM (
            SELECT n, w, h, acquired_at, cloud_cover, collection_id,
                   CASE WHEN r_where < 0.1 THEN -180 + r_x * (355 - w)
                        ELSE (%(rw)s::float8[])[k]
                             + r_x * ((%(re)s::float8[])[k] - (%(rw)s::float8[])[k] - w) END AS west,
                   CASE WHEN r_where < 0.1 THEN -60 + r_y * (130 - h)
                        ELSE (%(rs)s::float8[])[k]
                             + r_y * ((%(rn)s::float8[])[k] - (%(rs)s::float8[])[k] - h) END AS south
            FROM (
                SELECT g AS n, random() AS r_where, random() AS r_x, random() AS r_y,
                       1 + floor(random() * {len(REGIONS)})::int AS k,
                       0.1 + 0.9 * random() AS w, 0.6 + 0.6 * random() AS aspect,
                       %(t0)s::timestamptz + random() * interval '{SPAN_DAYS} days' AS acquired_at,
                       round((100 * power(random(), 1.6))::numeric, 1)::real AS cloud_cover,
                       (%(collections)s::text[])[1 + floor(random() * {len(COLLECTIONS)})::int] AS collection_id
                FROM generate_series(1, %(n)s) g
            ) r, LATERAL (SELECT w * aspect AS h) s
        ) p
        """, {"t0": T0, "collections": COLLECTIONS, "n": n_images,
              "rw": [r[0] for r in REGIONS], "rs": [r[1] for r in REGIONS],
              "re": [r[2] for r in REGIONS], "rn": [r[3] for r in REGIONS]})
    conn.execute("ALTER TABLE gen_images ADD PRIMARY KEY (n)")
    step("images", """
        INSERT INTO images (id, collection_id, title, path, managed, source_path, acquired_at, cloud_cover, crs, epsg,
            native_bounds, bbox, footprint, width, height, band_count, dtype, nodata, resolution, transform, overviews,
            bands, mask, compression, blocksize, checksum, source_checksum, size_bytes, properties)
        SELECT 'img-' || lpad(n::text, 7, '0'), collection_id, 'Scene ' || n,
               'cogs/img-' || lpad(n::text, 7, '0') || '.tif',
               true, '/data/incoming/scene_' || n || '.tif', acquired_at, cloud_cover,
               'GEOGCRS["WGS 84",DATUM["World Geodetic System 1984"]]', 4326,
               ARRAY[west, south, east, north], box(point(west, south), point(east, north)),
               jsonb_build_object('type', 'Polygon', 'coordinates', jsonb_build_array(jsonb_build_array(
                   jsonb_build_array(west, south), jsonb_build_array(east, south), jsonb_build_array(east, north),
                   jsonb_build_array(west, north), jsonb_build_array(west, south)))),
               10980, 10980, 4, 'uint16', 0, ARRAY[(east - west) / 10980, (north - south) / 10980],
               ARRAY[(east - west) / 10980, 0, west, 0, -(north - south) / 10980, north],
               '{2,4,8,16,32}', (SELECT jsonb_agg(jsonb_build_object('index', b, 'name', 'b' || b, 'dtype', 'uint16',
                   'statistics', jsonb_build_object('min', 1, 'max', 10000, 'mean', 1500.5, 'stddev', 800.2,
                   'p2', 210, 'p98', 4100, 'valid_percent', 100, 'exact', false)))
                   FROM generate_series(1, 4) b),
               'nodata', 'DEFLATE', '{512,512}', md5(n::text) || md5('cog' || n), md5(n::text) || md5('src' || n),
               800000000 + n, jsonb_build_object('tags', jsonb_build_object('AREA_OR_POINT', 'Area'))
        FROM gen_images
        """)
    thresholds, total = [], 0.0
    for _, weight in CLASSES[:-1]:
        total += weight
        thresholds.append(round(total, 6))
    # Detections fall on 40 % of the images, unevenly (a busy port image has hundreds): image number
    # 1 + floor(0.4 N r^1.5), placed inside its image, timed at its acquisition.
    step("detections", f"""
        INSERT INTO detections (image_id, target_class, target_name, score, geometry, bbox, pixel_bbox, area_m2,
                                detected_at, properties)
        SELECT 'img-' || lpad(i.n::text, 7, '0'), cls,
               CASE WHEN r_name < 0.3 THEN cls || '-' || lpad(floor(r_name * 1000)::int::text, 3, '0') END,
               round((0.3 + 0.7 * r_score)::numeric, 3)::real,
               jsonb_build_object('type', 'Polygon', 'coordinates', jsonb_build_array(jsonb_build_array(
                   jsonb_build_array(x, y), jsonb_build_array(x + size, y), jsonb_build_array(x + size, y + size),
                   jsonb_build_array(x, y + size), jsonb_build_array(x, y)))),
               box(point(x, y), point(x + size, y + size)),
               ARRAY[floor((x - i.west) / (i.east - i.west) * 10980),
                     floor((i.north - y - size) / (i.north - i.south) * 10980),
                     ceil((x + size - i.west) / (i.east - i.west) * 10980),
                     ceil((i.north - y) / (i.north - i.south) * 10980)],
               round((size * 111000) ^ 2), i.acquired_at, '{{}}'::jsonb
        FROM (
            SELECT 1 + floor({0.4 * n_images} * power(random(), 1.5))::int AS n, random() AS r_name,
                   random() AS r_score,
                   random() AS r_x, random() AS r_y, 0.0002 + 0.003 * power(random(), 3) AS size,
                   (%(classes)s::text[])[1 + width_bucket(random(), %(thresholds)s::float8[])] AS cls
            FROM generate_series(1, %(n)s) g
        ) d
        JOIN gen_images i ON i.n = d.n,
        LATERAL (SELECT i.west + d.r_x * (i.east - i.west - d.size) AS x,
                        i.south + d.r_y * (i.north - i.south - d.size) AS y) p
        """, {"classes": CLASS_NAMES, "thresholds": thresholds, "n": n_detections})
    conn.execute("DROP TABLE gen_images")
    step("VACUUM ANALYZE", "VACUUM ANALYZE")
    return steps


# -- the queries ------------------------------------------------------------------------------
@dataclass
class Kind:
    key: str
    label: str
    make: Callable[[random.Random], tuple[Callable, object]]  # rng -> (function(conn), description)
    target_ms: float = SEARCH_P95_MS
    samples: list = field(default_factory=list)  # timed (callable, query); made once, reused after experiments
    warm: list = field(default_factory=list)  # untimed, run first


def random_bbox(rng: random.Random) -> BBox:
    """A 1-10 degree box: 80 % of them where the data is (an area of interest), 20 % anywhere."""
    w, h = rng.uniform(1, 10), rng.uniform(1, 10)
    if rng.random() < 0.8:
        west, south, east, north = rng.choice(REGIONS)
        cx, cy = rng.uniform(west, east), rng.uniform(south, north)
    else:
        cx, cy = rng.uniform(-175, 175), rng.uniform(-55, 65)
    return BBox(cx - w / 2, max(-90.0, cy - h / 2), cx + w / 2, min(90.0, cy + h / 2))


def random_period(rng: random.Random, days: int) -> tuple[datetime, datetime]:
    start = T0 + timedelta(seconds=rng.uniform(0, (SPAN_DAYS - days) * 86400))
    return start, start + timedelta(days=days)


def make_kinds(image_times: list[tuple[datetime, str]]) -> list[Kind]:
    import bisect

    times = [t for t, _ in image_times]

    def a(rng):
        start, end = random_period(rng, 91)
        q = ImageQuery(bbox=random_bbox(rng), start=start, end=end, with_target_class=[rng.choice(CLASS_NAMES)],
                       limit=100)
        return (lambda conn: queries.search_images(conn, q)), q

    def b(rng):
        start, end = random_period(rng, 91)
        q = ImageQuery(bbox=random_bbox(rng), start=start, end=end, with_target_class=[rng.choice(CLASS_NAMES)],
                       max_cloud_cover=rng.choice([10, 20, 30, 50, 70]),
                       collections=rng.sample(COLLECTIONS, rng.randint(1, 3)), limit=100)
        return (lambda conn: queries.search_images(conn, q)), q

    def c(rng):
        start, end = random_period(rng, 91)
        q = DetectionQuery(bbox=random_bbox(rng), start=start, end=end,
                           target_classes=rng.sample(CLASS_NAMES, rng.randint(1, 2)), limit=1000)
        return (lambda conn: queries.search_detections(conn, q)), q

    def d(rng):
        start, end = random_period(rng, 91)
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
        pool = [image_id for _, image_id in image_times[lo:hi]]
        ids = rng.sample(pool, min(len(pool), rng.randint(10, 100)))
        q = DetectionQuery(image_ids=ids, start=start, end=end)
        return (lambda conn: queries.count_detections_by(conn, q, "class")), q

    def e(rng):
        start, end = random_period(rng, 365)
        q = DetectionQuery(start=start, end=end)
        return (lambda conn: queries.count_detections_by(conn, q, "class")), q

    return [
        Kind("a", "search_images bbox+time+class", a),
        Kind("b", "search_images bbox+time+class+cloud+collections", b),
        Kind("c", "search_detections bbox+time+classes", c),
        Kind("d", "count_detections_by class, image_ids+time", d, AGGREGATION_P95_MS),
        Kind("e", "count_detections_by class, one year", e, AGGREGATION_P95_MS),
    ]


def run_kinds(db, kinds: list[Kind]) -> dict[str, dict]:
    """Time every sample of every kind (interleaved, so a slow moment hits all kinds alike)."""
    checkout = db.connection

    for kind in kinds:  # warm the caches (not timed)
        for run, _ in kind.warm:
            with checkout() as conn:
                run(conn)
    timings: dict[str, list[tuple[float, int, int]]] = {k.key: [] for k in kinds}
    count = len(kinds[0].samples)
    for index in range(count):
        for kind in kinds:
            run, _ = kind.samples[index]
            with checkout() as conn:
                started = time.perf_counter()
                rows = run(conn)
                timings[kind.key].append(((time.perf_counter() - started) * 1000, len(rows), index))
        if (index + 1) % max(1, count // 4) == 0:
            say(f"  {index + 1}/{count} queries of each kind")
    results = {}
    for kind in kinds:
        samples = timings[kind.key]
        stats = percentiles([ms for ms, _, _ in samples])
        stats["rows"] = sorted(n for _, n, _ in samples)[len(samples) // 2]
        stats["slowest"] = max(samples)[2]
        results[kind.key] = stats
    return results


def print_results(title: str, kinds: list[Kind], results: dict[str, dict], n: int) -> None:
    rows = []
    for kind in kinds:
        r = results[kind.key]
        rows.append([kind.key, kind.label, n, r["rows"], r["p50"], r["p95"], r["max"],
                     kind.target_ms, "OK" if r["p95"] < kind.target_ms else "OVER"])
    print_table(title, ["kind", "query", "queries", "rows (median)", "p50 ms", "p95 ms", "max ms",
                        "p95 target ms", "verdict"], rows)


class _Explaining:
    """Stands in for a connection: runs each statement under EXPLAIN ANALYZE and keeps the plan.

    generic=False: the plan PostgreSQL makes for these parameter values (a statement's first runs);
    generic=True: the generic plan, which a connection may switch to once psycopg has prepared the
    statement (after 5 runs) and PostgreSQL judges it no costlier than the custom plans so far.
    """

    def __init__(self, conn, generic: bool) -> None:
        self.conn = conn
        self.generic = generic
        self.plans: list[str] = []

    def execute(self, query, params=None):
        composed = sql.SQL(query) if isinstance(query, str) else query
        if not self.generic:
            cursor = self.conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + composed, params)
        else:
            text = composed.as_string(self.conn)
            parts = text.split("%s")
            numbered = "".join(part + (f"${i + 1}" if i < len(parts) - 1 else "") for i, part in enumerate(parts))
            literals = sql.SQL(", ").join(sql.Literal(v) for v in params or [])
            self.conn.execute("SET plan_cache_mode = force_generic_plan")
            self.conn.execute(sql.SQL("PREPARE bench_generic AS ") + sql.SQL(numbered))
            try:
                cursor = self.conn.execute(
                    sql.SQL("EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_generic ({})").format(literals))
            finally:
                self.conn.execute("DEALLOCATE bench_generic")
                self.conn.execute("RESET plan_cache_mode")
        self.plans.append("\n".join(row["QUERY PLAN"] for row in cursor.fetchall()))
        return self

    def fetchall(self):
        return []

    def fetchone(self):
        return None


def explain(db, kinds: list[Kind], results: dict[str, dict], everything: bool) -> None:
    """EXPLAIN ANALYZE of the slowest query of each kind (over target, or all), custom and generic plans."""
    for kind in kinds:
        r = results[kind.key]
        if not everything and r["p95"] < kind.target_ms:
            continue
        run, q = kind.samples[r["slowest"]]
        print(f"\nkind {kind.key} ({kind.label}), its slowest query ({r['max']:.1f} ms):\n  {q}")
        for generic in (False, True):
            with db.connection() as conn:
                probe = _Explaining(conn, generic)
                run(probe)
            title = ("generic plan (after psycopg prepares the statement, if PostgreSQL prefers it)" if generic
                     else "custom plan (for these values)")
            print(f"  EXPLAIN ANALYZE, {title}:")
            for plan in probe.plans:
                print("    " + plan.replace("\n", "\n    "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--detections", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="timed queries of each kind (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries of each kind first (default 20)")
    parser.add_argument("--workdir", type=Path, default=default_workdir(),
                        help=f"scratch folder (default {default_workdir()})")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN ANALYZE of the slowest query of each kind over target")
    parser.add_argument("--explain-all", action="store_true", help="... of every kind")
    parser.add_argument("--experiment", action="append", default=[], metavar="SQL",
                        help="SQL to run after the baseline (CREATE INDEX ..., ALTER SYSTEM SET ...: the "
                             "configuration is reloaded); then the same queries again")
    parser.add_argument("--quick", action="store_true", help="5,000 images, 50,000 detections, 50 queries")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.detections, args.queries, args.warmup = 5_000, 50_000, 50, 5

    with filled_catalog(args.workdir, "catalog-", args.images, args.detections) as filled:
        db, settings, steps, fill_seconds = filled.db, filled.settings, filled.steps, filled.seconds
        with db.connection() as conn:
            sizes = conn.execute(
                "SELECT relname AS name, pg_total_relation_size(oid) AS bytes, reltuples::bigint AS rows"
                " FROM pg_class WHERE relname IN ('images', 'detections') ORDER BY relname DESC").fetchall()
            version = conn.execute("SHOW server_version").fetchone()["server_version"]
            image_times = [(r["acquired_at"], r["id"]) for r in
                           conn.execute("SELECT acquired_at, id FROM images ORDER BY acquired_at")]

        kinds = make_kinds(image_times)
        rng = random.Random(args.seed)
        for kind in kinds:
            kind.samples = [kind.make(rng) for _ in range(args.queries)]
            kind.warm = [kind.make(rng) for _ in range(args.warmup)]  # other values than the timed ones
        say(f"running {args.queries} queries of each kind (after {args.warmup} untimed)")
        load = OtherLoad(lambda: postmaster_pid(settings.pg_dir))
        baseline = run_kinds(db, kinds)
        load_note = load.note()

        print(f"\nPostgreSQL {version} (embedded, as cogbrowser configures it), cogbrowser's own migrations")
        print(f"while the queries ran, {load_note}")
        print_table("Fill", ["step", "seconds"], [*steps, ("total", fill_seconds)])
        print_table("Tables", ["table", "rows", "size with indexes"],
                    [[s["name"], s["rows"], f"{s['bytes'] / 2**20:,.0f} MiB"] for s in sizes])
        print_results("Query latency (ms, on a pooled connection, rows fetched and converted)", kinds,
                      baseline, args.queries)
        if args.explain or args.explain_all:
            explain(db, kinds, baseline, args.explain_all)

        if args.experiment:
            with db.connection() as conn:
                for statement in args.experiment:
                    say(f"experiment: {statement}")
                    started = time.perf_counter()
                    conn.execute(statement)
                    say(f"  {time.perf_counter() - started:.1f} s")
                conn.execute("ANALYZE")
                conn.execute("SELECT pg_reload_conf()")  # for ALTER SYSTEM SET ... experiments
            time.sleep(0.5)
            load = OtherLoad(lambda: postmaster_pid(settings.pg_dir))
            after = run_kinds(db, kinds)
            print(f"\nwhile the experiment's queries ran, {load.note()}")
            print("\nExperiment:\n  " + "\n  ".join(args.experiment))
            print_results("Query latency after the experiment (the same queries)", kinds, after, args.queries)
            print_table("Before / after (ms)", ["kind", "p50 before", "p50 after", "p95 before", "p95 after"],
                        [[k.key, baseline[k.key]["p50"], after[k.key]["p50"], baseline[k.key]["p95"],
                          after[k.key]["p95"]] for k in kinds])
            if args.explain or args.explain_all:
                explain(db, kinds, after, args.explain_all)
    over = [k.key for k in kinds if baseline[k.key]["p95"] >= k.target_ms]
    print(f"\nkinds over their p95 target: {', '.join(over) if over else 'none'}")
    return 1 if over and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
