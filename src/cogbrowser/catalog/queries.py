"""Every SQL statement of the catalog, as functions over a psycopg connection.

The REST API, STAC, WMS/WMTS capabilities, the UI and the CLI all read and write the catalog
through these functions, so there is one definition of "images in this bbox" and of every filter.

Rows come back as the typed records of records.py. Boxes: WGS84 `box` values whose east edge may
exceed 180 (antimeridian), as BBox keeps them. A request bbox is tested as given and shifted by
+-360 degrees, so a query on either side of the antimeridian finds them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal, overload

import psycopg
from psycopg import sql
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from cogbrowser.catalog.database import Connection
from cogbrowser.catalog.records import (
    AcquisitionRecord,
    CatalogSummary,
    CollectionContents,
    CollectionRecord,
    DetectionPoint,
    DetectionRecord,
    DetectionSummary,
    GroupCount,
    ImageFile,
    ImageGeoRef,
    ImageRecord,
    SavedViewRecord,
    ScoreBin,
    TokenRecord,
    from_row,
)
from cogbrowser.raster.bbox import BBox

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # the CHECK on images.id and collections.id
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # the CHECK on api_tokens.name
IMAGE_SORTS = {"acquired_at": "acquired_at", "cloud_cover": "cloud_cover", "id": "id", "created_at": "created_at"}


# -- helpers --------------------------------------------------------------------------------
def _one(cursor: psycopg.Cursor[DictRow]) -> DictRow:
    """The row of a statement that always returns one (an aggregate, an upsert's RETURNING)."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the catalog answered no row to a statement that always returns one")
    return row


def bbox_condition(column: str, bbox: BBox) -> tuple[sql.Composable, list[float]]:
    """`column && bbox` across the antimeridian: the box as given and shifted by +-360 degrees."""
    parts: list[sql.Composable] = []
    params: list[float] = []
    for shift in (0.0, 360.0, -360.0):
        parts.append(sql.SQL("{} && box(point(%s, %s), point(%s, %s))").format(sql.Identifier(column)))
        params += bbox.shifted(shift)
    return sql.SQL("(") + sql.SQL(" OR ").join(parts) + sql.SQL(")"), params


class _Where:
    """A WHERE clause built from optional filters: a filter whose value is None is left out."""

    def __init__(self) -> None:
        self.clauses: list[sql.Composable] = []
        self.params: list[Any] = []

    def add(self, clause: str, *values: Any) -> None:
        if values and values[0] is None:
            return
        self.clauses.append(sql.SQL(clause))
        self.params += values

    def bbox(self, column: str, bbox: BBox | None) -> None:
        if bbox is not None:
            clause, values = bbox_condition(column, bbox)
            self.clauses.append(clause)
            self.params += values

    def composed(self) -> tuple[sql.Composable, list[Any]]:
        return (sql.SQL(" AND ").join(self.clauses) if self.clauses else sql.SQL("TRUE")), self.params


# -- collections ----------------------------------------------------------------------------
def upsert_collection(conn: Connection, collection_id: str, title: str | None = None,
                      description: str | None = None, bands: list | None = None, presets: list | None = None,
                      properties: dict | None = None) -> CollectionRecord:
    """Create a collection, or update the fields given for an existing one."""
    row = conn.execute(
        """
        INSERT INTO collections (id, title, description, bands, presets, properties)
        VALUES (%(id)s, coalesce(%(title)s::text, %(id)s), coalesce(%(description)s::text, ''),
                coalesce(%(bands)s::jsonb, '[]'), coalesce(%(presets)s::jsonb, '[]'),
                coalesce(%(properties)s::jsonb, '{}'))
        ON CONFLICT (id) DO UPDATE SET
            title = coalesce(%(title)s::text, collections.title),
            description = coalesce(%(description)s::text, collections.description),
            bands = coalesce(%(bands)s::jsonb, collections.bands),
            presets = coalesce(%(presets)s::jsonb, collections.presets),
            properties = coalesce(%(properties)s::jsonb, collections.properties),
            updated_at = now()
        RETURNING *
        """,
        {"id": collection_id, "title": title, "description": description,
         "bands": Jsonb(bands) if bands is not None else None,
         "presets": Jsonb(presets) if presets is not None else None,
         "properties": Jsonb(properties) if properties is not None else None},
    )
    return CollectionRecord.from_row(_one(row))


def ensure_collection(conn: Connection, collection_id: str) -> None:
    """Create a bare collection (title = id) unless it exists; ingest --collection uses it."""
    conn.execute("INSERT INTO collections (id, title) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                 (collection_id, collection_id))


def valid_id(text: str) -> bool:
    """Whether `text` can be an image or collection id (URL-safe; no NUL, slash or dot-dot)."""
    return bool(ID_PATTERN.match(text))


def get_collection(conn: Connection, collection_id: str) -> CollectionRecord | None:
    if not valid_id(collection_id):
        return None
    row = conn.execute("SELECT * FROM collections WHERE id = %s", (collection_id,)).fetchone()
    return CollectionRecord.from_row(row) if row else None


def list_collections(conn: Connection, ids: Sequence[str] | None = None) -> list[CollectionRecord]:
    """Collections (all, or those of `ids`) with their image count and time span."""
    rows = conn.execute(
        """
        SELECT c.*, count(i.id) AS image_count, min(i.acquired_at) AS start_datetime,
               max(i.acquired_at) AS end_datetime
        FROM collections c LEFT JOIN images i ON i.collection_id = c.id
        WHERE %(ids)s::text[] IS NULL OR c.id = ANY(%(ids)s::text[])
        GROUP BY c.id ORDER BY c.id
        """, {"ids": list(ids) if ids is not None else None}
    ).fetchall()
    return [CollectionRecord.from_row(row) for row in rows]


def collection_image_ids(conn: Connection, collection_id: str) -> list[str]:
    return [r["id"] for r in conn.execute("SELECT id FROM images WHERE collection_id = %s ORDER BY id",
                                          (collection_id,))]


def delete_collection(conn: Connection, collection_id: str) -> bool:
    """Delete an empty collection (the foreign key refuses one with images)."""
    return conn.execute("DELETE FROM collections WHERE id = %s RETURNING id", (collection_id,)).fetchone() is not None


def collection_extent(conn: Connection, collection_id: str) -> BBox | None:
    """The WGS84 box around all of a collection's images (stored form), or None when it is empty."""
    row = _one(conn.execute(
        "SELECT min((bbox[1])[0]) AS w, min((bbox[1])[1]) AS s, max((bbox[0])[0]) AS e, max((bbox[0])[1]) AS n"
        " FROM images WHERE collection_id = %s", (collection_id,)))
    return None if row["w"] is None else BBox(row["w"], row["s"], row["e"], row["n"])


def collection_contents(conn: Connection, collection_id: str) -> CollectionContents:
    """The collection's image count, a digest that changes whenever an image is added, removed,
    replaced or re-dated, its time span, and whether its images all have the same bands."""
    row = _one(conn.execute(
        "SELECT count(*) AS n, md5(coalesce(string_agg(id || ':' || checksum || ':' || coalesce(acquired_at::text, ''),"
        " ',' ORDER BY id), '')) AS digest, min(acquired_at) AS oldest, max(acquired_at) AS newest,"
        " count(*) FILTER (WHERE acquired_at IS NULL) AS undated, count(DISTINCT (band_count, dtype)) AS kinds"
        " FROM images WHERE collection_id = %s", (collection_id,)))
    return CollectionContents(int(row["n"]), row["digest"], row["oldest"], row["newest"], int(row["undated"]),
                              int(row["kinds"]) <= 1)


def collection_dates(conn: Connection, collection_id: str) -> list[datetime]:
    """Distinct acquisition times of a collection's images, oldest first (the TIME dimension)."""
    rows = conn.execute(
        "SELECT DISTINCT acquired_at FROM images WHERE collection_id = %s AND acquired_at IS NOT NULL "
        "ORDER BY acquired_at", (collection_id,),
    ).fetchall()
    return [r["acquired_at"] for r in rows]


# -- images ---------------------------------------------------------------------------------
def image_id_taken(conn: Connection, image_id: str) -> bool:
    return conn.execute("SELECT 1 FROM images WHERE id = %s", (image_id,)).fetchone() is not None


def find_image_by_checksum(conn: Connection, checksum: str) -> ImageFile | None:
    """The image whose source file, or stored COG, has this sha256."""
    row = conn.execute(
        "SELECT id, path, managed, in_place_seal FROM images WHERE source_checksum = %s OR checksum = %s LIMIT 1",
        (checksum, checksum)
    ).fetchone()
    return ImageFile(**row) if row else None


def insert_image(conn: Connection, record: dict) -> None:
    """Insert one image row. `record` has the columns of `images` (bbox as a 4-tuple)."""
    west, south, east, north = record["bbox"]
    values = {"in_place_seal": None, **record}
    values.update(
        bbox_w=west, bbox_s=south, bbox_e=east, bbox_n=north,
        footprint=Jsonb(record["footprint"]), bands=Jsonb(record["bands"]),
        properties=Jsonb(record.get("properties") or {}),
        native_bounds=list(record["native_bounds"]), resolution=list(record["resolution"]),
        transform=list(record["transform"]), blocksize=list(record["blocksize"]) if record.get("blocksize") else None,
    )
    conn.execute(
        """
        INSERT INTO images (id, collection_id, title, path, managed, source_path, acquired_at, cloud_cover, crs,
            epsg, native_bounds, bbox, footprint, width, height, band_count, dtype, nodata, resolution, transform,
            overviews, bands, mask, compression, blocksize, checksum, source_checksum, size_bytes, properties,
            in_place_seal)
        VALUES (%(id)s, %(collection_id)s, %(title)s, %(path)s, %(managed)s, %(source_path)s, %(acquired_at)s,
            %(cloud_cover)s, %(crs)s, %(epsg)s, %(native_bounds)s,
            box(point(%(bbox_w)s, %(bbox_s)s), point(%(bbox_e)s, %(bbox_n)s)), %(footprint)s, %(width)s,
            %(height)s, %(band_count)s, %(dtype)s, %(nodata)s, %(resolution)s, %(transform)s, %(overviews)s,
            %(bands)s, %(mask)s, %(compression)s, %(blocksize)s, %(checksum)s, %(source_checksum)s,
            %(size_bytes)s, %(properties)s, %(in_place_seal)s)
        """,
        values,
    )


def get_image(conn: Connection, image_id: str) -> ImageRecord | None:
    if not valid_id(image_id):
        return None
    row = conn.execute("SELECT * FROM images WHERE id = %s", (image_id,)).fetchone()
    return ImageRecord.from_row(row) if row else None


def delete_image(conn: Connection, image_id: str) -> ImageFile | None:
    """Delete an image row (its detections go with it); returns where its file was."""
    row = conn.execute("DELETE FROM images WHERE id = %s RETURNING id, path, managed, in_place_seal",
                       (image_id,)).fetchone()
    return ImageFile(**row) if row else None


def managed_paths(conn: Connection) -> set[str]:
    """Relative paths of the COGs the catalog owns (to find files left without a row)."""
    return {r["path"] for r in conn.execute("SELECT path FROM images WHERE managed")}


@dataclass
class ImageQuery:
    """Filters of an image search; every field optional and combinable."""

    bbox: BBox | None = None
    start: datetime | None = None
    end: datetime | None = None
    collections: Sequence[str] | None = None
    ids: Sequence[str] | None = None
    max_cloud_cover: float | None = None
    with_target_class: Sequence[str] | None = None
    text: str | None = None
    sort: str = "acquired_at"
    descending: bool = True
    limit: int | None = 100
    offset: int = 0
    after: tuple[Any, str] | None = None  # (sort value, id) of the last row of the previous page


def _image_where(q: ImageQuery) -> tuple[sql.Composable, list[Any]]:
    where = _Where()
    where.bbox("bbox", q.bbox)
    where.add("i.acquired_at >= %s", q.start)
    where.add("i.acquired_at <= %s", q.end)
    where.add("i.collection_id = ANY(%s)", list(q.collections) if q.collections else None)
    where.add("i.id = ANY(%s)", list(q.ids) if q.ids else None)
    where.add("i.cloud_cover <= %s", q.max_cloud_cover)
    where.add("EXISTS (SELECT 1 FROM detections d WHERE d.image_id = i.id AND d.target_class = ANY(%s))",
              list(q.with_target_class) if q.with_target_class else None)
    if q.text:
        pattern = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.add("(i.id ILIKE %s OR coalesce(i.title, '') ILIKE %s)", pattern, pattern)
    if q.after is not None:
        _keyset(where, q)
    return where.composed()


def _keyset(where: _Where, q: ImageQuery) -> None:
    """Rows after `q.after` in the order of search_images: (sort key, NULLS LAST), then id."""
    assert q.after is not None
    value, last_id = q.after
    column = f"i.{IMAGE_SORTS[q.sort]}"
    if q.sort == "id":
        where.add(f"i.id {'<' if q.descending else '>'} %s", last_id)
    elif value is None:
        where.add(f"({column} IS NULL AND i.id > %s)", last_id)
    else:
        beyond = "<" if q.descending else ">"
        where.add(f"({column} {beyond} %s OR ({column} = %s AND i.id > %s) OR {column} IS NULL)",
                  value, value, last_id)


def search_images(conn: Connection, q: ImageQuery) -> list[ImageRecord]:
    """Images matching every filter of `q`, sorted and paginated (ties broken by id)."""
    where, params = _image_where(q)
    order = sql.Identifier(IMAGE_SORTS[q.sort])
    direction = sql.SQL("DESC NULLS LAST" if q.descending else "ASC NULLS LAST")
    tiebreak = sql.SQL("" if q.sort == "id" else ", i.id")
    query = sql.SQL(
        "SELECT i.*, (SELECT count(*) FROM detections d WHERE d.image_id = i.id) AS detection_count "
        "FROM images i WHERE {where} ORDER BY i.{order} {direction}{tiebreak} LIMIT %s OFFSET %s"
    ).format(where=where, order=order, direction=direction, tiebreak=tiebreak)
    rows = conn.execute(query, [*params, q.limit, q.offset]).fetchall()
    return [ImageRecord.from_row(r) for r in rows]


MOSAIC_ORDERS = {  # a mosaic's order (layers.MosaicOrder): the first image drawn lies on top
    "newest": "i.acquired_at DESC NULLS LAST, i.id",
    "oldest": "i.acquired_at ASC NULLS LAST, i.id",
    "least-cloudy": "i.cloud_cover ASC NULLS LAST, i.acquired_at DESC NULLS LAST, i.id",
    "closest": "abs(extract(epoch FROM i.acquired_at - %s)) ASC NULLS LAST, i.acquired_at DESC NULLS LAST, i.id",
}


def mosaic_images(conn: Connection, collection_id: str, bbox: BBox | None, start: datetime | None,
                  end: datetime | None, max_cloud_cover: float | None, order: str, near: datetime | None,
                  limit: int | None) -> list[ImageRecord]:
    """A collection's images touching `bbox` within the time and cloud limits (an image of unknown
    cloud cover passes no cloud limit, as in the image search), in a mosaic's `order` (`near`: the
    time of "closest"), at most `limit` (None: all)."""
    where = _Where()
    where.add("i.collection_id = %s", collection_id)
    where.bbox("bbox", bbox)
    where.add("i.acquired_at >= %s", start)
    where.add("i.acquired_at <= %s", end)
    where.add("i.cloud_cover <= %s", max_cloud_cover)
    condition, params = where.composed()
    ordering = [near] if order == "closest" else []
    rows = conn.execute(sql.SQL("SELECT i.* FROM images i WHERE {} ORDER BY {} LIMIT %s").format(
        condition, sql.SQL(MOSAIC_ORDERS[order])), [*params, *ordering, limit]).fetchall()
    return [ImageRecord.from_row(r) for r in rows]


def list_acquisitions(conn: Connection, q: ImageQuery, footprints: bool = True) -> list[AcquisitionRecord]:
    """Every image matching `q`'s filters (not its sort or paging), newest first, with only its
    time, cloud cover and place (`footprints`: its footprint too, else None)."""
    where, params = _image_where(replace(q, after=None))
    footprint = sql.SQL("i.footprint" if footprints else "NULL AS footprint")
    rows = conn.execute(sql.SQL(
        "SELECT i.id, i.collection_id, i.acquired_at, i.cloud_cover, i.bbox, {} FROM images i "
        "WHERE {} ORDER BY i.acquired_at DESC NULLS LAST, i.id").format(footprint, where), params).fetchall()
    return [AcquisitionRecord.from_row(r) for r in rows]


IMAGE_UPDATABLE = ("title", "collection_id", "acquired_at", "cloud_cover", "properties")


def update_image(conn: Connection, image_id: str, changes: dict) -> None:
    """Set the given metadata columns (keys of IMAGE_UPDATABLE) of one image."""
    unknown = set(changes) - set(IMAGE_UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    values = {k: Jsonb(v) if k == "properties" else v for k, v in changes.items()}
    assignments = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values)
    conn.execute(sql.SQL("UPDATE images SET {}, updated_at = now() WHERE id = {}").format(
        assignments, sql.Placeholder("image_id")), {**values, "image_id": image_id})


def count_images(conn: Connection, q: ImageQuery | None = None) -> int:
    where, params = _image_where(q or ImageQuery())
    return int(_one(conn.execute(sql.SQL("SELECT count(*) AS n FROM images i WHERE {}").format(where), params))["n"])


# -- detections -----------------------------------------------------------------------------
DETECTION_COLUMNS = ("image_id", "target_class", "target_name", "score", "geometry", "bbox_w", "bbox_s", "bbox_e",
                     "bbox_n", "pixel_bbox", "area_m2", "detected_at", "properties")


@overload
def insert_detections(conn: Connection, rows: Iterable[dict], returning_ids: Literal[False] = False) -> int: ...


@overload
def insert_detections(conn: Connection, rows: Iterable[dict], returning_ids: Literal[True]) -> list[int]: ...


def insert_detections(conn: Connection, rows: Iterable[dict], returning_ids: bool = False) -> int | list[int]:
    """Bulk-insert detections with COPY into a staging table (fast for millions); returns the count
    (or, with `returning_ids`, the new ids in the order of `rows`).

    Each row: image_id, target_class, target_name, score, geometry (GeoJSON), bbox (4-tuple),
    pixel_bbox (4-tuple or None), area_m2, detected_at, properties. Run inside a transaction to
    make a batch all-or-nothing.
    """
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS detections_staging (image_id text, target_class text, target_name text,"
        " score real, geometry jsonb, bbox_w float8, bbox_s float8, bbox_e float8, bbox_n float8,"
        " pixel_bbox float8[], area_m2 float8, detected_at timestamptz, properties jsonb) ON COMMIT DELETE ROWS"
    )
    conn.execute("TRUNCATE detections_staging")
    count = 0
    with conn.cursor().copy(
        sql.SQL("COPY detections_staging ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, DETECTION_COLUMNS)))
    ) as copy:
        for row in rows:
            west, south, east, north = row["bbox"]
            copy.write_row((
                row["image_id"], row["target_class"], row.get("target_name"), row["score"],
                json.dumps(row["geometry"]), west, south, east, north,
                list(row["pixel_bbox"]) if row.get("pixel_bbox") is not None else None,
                row.get("area_m2"), row.get("detected_at"), json.dumps(row.get("properties") or {}),
            ))
            count += 1
    inserted = conn.execute(
        """
        INSERT INTO detections (image_id, target_class, target_name, score, geometry, bbox, pixel_bbox, area_m2,
                                detected_at, properties)
        SELECT image_id, target_class, target_name, score, geometry,
               box(point(bbox_w, bbox_s), point(bbox_e, bbox_n)), pixel_bbox, area_m2, detected_at, properties
        FROM detections_staging ORDER BY ctid
        """ + ("RETURNING id" if returning_ids else "")
    )
    ids = sorted(r["id"] for r in inserted.fetchall()) if returning_ids else []
    conn.execute("TRUNCATE detections_staging")
    return ids if returning_ids else count


@dataclass
class DetectionQuery:
    """Filters of a detection search or aggregation; every field optional and combinable."""

    image_ids: Sequence[str] | None = None
    target_classes: Sequence[str] | None = None
    target_names: Sequence[str] | None = None
    collections: Sequence[str] | None = None
    min_score: float | None = None
    max_score: float | None = None
    min_area_m2: float | None = None  # the footprint's area on the ground
    max_area_m2: float | None = None
    bbox: BBox | None = None
    start: datetime | None = None
    end: datetime | None = None
    ids: Sequence[int] | None = None
    limit: int | None = 1000
    offset: int = 0
    after_id: int | None = None  # keyset pagination: rows with a larger id (search order is by id)


def _detection_where(q: DetectionQuery) -> tuple[sql.Composable, list[Any]]:
    where = _Where()
    where.add("d.image_id = ANY(%s)", list(q.image_ids) if q.image_ids else None)
    where.add("d.target_class = ANY(%s)", list(q.target_classes) if q.target_classes else None)
    where.add("d.target_name = ANY(%s)", list(q.target_names) if q.target_names else None)
    where.add("d.image_id IN (SELECT id FROM images WHERE collection_id = ANY(%s))",
              list(q.collections) if q.collections else None)
    where.add("d.score >= %s", q.min_score)
    where.add("d.score <= %s", q.max_score)
    where.add("d.area_m2 >= %s", q.min_area_m2)
    where.add("d.area_m2 <= %s", q.max_area_m2)
    where.bbox("bbox", q.bbox)
    where.add("d.detected_at >= %s", q.start)
    where.add("d.detected_at <= %s", q.end)
    where.add("d.id = ANY(%s)", list(q.ids) if q.ids else None)
    where.add("d.id > %s", q.after_id)
    return where.composed()


SCORE_STEPS = 100  # detection_counts counts scores in steps of 1 / SCORE_STEPS (migration 0008)


def _on_step(score: float) -> int | None:
    """The step k with score == k / SCORE_STEPS (as the filters compare), or None: off the steps."""
    k = round(score * SCORE_STEPS)
    return k if k / SCORE_STEPS == score else None


def _whole_days(q: DetectionQuery) -> tuple[date | None, date | None] | None:
    """The UTC days `q`'s time filter spans (first microsecond to last), or None when it cuts a day."""
    first = last = None
    if q.start is not None:
        start = q.start.astimezone(timezone.utc)
        if start.time() != time.min:
            return None
        first = start.date()
    if q.end is not None:
        after = (q.end + timedelta(microseconds=1)).astimezone(timezone.utc)
        if after.time() != time.min:
            return None
        last = after.date() - timedelta(days=1)
    return first, last


def _counted_where(q: DetectionQuery) -> tuple[sql.Composable, list[Any]] | None:
    """`q`'s filters over detection_counts (as `d`), or None when its counts cannot answer them
    exactly: a name, box, area or id filter, a score off the 0.01 steps, a time that cuts a day."""
    if q.target_names or q.bbox is not None or q.ids or q.after_id is not None or q.min_area_m2 is not None \
            or q.max_area_m2 is not None:
        return None
    low = _on_step(q.min_score) if q.min_score is not None else None
    high = _on_step(q.max_score) if q.max_score is not None else None
    days = _whole_days(q)
    if (q.min_score is not None and low is None) or (q.max_score is not None and high is None) or days is None:
        return None
    where = _Where()
    where.add("d.image_id = ANY(%s)", list(q.image_ids) if q.image_ids else None)
    where.add("d.target_class = ANY(%s)", list(q.target_classes) if q.target_classes else None)
    where.add("d.image_id IN (SELECT id FROM images WHERE collection_id = ANY(%s))",
              list(q.collections) if q.collections else None)
    where.add("d.score_step >= %s", low)
    where.add("(d.score_step < %s OR (d.score_step = %s AND d.on_step))", high, high)
    where.add("d.day >= %s", days[0])
    where.add("d.day <= %s", days[1])
    return where.composed()


@dataclass(frozen=True)
class _Counted:
    """Where a count reads from: the detections, or their counts when those answer the filters."""

    table: sql.Composable
    where: sql.Composable
    params: list[Any]
    count: sql.Composable  # the number of detections of a group
    groups: dict[str, str]


def _counted(q: DetectionQuery, names: bool = False) -> _Counted:
    """The counts table for questions it can answer (it has no names), else the detections."""
    counted = None if names else _counted_where(q)
    if counted is not None:
        return _Counted(sql.SQL("detection_counts d"), *counted, sql.SQL("sum(d.n)::bigint"), COUNTED_GROUPS)
    where, params = _detection_where(q)
    return _Counted(sql.SQL("detections d"), where, params, sql.SQL("count(*)"), DETECTION_GROUPS)


def search_detections(conn: Connection, q: DetectionQuery) -> list[DetectionRecord]:
    where, params = _detection_where(q)
    rows = conn.execute(
        sql.SQL("SELECT d.* FROM detections d WHERE {} ORDER BY d.id LIMIT %s OFFSET %s").format(where),
        [*params, q.limit, q.offset],
    ).fetchall()
    return [DetectionRecord.from_row(row) for row in rows]


DETECTION_GROUPS = {"class": "d.target_class", "name": "d.target_name", "image": "d.image_id",
                    "day": "date_trunc('day', d.detected_at AT TIME ZONE 'UTC')",
                    "collection": "(SELECT collection_id FROM images WHERE id = d.image_id)"}
COUNTED_GROUPS = {**{key: value for key, value in DETECTION_GROUPS.items() if key != "name"},
                  "day": "d.day::timestamp"}


def count_detections_by(conn: Connection, q: DetectionQuery, group: str, split: str | None = None,
                        limit: int | None = None) -> list[GroupCount]:
    """Detection counts grouped by one key of DETECTION_GROUPS (`key`), and optionally split by a
    second (`split`, e.g. by day split by class for a stacked bar); largest groups first."""
    for name in filter(None, (group, split)):
        if name not in DETECTION_GROUPS:
            raise ValueError(f"unknown grouping {name!r}; use one of {', '.join(DETECTION_GROUPS)}")
    grouped, params = _grouped_counts(q, [group, split] if split else [group])
    if split is None:
        columns, order = "key", ("key" if group == "day" else "count DESC, key")
    else:
        # Days in time order; other groups largest first (their total over the split), each group's parts together.
        columns = "key, split"
        order = "key, count DESC" if group == "day" else "sum(count) OVER (PARTITION BY key) DESC, key, count DESC"
    query = sql.SQL("SELECT {columns}, count FROM ({grouped}) g ORDER BY {order} LIMIT %s").format(
        columns=sql.SQL(columns), grouped=grouped, order=sql.SQL(order))
    with _roomy(conn):
        return [GroupCount(**row) for row in conn.execute(query, [*params, limit]).fetchall()]


def _grouped_counts(q: DetectionQuery, keys: list[str]) -> tuple[sql.Composable, list[Any]]:
    """A query of `q`'s detections counted by `keys` (columns key [, split], count), read from
    detection_counts where it answers the filters. It keeps no names: by name, the named
    detections are counted in name order (the index detections_named) and the unnamed ones, a
    single group, from detection_counts."""

    def counted_by(source: _Counted, only: str = "") -> sql.Composable:
        columns = sql.SQL(", ").join(sql.SQL("{} AS {}").format(sql.SQL(source.groups[key]), sql.Identifier(alias))
                                     for key, alias in zip(keys, ("key", "split")))
        return sql.SQL("SELECT {columns}, {count} AS count FROM {table} WHERE {only}{where} GROUP BY {keys}").format(
            columns=columns, count=source.count, table=source.table, only=sql.SQL(only), where=source.where,
            keys=sql.SQL(", ".join(str(n) for n in range(1, len(keys) + 1))))

    if "name" not in keys or _counted_where(q) is None:
        source = _counted(q, names="name" in keys)
        return counted_by(source), source.params
    named, unnamed = _counted(q, names=True), _counted(q)
    unnamed = _Counted(unnamed.table, unnamed.where, unnamed.params, unnamed.count,
                       {**unnamed.groups, "name": "NULL::text"})
    query = sql.SQL("{} UNION ALL {}").format(counted_by(named, "d.target_name IS NOT NULL AND "),
                                             counted_by(unnamed, "NOT d.named AND "))
    return query, [*named.params, *unnamed.params]


def score_histogram(conn: Connection, q: DetectionQuery, bins: int,
                    split: str | None = None) -> list[ScoreBin]:
    """Counts of scores in `bins` equal bins over 0..1 (`bin` 0..bins-1), optionally per `split` group."""
    if split is not None and split not in DETECTION_GROUPS:
        raise ValueError(f"unknown grouping {split!r}; use one of {', '.join(DETECTION_GROUPS)}")
    source = _counted(q, names=split == "name" or SCORE_STEPS % bins != 0)
    split_sql = sql.SQL(source.groups[split]) if split else sql.SQL("NULL::text")
    if source.groups is COUNTED_GROUPS:  # whole steps per bin: the step's bin is the score's
        binned, bin_params = sql.SQL("least(d.score_step / %s, %s)"), [SCORE_STEPS // bins, bins - 1]
    else:
        binned, bin_params = sql.SQL("least(width_bucket(d.score, 0, 1, %s), %s) - 1"), [bins, bins]
    query = sql.SQL("SELECT {binned} AS bin, {split} AS split, {count} AS count FROM {table} WHERE {where} "
                    "GROUP BY 1, 2 ORDER BY 2, 1").format(binned=binned, split=split_sql, count=source.count,
                                                          table=source.table, where=source.where)
    return [ScoreBin(**row) for row in conn.execute(query, [*bin_params, *source.params]).fetchall()]


@contextmanager
def _roomy(conn: Connection) -> Iterator[None]:
    """A transaction with room to group a million detections in memory: with the default 4 MB, the
    groups by image (and by image and class) spill to disk (EXPLAIN ANALYZE at 1,000,000)."""
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '64MB'")
        yield


def detection_summary(conn: Connection, q: DetectionQuery) -> DetectionSummary:
    """Totals of a selection: detections, images, classes, names, time span, score statistics.

    One pass over the selection: the distinct images, classes and names are grouping sets of one
    hashed aggregate (with the totals as the empty set), not a scan per column nor a
    count(DISTINCT ...) that sorts: over 1,000,000 detections four scans took 4 s at p95
    (bench/analytics_bench.py). Filters that detection_counts answers read it instead."""
    counted = _counted_where(q)
    if counted is not None:
        return _counted_summary(conn, q, *counted)
    where, params = _detection_where(q)
    query = sql.SQL(
        "WITH g AS (SELECT GROUPING(d.image_id, d.target_class, d.target_name) AS set, d.target_name, "
        "count(*) AS n, min(d.detected_at) AS first, max(d.detected_at) AS last, avg(d.score) AS mean_score, "
        "min(d.score) AS min_score, max(d.score) AS max_score FROM detections d WHERE {where} "
        "GROUP BY GROUPING SETS ((d.image_id), (d.target_class), (d.target_name), ())) "
        "SELECT coalesce(sum(n) FILTER (WHERE set = 7), 0)::bigint AS detections, "
        "count(*) FILTER (WHERE set = 3) AS images, count(*) FILTER (WHERE set = 5) AS classes, "
        "count(*) FILTER (WHERE set = 6 AND target_name IS NOT NULL) AS names, "
        "max(first) FILTER (WHERE set = 7) AS first, max(last) FILTER (WHERE set = 7) AS last, "
        "max(mean_score) FILTER (WHERE set = 7) AS mean_score, max(min_score) FILTER (WHERE set = 7) AS min_score, "
        "max(max_score) FILTER (WHERE set = 7) AS max_score FROM g").format(where=where)
    with _roomy(conn):
        return DetectionSummary(**_one(conn.execute(query, params)))


def _counted_summary(conn: Connection, q: DetectionQuery, where: sql.Composable, params: list[Any]) -> DetectionSummary:
    """detection_summary from detection_counts, and the names (which it does not keep) from the
    named detections in name order (the index detections_named): two small reads, not a pass over
    the selection."""
    totals = _one(conn.execute(sql.SQL(
        "SELECT coalesce(sum(d.n), 0)::bigint AS detections, count(DISTINCT d.image_id) AS images, "
        "count(DISTINCT d.target_class) AS classes, min(d.first) AS first, max(d.last) AS last, "
        "sum(d.score_sum) / nullif(sum(d.n), 0) AS mean_score, min(d.score_min) AS min_score, "
        "max(d.score_max) AS max_score FROM detection_counts d WHERE {}").format(where), params))
    named, named_params = _detection_where(q)
    names = _one(conn.execute(sql.SQL(
        "SELECT count(*) AS names FROM (SELECT DISTINCT d.target_name FROM detections d "
        "WHERE d.target_name IS NOT NULL AND {}) n").format(named), named_params))
    return DetectionSummary(**totals, names=names["names"])


def delete_detections(conn: Connection, ids: Sequence[int]) -> int:
    return conn.execute("DELETE FROM detections WHERE id = ANY(%s)", (list(ids),)).rowcount


def catalog_summary(conn: Connection) -> CatalogSummary:
    """Counts for a status line: collections, images, detections, and the time span."""
    return CatalogSummary(**_one(conn.execute(
        "SELECT (SELECT count(*) FROM collections) AS collections, (SELECT count(*) FROM images) AS images,"
        " (SELECT count(*) FROM detections) AS detections,"
        " (SELECT min(acquired_at) FROM images) AS first_acquired,"
        " (SELECT max(acquired_at) FROM images) AS last_acquired"
    )))


def image_geo_refs(conn: Connection, image_ids: Sequence[str]) -> dict[str, ImageGeoRef]:
    """What detections import needs of each image: CRS, transform, size, acquisition time."""
    rows = conn.execute(
        "SELECT id, crs, transform, width, height, acquired_at FROM images WHERE id = ANY(%s)", (list(image_ids),)
    ).fetchall()
    return {r["id"]: ImageGeoRef(**{**r, "transform": tuple(r["transform"])}) for r in rows}


# -- API tokens -----------------------------------------------------------------------------
def create_token(conn: Connection, name: str, token_hash: str) -> datetime | None:
    """Store a new token's hash under `name` (a revoked token of that name is replaced); when it was
    created, or None when an active token already has the name."""
    row = conn.execute(
        """
        INSERT INTO api_tokens (name, token_hash) VALUES (%s, %s)
        ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, created_at = now(),
            last_used_at = NULL, revoked_at = NULL
        WHERE api_tokens.revoked_at IS NOT NULL
        RETURNING name, created_at
        """, (name, token_hash)).fetchone()
    return row["created_at"] if row else None


def revoke_token(conn: Connection, name: str) -> bool:
    """Revoke the active token called `name`; False when there is none."""
    row = conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL "
                       "RETURNING name", (name,)).fetchone()
    return row is not None


def list_tokens(conn: Connection) -> list[TokenRecord]:
    rows = conn.execute("SELECT name, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY name").fetchall()
    return [TokenRecord(**row) for row in rows]


def active_token_name(conn: Connection, token_hash: str) -> str | None:
    """The name of the active (not revoked) token with this hash, or None."""
    row = conn.execute("SELECT name FROM api_tokens WHERE token_hash = %s AND revoked_at IS NULL",
                       (token_hash,)).fetchone()
    return row["name"] if row else None


def touch_token(conn: Connection, name: str) -> None:
    conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE name = %s", (name,))


# -- detection samples (the dashboard's scatter plot) ---------------------------------------
def count_detections(conn: Connection, q: DetectionQuery) -> int:
    """How many detections the filters of `q` select (its limit and paging are ignored)."""
    source = _counted(q, names=bool(q.target_names))
    return int(_one(conn.execute(sql.SQL("SELECT coalesce({}, 0) AS n FROM {} WHERE {}").format(
        source.count, source.table, source.where), source.params))["n"])


def sample_detections(conn: Connection, q: DetectionQuery, size: int, seed: int = 0) -> list[DetectionPoint]:
    """At most `size` of the selected detections, picked at random but repeatably: ordered by a hash
    of the id salted with `seed`, so the same filters and seed give the same points (a link reopens
    the same scatter) and a narrower filter keeps the points it still selects. Seed 0 (the page's)
    walks an index in that order holding every column returned; another seed is one pass over the
    selection with a top-N sort of ids only (the rows are read for the chosen ids: 0.2 instead of
    0.45 s over 1,000,000). `size` rows leave the server, never the selection. Rows in id order,
    each: id, image_id, target_class, target_name, score, detected_at, area_m2, and lon, lat (its
    bbox's centre, longitude in -180..180)."""
    where, params = _detection_where(q)
    columns = sql.SQL("d.id, d.image_id, d.target_class, d.target_name, d.score, d.detected_at, d.area_m2, "
                      "(center(d.bbox))[0] AS lon, (center(d.bbox))[1] AS lat")
    if seed == 0:
        # written out so the planner walks the index of that order (migrations 0007, 0008), which
        # holds every column asked: a broad selection reads `size` index entries and stops
        query = sql.SQL("SELECT * FROM (SELECT {} FROM detections d WHERE {} ORDER BY hashint8extended(d.id, 0), "
                        "d.id LIMIT %s) s ORDER BY id").format(columns, where)
    else:
        query = sql.SQL("SELECT {} FROM detections d WHERE d.id IN (SELECT d.id FROM detections d WHERE {} "
                        "ORDER BY hashint8extended(d.id, {}), d.id LIMIT %s) ORDER BY d.id").format(
                            columns, where, sql.Literal(seed))
    rows = conn.execute(query, [*params, size]).fetchall()
    # a box across the antimeridian keeps its east edge past 180: its centre may be past 180 too
    return [DetectionPoint(**{**row, "lon": row["lon"] - 360.0 if row["lon"] > 180 else row["lon"]}) for row in rows]


# ---------------------------------------------------------------- background jobs (cogbrowser.jobs)

JOB_COLUMNS = ("id, kind, filename, size_bytes, params, state, stage, progress, created_at, started_at, "
               "finished_at, attempts, cancel_requested, outcome, error, queue_id")
FINISHED_STATES = ("succeeded", "failed", "cancelled")


def insert_job(conn: Connection, job_id: str, kind: str, filename: str, size_bytes: int, params: dict) -> dict:
    row = conn.execute(f"INSERT INTO jobs (id, kind, filename, size_bytes, params) VALUES (%s, %s, %s, %s, %s) "
                       f"RETURNING {JOB_COLUMNS}", (job_id, kind, filename, size_bytes, Jsonb(params))).fetchone()
    assert row is not None
    return dict(row)


def get_job(conn: Connection, job_id: str) -> dict | None:
    row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s", (job_id,)).fetchone()
    return dict(row) if row else None


def recent_jobs(conn: Connection, limit: int, state: str | None = None) -> list[dict]:
    rows = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE %(state)s::text IS NULL OR state = %(state)s "
                        "ORDER BY created_at DESC, id LIMIT %(limit)s", {"state": state, "limit": limit})
    return [dict(row) for row in rows]


def set_job_queue_id(conn: Connection, job_id: str, queue_id: int) -> None:
    conn.execute("UPDATE jobs SET queue_id = %s WHERE id = %s", (queue_id, job_id))


def start_job(conn: Connection, job_id: str) -> dict | None:
    """Mark a queued (or crashed-while-running) job as running; None if it finished or was cancelled."""
    row = conn.execute(f"UPDATE jobs SET state = 'running', stage = 'starting', progress = NULL, "
                       f"started_at = now(), attempts = attempts + 1 WHERE id = %s AND state IN ('queued', 'running') "
                       f"AND NOT cancel_requested RETURNING {JOB_COLUMNS}", (job_id,)).fetchone()
    return dict(row) if row else None


def report_job(conn: Connection, job_id: str, stage: str, progress: int | None) -> bool:
    """Record a running job's stage; whether it should go on (False: a cancel was asked for)."""
    row = conn.execute("UPDATE jobs SET stage = %s, progress = %s WHERE id = %s AND state = 'running' "
                       "RETURNING cancel_requested", (stage, progress, job_id)).fetchone()
    return row is not None and not row["cancel_requested"]


def finish_job(conn: Connection, job_id: str, state: str, outcome: dict | None, error: dict | None) -> None:
    conn.execute("UPDATE jobs SET state = %s, outcome = %s, error = %s, finished_at = now(), "
                 "stage = CASE WHEN %s = 'succeeded' THEN 'done' ELSE stage END, "
                 "progress = CASE WHEN %s = 'succeeded' THEN 100 ELSE progress END "
                 "WHERE id = %s AND state NOT IN ('succeeded', 'failed', 'cancelled')",
                 (state, Jsonb(outcome) if outcome is not None else None, Jsonb(error) if error is not None else None,
                  state, state, job_id))


def request_job_cancel(conn: Connection, job_id: str) -> dict | None:
    """Flag an unfinished job for cancelling; the job as it is now (None if unknown)."""
    row = conn.execute(f"UPDATE jobs SET cancel_requested = true WHERE id = %s AND state IN ('queued', 'running') "
                       f"RETURNING {JOB_COLUMNS}", (job_id,)).fetchone()
    return dict(row) if row else get_job(conn, job_id)


def requeue_job(conn: Connection, job_id: str, stage: str, run: int | None = None) -> None:
    """Put a running job back in the queue. With `run` (its attempts when that run started): only if
    no other run has started since, and that run does not count (its worker stopped it, it did not crash)."""
    if run is None:
        conn.execute("UPDATE jobs SET state = 'queued', stage = %s, progress = NULL "
                     "WHERE id = %s AND state = 'running'", (stage, job_id))
    else:
        conn.execute("UPDATE jobs SET state = 'queued', stage = %s, progress = NULL, attempts = attempts - 1 "
                     "WHERE id = %s AND state = 'running' AND attempts = %s", (stage, job_id, run))


def kept_job_folders(conn: Connection) -> set[str]:
    """Jobs whose folder in DATA_DIR/jobs is still needed: unfinished ones (their input), and
    succeeded ones whose result file is still offered (an export's, a timelapse's)."""
    rows = conn.execute("SELECT id FROM jobs WHERE state IN ('queued', 'running') OR (state = 'succeeded' "
                        "AND outcome->>'file' IS NOT NULL AND NOT coalesce((outcome->>'expired')::boolean, false))")
    return {row["id"] for row in rows}


def expire_job_results(conn: Connection, keep_seconds: float) -> list[str]:
    """Mark the result files of jobs finished over `keep_seconds` ago as expired; their ids (whose
    folders the caller removes)."""
    rows = conn.execute("UPDATE jobs SET outcome = outcome || '{\"expired\": true}'::jsonb WHERE state = 'succeeded' "
                        "AND outcome->>'file' IS NOT NULL AND NOT coalesce((outcome->>'expired')::boolean, false) "
                        "AND finished_at < now() - make_interval(secs => %s) RETURNING id", (keep_seconds,))
    return [row["id"] for row in rows]


def count_unfinished_jobs(conn: Connection, kinds: Sequence[str]) -> int:
    row = conn.execute("SELECT count(*) AS n FROM jobs WHERE state IN ('queued', 'running') AND kind = ANY(%s)",
                       (list(kinds),)).fetchone()
    return int(row["n"]) if row else 0


# -- saved views ----------------------------------------------------------------------------
class NameTaken(Exception):
    """A saved view of that name (in any case) exists."""


def create_saved_view(conn: Connection, name: str, state: str) -> SavedViewRecord:
    """A new saved view; NameTaken when the name is taken."""
    try:
        with conn.transaction():
            row = _one(conn.execute("INSERT INTO saved_views (name, state) VALUES (%s, %s) RETURNING *",
                                    (name, state)))
    except psycopg.errors.UniqueViolation:
        raise NameTaken(name) from None
    return from_row(SavedViewRecord, row)


def list_saved_views(conn: Connection, limit: int, after_id: int | None = None) -> list[SavedViewRecord]:
    """Saved views, newest first (by id), after `after_id` (keyset pagination)."""
    where = _Where()
    where.add("id < %s", after_id)
    condition, params = where.composed()
    rows = conn.execute(sql.SQL("SELECT * FROM saved_views WHERE {} ORDER BY id DESC LIMIT %s").format(condition),
                        [*params, limit]).fetchall()
    return [from_row(SavedViewRecord, r) for r in rows]


def count_saved_views(conn: Connection) -> int:
    return int(_one(conn.execute("SELECT count(*) AS n FROM saved_views"))["n"])


def get_saved_view(conn: Connection, view_id: int) -> SavedViewRecord | None:
    row = conn.execute("SELECT * FROM saved_views WHERE id = %s", (view_id,)).fetchone()
    return from_row(SavedViewRecord, row) if row else None


def update_saved_view(conn: Connection, view_id: int, name: str | None, state: str | None) -> SavedViewRecord | None:
    """Rename a saved view and/or change its state; None when there is no such view, NameTaken when
    the new name is another view's."""
    try:
        with conn.transaction():
            row = conn.execute("UPDATE saved_views SET name = coalesce(%s, name), state = coalesce(%s, state), "
                               "updated_at = now() WHERE id = %s RETURNING *", (name, state, view_id)).fetchone()
    except psycopg.errors.UniqueViolation:
        raise NameTaken(name or "") from None
    return from_row(SavedViewRecord, row) if row else None


def delete_saved_view(conn: Connection, view_id: int) -> bool:
    return conn.execute("DELETE FROM saved_views WHERE id = %s", (view_id,)).rowcount == 1


# ---------------------------------------------------------------- secrets the servers share

def shared_secret(conn: Connection, name: str, candidate: str) -> str:
    """The catalog's secret called `name`; `candidate` becomes it when there is none yet (the first
    process to ask wins, every other one reads the same)."""
    conn.execute("INSERT INTO shared_secrets (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                 (name, candidate))
    return str(_one(conn.execute("SELECT value FROM shared_secrets WHERE name = %s", (name,)))["value"])
