"""`/api/v1/detections`: search, aggregate, create, import and delete detections.

The dashboard's questions are all here, each with the same filters (images, classes, names,
collections, score range, bbox, time): the detections themselves (JSON, GeoJSON with
`Accept: application/geo+json` or `f=geojson`, CSV with `f=csv`), counts by class, name, image,
day or collection (optionally split by a second key, for stacked bars), a score histogram, and a
summary. Aggregations run in SQL, so they stay fast with millions of detections.

Created and imported detections go through the same checks as `cogbrowser detections import`
(ingest/detections.py), all or nothing.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any, Literal

import orjson
from flask import Blueprint, Response, request
from pydantic import Field

from cogbrowser.catalog import queries
from cogbrowser.catalog.records import DetectionPoint, DetectionRecord
from cogbrowser.errors import InvalidInput, NotFound
from cogbrowser.ingest.detections import create_detections, import_detections
from cogbrowser.web.context import services
from cogbrowser.web.endpoints import FORM_MARGIN, RawBody, endpoint, json_response, this_url, url_with
from cogbrowser.web.params import (
    BBoxParam,
    BodyModel,
    DatetimeParam,
    IdList,
    Link,
    QueryModel,
    TextList,
    interval,
)
from cogbrowser.web.problems import ApiError

blueprint = Blueprint("detections", __name__)
TAGS = ("detections",)
MAX_LIMIT = 10_000
MAX_CREATE = 10_000
DEFAULT_SAMPLE = 5_000
MAX_SAMPLE = 50_000
MAX_IMPORT_BYTES = 2 * 1024**3
GEOJSON = "application/geo+json"
CSV_COLUMNS = ("id", "image_id", "target_class", "target_name", "score", "detected_at", "lon_min", "lat_min",
               "lon_max", "lat_max", "area_m2")
Group = Literal["class", "name", "image", "day", "collection"]


class DetectionFilters(QueryModel):
    image_ids: IdList | None = None
    classes: TextList | None = Field(None, description="target classes (comma-separated)")
    names: TextList | None = Field(None, description="target names (comma-separated)")
    collections: IdList | None = None
    min_score: float | None = Field(None, ge=0, le=1)
    max_score: float | None = Field(None, ge=0, le=1)
    min_area_m2: float | None = Field(None, ge=0, description="the footprint's area on the ground, at least (m²)")
    max_area_m2: float | None = Field(None, ge=0, description="... and at most (m²)")
    bbox: BBoxParam | None = None
    datetime: DatetimeParam | None = None

    def query(self, **extra: Any) -> queries.DetectionQuery:
        start, end = interval(self.datetime)
        for low, high in (("min_score", "max_score"), ("min_area_m2", "max_area_m2")):
            if getattr(self, low) is not None and getattr(self, high) is not None and getattr(self, low) > getattr(
                    self, high):
                raise ApiError(400, "Bad Request", f"{low} is above {high}",
                               errors=[{"field": low, "message": f"above {high}"}])
        return queries.DetectionQuery(
            image_ids=self.image_ids, target_classes=self.classes, target_names=self.names,
            collections=self.collections, min_score=self.min_score, max_score=self.max_score,
            min_area_m2=self.min_area_m2, max_area_m2=self.max_area_m2, bbox=self.bbox, start=start, end=end,
            **extra)


class DetectionSearch(DetectionFilters):
    limit: int = Field(1000, ge=1, le=MAX_LIMIT, description=f"detections per page (at most {MAX_LIMIT})")
    cursor: int | None = Field(None, ge=0, description="continue after this detection id (from the `next` link)")
    f: Literal["json", "geojson", "csv"] | None = Field(None, description="output format (or use Accept)")


class CountQuery(DetectionFilters):
    by: Group = Field("class", description="what to count by")
    split: Group | None = Field(None, description="a second key: counts per (by, split), for stacked bars")
    limit: int = Field(1000, ge=1, le=100_000, description="groups (or group parts) at most")


class HistogramQuery(DetectionFilters):
    bins: int = Field(20, ge=1, le=1000, description="equal bins over scores 0..1")
    split: Group | None = Field(None, description="one histogram per class, name, … (e.g. split=class)")


class DetectionFacts(BodyModel):
    """What every answer about one detection says: which it is, where found, what, how sure, when."""

    id: int
    image_id: str
    target_class: str
    target_name: str | None
    score: float
    detected_at: datetime | None


class Detection(DetectionFacts):
    bbox: list[float] = Field(description="west, south, east, north (WGS 84)")
    geometry: dict[str, Any]
    pixel_bbox: list[float] | None = Field(description="px_min, py_min, px_max, py_max in the image's pixels")
    area_m2: float | None
    properties: dict[str, Any]
    links: list[Link]


class DetectionList(BodyModel):
    detections: list[Detection]
    count: int
    links: list[Link]


class CountRow(BodyModel):
    key: str | None
    split: str | None = None
    count: int


class Counts(BodyModel):
    """Counts of the selected detections by a key (and a second one, with `split`)."""

    by: str
    split: str | None
    total: int
    counts: list[CountRow]


class HistogramRow(BodyModel):
    split: str | None
    counts: list[int]


class ScoreHistogram(BodyModel):
    edges: list[float]
    histograms: list[HistogramRow]


class Summary(BodyModel):
    """Totals of the selected detections."""

    detections: int
    images: int
    classes: int
    names: int
    first: datetime | None
    last: datetime | None
    mean_score: float | None
    min_score: float | None
    max_score: float | None


class SampleQuery(DetectionFilters):
    size: int = Field(DEFAULT_SAMPLE, ge=1, le=MAX_SAMPLE,
                      description=f"points at most (at most {MAX_SAMPLE}); fewer when fewer are selected")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="another seed, another sample; the same seed, the same one")


class SamplePoint(DetectionFacts):
    """A detection as a point of a scatter plot: what a chart plots and shows on hover."""

    lon: float = Field(description="longitude of the centre of its bbox (-180..180)")
    lat: float = Field(description="latitude of the centre of its bbox")
    area_m2: float | None


class DetectionSample(BodyModel):
    """A repeatable random sample of the selected detections, with how many were selected."""

    matched: int = Field(description="all detections the filters select")
    count: int = Field(description="points in this answer")
    sampled: bool = Field(description="whether the points are a sample (fewer than matched)")
    seed: int
    points: list[SamplePoint]


class ReportQuery(DetectionFilters):
    top: int = Field(20, ge=1, le=1000, description="rows of the image and name tables (largest first)")
    bins: int = Field(10, ge=1, le=1000, description="equal bins of the score histogram over 0..1")
    sample: int = Field(DEFAULT_SAMPLE, ge=0, le=MAX_SAMPLE, description="points of the sample (0: none)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="the sample's seed (as /detections/sample)")


class DetectionReport(BodyModel):
    """Everything the Analytics page draws for one selection, in one answer: the same figures as
    /summary, /counts (by class; by image and by name split by class, the `top` largest; by day),
    /scores and /sample give for the same filters."""

    summary: Summary
    classes: Counts
    images: Counts
    names: Counts
    days: Counts
    scores: ScoreHistogram
    sample: DetectionSample | None


class NewDetection(BodyModel):
    image_id: str
    target_class: str = Field(min_length=1, max_length=200)
    target_name: str | None = Field(None, max_length=200)
    score: float = Field(ge=0, le=1)
    detected_at: datetime | None = Field(None, description="default: the image's acquisition time")
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON Polygon, MultiPolygon or Point (WGS 84)")
    bbox: list[float] | None = Field(None, min_length=4, max_length=4, description="west, south, east, north")
    pixel_bbox: list[float] | None = Field(None, min_length=4, max_length=4,
                                           description="px_min, py_min, px_max, py_max in the image's pixels")
    properties: dict[str, Any] | None = None


class NewDetections(BodyModel):
    detections: list[NewDetection] = Field(min_length=1, max_length=MAX_CREATE)


class Created(BodyModel):
    created: int
    ids: list[int]


class ImportQuery(QueryModel):
    skip_invalid: bool = Field(False, description="import the valid rows even if some are invalid (listed)")
    image_id: str | None = Field(None, max_length=128, description="the image of rows that name none")
    format: Literal["csv", "geojson"] | None = Field(None, description="default: from the Content-Type")


class ImportProblem(BodyModel):
    where: str
    message: str


class ImportReport(BodyModel):
    """What an import did: rows read, imported, refused, and where the first 1,000 refused rows are."""

    rows_read: int
    imported: int
    invalid: int
    problems: list[ImportProblem]


# ---------------------------------------------------------------- endpoints

@endpoint(blueprint, "GET", "/api/v1/detections", summary="Search detections", tags=TAGS, query=DetectionSearch,
          responses={200: (DetectionList, {GEOJSON: {"type": "object", "description": "a FeatureCollection"},
                                           "text/csv": {"type": "string"}})})
def search_detections(query: DetectionSearch) -> Response:
    """JSON by default; GeoJSON with `f=geojson` or `Accept: application/geo+json`; CSV with `f=csv`.
    Pages (ordered by id) follow the `next` link."""
    with services().db.connection() as conn:
        rows = queries.search_detections(conn, query.query(limit=query.limit + 1, after_id=query.cursor))
    page, more = rows[:query.limit], len(rows) > query.limit
    links = [Link(href=this_url(), rel="self")]
    if more:
        links.append(Link(href=url_with("cursor", str(page[-1].id)), rel="next"))
    accept = request.accept_mimetypes  # GeoJSON when asked for by name, above plain JSON (not for */*)
    fmt = query.f or ("geojson" if accept.quality(GEOJSON) > accept.quality("application/json") else "json")
    if fmt == "csv":
        return Response(_csv(page), mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="detections.csv"',
                                 **({"Link": f'<{links[-1].href}>; rel="next"'} if more else {})})
    items = [detection_resource(row) for row in page]
    if fmt == "geojson":
        collection = {"type": "FeatureCollection", "numberReturned": len(items),
                      "features": [{"type": "Feature", "id": d.id, "geometry": d.geometry,
                                    "properties": d.model_dump(mode="json", exclude={"geometry"})} for d in items],
                      "links": [link.model_dump(exclude_none=True) for link in links]}
        return Response(json.dumps(collection), mimetype=GEOJSON)
    return json_response(DetectionList(detections=items, count=len(items), links=links))


@endpoint(blueprint, "GET", "/api/v1/detections/<int:detection_id>", summary="One detection", tags=TAGS,
          responses={200: Detection})
def get_detection(detection_id: int) -> Detection:
    with services().db.connection() as conn:
        rows = queries.search_detections(conn, queries.DetectionQuery(ids=[detection_id], limit=1))
    if not rows:
        raise NotFound(f"no detection {detection_id}")
    return detection_resource(rows[0])


@endpoint(blueprint, "DELETE", "/api/v1/detections/<int:detection_id>", summary="Delete a detection", tags=TAGS,
          responses={204: None})
def delete_detection(detection_id: int) -> Response:
    with services().db.connection() as conn:
        if not queries.delete_detections(conn, [detection_id]):
            raise NotFound(f"no detection {detection_id}")
    return Response(status=204)


@endpoint(blueprint, "POST", "/api/v1/detections", summary="Create detections", tags=TAGS, body=NewDetections,
          responses={201: Created})
def create(body: NewDetections) -> Response:
    """One or many, checked like the rows of an import; if one is invalid, none is created and every
    problem is listed (`errors`, with the index of the detection)."""
    ids, problems = create_detections(services().db, [d.model_dump(exclude_none=True) for d in body.detections])
    if problems:
        raise ApiError(400, "Bad Request", "; ".join(f"{p.where}: {p.message}" for p in problems[:20]),
                       errors=[{"field": p.where, "message": p.message} for p in problems])
    return json_response(Created(created=len(ids), ids=ids), 201)


@endpoint(blueprint, "POST", "/api/v1/detections/import", summary="Import a CSV or GeoJSON file", tags=TAGS,
          query=ImportQuery, responses={200: ImportReport, 413: None, 415: None},
          raw_body=RawBody({"text/csv": {"type": "string"}, GEOJSON: {"type": "object"},
                            "application/json": {"type": "object"},
                            "multipart/form-data": {"type": "object", "properties": {
                                "file": {"type": "string", "format": "binary"}}}},
                           "The file itself, or a form with a `file` field (same columns as the CLI import)",
                           max_bytes=MAX_IMPORT_BYTES + FORM_MARGIN))
def import_file(query: ImportQuery) -> Response:
    """The same rules as `cogbrowser detections import`: all or nothing unless `skip_invalid`; every
    invalid row is listed with its line or feature number. Nothing imported answers 400."""
    settings = services().settings
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    fmt = query.format or _import_format()
    work = settings.tmp_dir / f"detections-{uuid.uuid4().hex}.{'geojson' if fmt == 'geojson' else 'csv'}"
    try:
        _save_body(work)
        try:
            report = import_detections(services().db, work, skip_invalid=query.skip_invalid,
                                       default_image_id=query.image_id)
        except InvalidInput as exc:
            raise ApiError(400, "Bad Request", str(exc).replace(work.name, "the file")) from None
    finally:
        work.unlink(missing_ok=True)
    answer = ImportReport(rows_read=report.rows_read, imported=report.imported, invalid=report.invalid,
                          problems=[ImportProblem(where=p.where, message=p.message) for p in report.problems])
    if report.invalid and not query.skip_invalid:
        raise ApiError(400, "Bad Request", f"nothing imported: {report.invalid} invalid row(s) of "
                       f"{report.rows_read} (fix them, or repeat with skip_invalid=true)",
                       errors=[{"field": p.where, "message": p.message} for p in report.problems],
                       rows_read=report.rows_read)
    return json_response(answer)


@endpoint(blueprint, "GET", "/api/v1/detections/counts", summary="Count detections by class, name, image, day",
          tags=TAGS, query=CountQuery, responses={200: Counts})
def counts(query: CountQuery) -> Counts:
    """By one key, or by two (`split`) for stacked bars: e.g. by=day&split=class."""
    if query.split == query.by:
        raise ApiError(400, "Bad Request", "split: give another key than by",
                       errors=[{"field": "split", "message": "same as by"}])
    with services().db.connection() as conn:
        return _counts(conn, query.query(limit=None), query.by, query.split, query.limit)


@endpoint(blueprint, "GET", "/api/v1/detections/scores", summary="Histogram of detection scores", tags=TAGS,
          query=HistogramQuery, responses={200: ScoreHistogram})
def scores(query: HistogramQuery) -> ScoreHistogram:
    with services().db.connection() as conn:
        return _histogram(conn, query.query(limit=None), query.bins, query.split)


@endpoint(blueprint, "GET", "/api/v1/detections/summary", summary="Totals of the selected detections", tags=TAGS,
          query=DetectionFilters, responses={200: Summary})
def summary(query: DetectionFilters) -> Summary:
    with services().db.connection() as conn:
        row = queries.detection_summary(conn, query.query(limit=None))
    return Summary(**asdict(row))


@endpoint(blueprint, "GET", "/api/v1/detections/sample", summary="A random sample of detections, as points",
          tags=TAGS, query=SampleQuery, responses={200: DetectionSample})
def sample(query: SampleQuery) -> Response:
    """At most `size` of the selected detections, picked at random but repeatably (the same filters
    and `seed` give the same points), with the number selected: what a scatter plot of a million
    detections draws. A search pages in id order, which is no sample."""
    selection = query.query(limit=None)
    with services().db.connection() as conn:
        rows = queries.sample_detections(conn, selection, query.size, query.seed)
        # fewer points than asked for: they are the whole selection, no count needed
        matched = queries.count_detections(conn, selection) if len(rows) == query.size else len(rows)
    return Response(orjson.dumps(_sample_answer(rows, matched, query.seed)), mimetype="application/json")


@endpoint(blueprint, "GET", "/api/v1/detections/report", summary="Everything a dashboard draws, in one answer",
          tags=TAGS, query=ReportQuery, responses={200: DetectionReport})
def detection_report(query: ReportQuery) -> Response:
    """The totals, counts by class, the `top` images and names (split by class), counts by day, a
    score histogram and a sample of the selected detections: one request per filter change of the
    Analytics page instead of seven (the figures are counted in parallel, a connection each)."""
    selection, db = query.query(limit=None), services().db

    def on_connection(ask: Callable[..., Any], *args: Any) -> Any:
        with db.connection() as conn:
            return ask(conn, selection, *args)

    def tables() -> tuple[Counts, Counts, Counts]:  # the tables list the top groups of each class selected
        classes = on_connection(_counts, "class", None, 1000)
        rows = max(1, len(classes.counts))
        images = pool.submit(on_connection, _counts, "image", "class", min(query.top * rows, 100_000))
        names = on_connection(_counts, "name", "class", min((query.top + 1) * rows, 100_000))
        return classes, images.result(), names

    # the figures in parallel, each on its own connection, as the page's separate requests were
    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="detection-report") as pool:
        totals = pool.submit(on_connection, queries.detection_summary)
        counted = pool.submit(tables)
        days = pool.submit(on_connection, _counts, "day", None, 100_000)
        scores = pool.submit(on_connection, _histogram, query.bins, None)
        points = None
        if query.sample:  # the sample on this thread while the others count
            points = on_connection(queries.sample_detections, query.sample, query.seed)
        classes, images, names = counted.result()
        answer = DetectionReport(summary=Summary(**asdict(totals.result())), classes=classes, images=images,
                                 names=names, days=days.result(), scores=scores.result(), sample=None)
    document = answer.model_dump(mode="json", by_alias=True)
    if points is not None:  # the points straight to JSON: 5000 pydantic models took longer than the query
        document["sample"] = _sample_answer(points, answer.summary.detections, query.seed)
    return Response(orjson.dumps(document), mimetype="application/json")


# ---------------------------------------------------------------- helpers

def detection_resource(row: DetectionRecord) -> Detection:
    root = request.url_root.rstrip("/")
    return Detection(
        id=row.id, image_id=row.image_id, target_class=row.target_class, target_name=row.target_name,
        score=row.score, detected_at=row.detected_at, bbox=list(row.bbox), geometry=row.geometry,
        pixel_bbox=list(row.pixel_bbox) if row.pixel_bbox else None, area_m2=row.area_m2, properties=row.properties,
        links=[Link(href=f"{root}/api/v1/detections/{row.id}", rel="self", type="application/json"),
               Link(href=f"{root}/api/v1/images/{row.image_id}", rel="image", type="application/json")])


def _counts(conn: Any, selection: queries.DetectionQuery, by: str, split: str | None, limit: int) -> Counts:
    rows = queries.count_detections_by(conn, selection, by, split, limit)
    return Counts(by=by, split=split, total=sum(r.count for r in rows),
                  counts=[CountRow(key=_key(r.key), split=_key(r.split), count=r.count) for r in rows])


def _histogram(conn: Any, selection: queries.DetectionQuery, bins: int, split: str | None) -> ScoreHistogram:
    histograms: dict[str | None, list[int]] = {}
    for row in queries.score_histogram(conn, selection, bins, split):
        histograms.setdefault(_key(row.split), [0] * bins)[row.bin] += row.count
    edges = [round(i / bins, 10) for i in range(bins + 1)]
    return ScoreHistogram(edges=edges, histograms=[HistogramRow(split=k, counts=v) for k, v in histograms.items()])


def _sample_answer(rows: list[DetectionPoint], matched: int, seed: int) -> dict[str, Any]:
    """A DetectionSample as plain JSON values, written as its model would write it (times in UTC
    with a Z), without a model per point."""
    points = [{"id": r.id, "image_id": r.image_id, "target_class": r.target_class, "target_name": r.target_name,
               "score": r.score, "detected_at": _utc_text(r.detected_at), "lon": r.lon, "lat": r.lat,
               "area_m2": r.area_m2} for r in rows]
    return {"matched": matched, "count": len(points), "sampled": len(points) < matched, "seed": seed,
            "points": points}


def _utc_text(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _csv(rows: list[DetectionRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        west, south, east, north = row.bbox
        writer.writerow([row.id, row.image_id, row.target_class, row.target_name or "", f"{row.score:.6g}",
                         row.detected_at.isoformat() if row.detected_at else "", west, south, east, north,
                         row.area_m2 if row.area_m2 is not None else ""])
    return out.getvalue()


def _key(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def _import_format() -> str:
    mimetype = request.mimetype
    if mimetype in (GEOJSON, "application/json"):
        return "geojson"
    if mimetype in ("text/csv", "text/plain", "application/csv", "application/vnd.ms-excel"):
        return "csv"
    if mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(400, "Bad Request", "the form has no `file` field")
        return "geojson" if (upload.filename or "").lower().endswith((".geojson", ".json")) else "csv"
    raise ApiError(415, "Unsupported Media Type", f"send text/csv, application/geo+json or a multipart form, "
                   f"not {mimetype or 'nothing'!r}")


def _save_body(work) -> None:
    """The uploaded file (the body, or the form's `file`) written to `work`, in chunks."""
    length = request.content_length
    if length is not None and length > MAX_IMPORT_BYTES:
        raise ApiError(413, "Content Too Large", f"the file is {length} bytes; at most {MAX_IMPORT_BYTES} are accepted")
    source = request.files["file"].stream if request.mimetype == "multipart/form-data" else request.stream
    written = 0
    with open(work, "wb") as out:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > MAX_IMPORT_BYTES:
                raise ApiError(413, "Content Too Large", f"the file is over {MAX_IMPORT_BYTES} bytes")
            out.write(chunk)
    if written == 0:
        raise ApiError(400, "Bad Request", "the file is empty")


