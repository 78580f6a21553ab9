"""Pydantic models every endpoint shares: links, the bases of query and body models, and the query
parameter types several endpoints take — bboxes, EPSG codes, numbers, GeoJSON areas, datetime
intervals, id lists, render parameters — each parsed once, at the edge, and the same way.

Query parameters arrive as text; these types say what a value must look like (for validation and
for the OpenAPI description alike) and turn it into the value the core takes: a float, an int, a
`BBox`, an EPSG code, the polygons of a GeoJSON area. Each error names its parameter and repeats
the value given. Lists come comma-separated or repeated (endpoints.parse_query splits them), so
`bbox=5,50,6,51` is a list of four numbers.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    create_model,
)
from pydantic_core import core_schema

from cogbrowser.catalog.queries import ID_PATTERN
from cogbrowser.errors import InvalidInput
from cogbrowser.layers import parse_time_range
from cogbrowser.raster.bbox import ANTIMERIDIAN_RULE, BBox
from cogbrowser.raster.crs import OFFERED_TEXT, epsg_crs
from cogbrowser.raster.region import GeometryError, geojson_polygons
from cogbrowser.raster.render_spec import RENDER_PARAMETERS
from cogbrowser.web.problems import bad_request

ID = Annotated[str, StringConstraints(pattern=ID_PATTERN.pattern)]


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class QueryModel(BaseModel):
    """Base of query-string models: unknown parameters are refused, aliases are the names."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BodyModel(BaseModel):
    """Base of JSON bodies: unknown members are refused (a typo must not be ignored silently)."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- numbers

def _number(value: Any) -> float:
    """A finite number, given as text or as a number; 'nan', 'inf' and words are errors."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class FiniteNumber:
    """`Annotated[float, FiniteNumber(...)]`: a parameter that is one finite number, in
    `minimum`..`maximum` when given; `outside` is what the error says of a value out of range
    (default: the range). The OpenAPI schema says the same."""

    minimum: float | None = None
    maximum: float | None = None
    outside: str | None = None

    def check(self, value: Any) -> float:
        number = _number(value)
        if (self.minimum is not None and number < self.minimum) or (self.maximum is not None and number > self.maximum):
            low, high = ("" if limit is None else f"{limit:g}" for limit in (self.minimum, self.maximum))
            raise ValueError(f"{value!r} {self.outside or f'is outside {low}..{high}'}")
        return number

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        limits = (("minimum", self.minimum), ("maximum", self.maximum))
        return {"type": "number", **{key: value for key, value in limits if value is not None}}


@dataclass(frozen=True)
class WholeNumber:
    """`Annotated[int, WholeNumber(low, high)]`: a parameter that is a whole number in `low`..`high`
    (None: no upper bound); the error repeats the value given and says the range, naming `unit`
    (e.g. " of pixels"). The OpenAPI schema says the same."""

    low: int = 1
    high: int | None = None
    unit: str = ""

    def check(self, value: Any) -> int:
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        if not (text.isascii() and text.isdigit()) or int(text) < self.low or (
                self.high is not None and int(text) > self.high):
            if self.high is not None:
                expected = f"a whole number{self.unit} in {self.low}..{self.high}"
            else:
                expected = f"a positive whole number{self.unit}" if self.low == 1 else \
                    f"a whole number{self.unit} from {self.low} on"
            raise ValueError(f"{value!r} is not {expected}")
        return int(text)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, **({"maximum": self.high} if self.high is not None else {})}


Number = Annotated[float, FiniteNumber()]


def list_numbers(value: Any) -> list[float]:
    """The finite numbers of a list parameter (comma-separated text, or the items parse_query split)."""
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)):
        raise ValueError(f"{value!r} is not a list of numbers")
    return [_number(part.strip() if isinstance(part, str) else part) for part in parts]


def list_text(value: Any) -> str:
    """A list parameter's value as the user wrote it, for messages."""
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def _min_max(value: Any) -> tuple[float, float]:
    text = list_text(value)
    try:
        low, high = list_numbers(value)
    except ValueError:
        raise ValueError(f"{text!r} is not 'min,max'") from None
    if not low < high:
        raise ValueError(f"{text!r} needs finite numbers with min below max")
    return low, high


MinMax = Annotated[tuple[float, float], PlainValidator(_min_max), WithJsonSchema({
    "type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
    "description": "min,max: finite numbers, min below max"})]


# ---------------------------------------------------------------- places

def _four_numbers(value: Any) -> BBox:
    """Four finite numbers west,south,east,north as a BBox, not yet checked against any CRS's rule."""
    numbers = list_numbers(value)
    if len(numbers) != 4:
        raise ValueError(f"expected 4 numbers west,south,east,north, got {len(numbers)} in {list_text(value)!r}")
    return BBox(*numbers)


def _lonlat_bbox(value: Any) -> BBox:
    """A bbox parameter or body member (`w,s,e,n` text, or four numbers) as a WGS 84 BBox."""
    try:
        return BBox.of(_four_numbers(value))
    except InvalidInput as exc:
        raise ValueError(str(exc).removeprefix("bbox: ")) from None


_BBOX_SCHEMA = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
BBoxParam = Annotated[BBox, PlainValidator(_lonlat_bbox), PlainSerializer(list), WithJsonSchema({
    **_BBOX_SCHEMA, "description": f"west,south,east,north in WGS 84 degrees; {ANTIMERIDIAN_RULE}"})]
BBoxNumbers = Annotated[BBox, PlainValidator(_four_numbers), PlainSerializer(list), WithJsonSchema({
    **_BBOX_SCHEMA, "description": f"west,south,east,north in bbox-crs (default WGS 84: {ANTIMERIDIAN_RULE}; "
                                   "in a projected CRS west is less than east)"})]


def area_bbox(box: BBox, crs_code: int | None, parameter: str = "bbox") -> BBox:
    """A box that must have an area (a zone, an export), by the one rule for its CRS (`crs_code`,
    default WGS 84): in lon/lat, west > east crosses the antimeridian (east is then kept past 180);
    in a projected CRS, west must be less than east. A 400 naming `parameter` otherwise."""
    west, south, east, north = box
    crs = epsg_crs(crs_code) if crs_code is not None else None
    geographic = crs is None or crs.is_geographic
    if not south < north:
        raise bad_request(parameter, f"south ({south:g}) must be less than north ({north:g})")
    if not geographic and not west < east:
        raise bad_request(parameter, f"west ({west:g}) must be less than east ({east:g}) in a projected CRS")
    if west == east:
        raise bad_request(parameter, f"west and east are both {west:g}: the box has no area")
    try:
        return BBox.of(box, geographic, parameter)
    except InvalidInput as exc:
        raise bad_request(parameter, str(exc).removeprefix(f"{parameter}: ")) from None


EPSG_PATTERN = r"^(?:EPSG:|urn:ogc:def:crs:EPSG::|https?://www\.opengis\.net/def/crs/EPSG/0/)([0-9]{4,6})$"
_EPSG = re.compile(EPSG_PATTERN, re.IGNORECASE)


def _epsg_code(value: Any) -> int:
    """An EPSG code named as `EPSG:n` or by its OGC URN or URI, that PROJ knows."""
    text = str(value).strip()
    match = _EPSG.match(text)
    if match is None or epsg_crs(int(match.group(1))) is None:
        raise ValueError(f"{text!r} is not offered (use {OFFERED_TEXT}, or the image's own EPSG code)")
    return int(match.group(1))


EpsgCode = Annotated[int, PlainValidator(_epsg_code), WithJsonSchema({
    "type": "string", "pattern": EPSG_PATTERN,
    "description": f"EPSG:n (or its OGC URN or URI): {OFFERED_TEXT}, or the image's own EPSG code"})]


@dataclass(frozen=True)
class Polygons:
    """The polygons (lon/lat GeoJSON Polygons and MultiPolygons) of an area given as GeoJSON."""

    shapes: list[dict]


MAX_GEOJSON_TEXT = 20_000  # characters of GeoJSON in a URL; larger areas are posted


def _polygons(value: Any) -> Polygons:
    if isinstance(value, str):
        if len(value) > MAX_GEOJSON_TEXT:
            raise ValueError(f"{len(value)} characters of GeoJSON; at most {MAX_GEOJSON_TEXT} in a URL (post it)")
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
    try:
        return Polygons(geojson_polygons(value))
    except GeometryError as exc:
        raise ValueError(exc.reason) from None


PolygonsParam = Annotated[Polygons, PlainValidator(_polygons), WithJsonSchema({
    "type": "string", "maxLength": MAX_GEOJSON_TEXT, "contentMediaType": "application/geo+json",
    "description": "a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection of them, in WGS 84"})]


# ---------------------------------------------------------------- times and lists

def _check_interval(text: str) -> str:
    try:
        parse_time_range(text)
    except InvalidInput as exc:
        raise ValueError(str(exc).removeprefix("datetime: ")) from None
    return text


DatetimeParam = Annotated[str, Field(description=(
    "An instant, a day (all of it), or an interval start/end with '..' or nothing for an open end "
    "(RFC 3339, as in STAC): 2024-06-01, 2024-06-01T10:00:00Z/.., 2024-04-01/2024-06-30")),
    AfterValidator(_check_interval)]


def interval(text: str | None) -> tuple[datetime | None, datetime | None]:
    """A validated DatetimeParam as (start, end); (None, None) without one."""
    return parse_time_range(text) if text else (None, None)


IdList = Annotated[list[ID], Field(max_length=500, description="Comma-separated ids (or the parameter repeated)")]
TextList = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
                     Field(max_length=500, description=(
                         'Comma-separated values (or the parameter repeated); a value holding a comma is '
                         'double-quoted, as in CSV: "Smith, John",MV Aurora'))]


def json_number(value: float | None) -> float | str | None:
    """A float for JSON: NaN and infinities (a nodata value may be NaN) as the strings 'nan', 'inf'."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def jsonable(value: Any) -> Any:
    """Statistics and band metadata from the catalog, with non-finite floats made JSON-safe."""
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


Text = Annotated[str, StringConstraints(max_length=2000)]  # URLs stay well under the server's 256 KiB limit
GeoJSONText = Annotated[str, StringConstraints(max_length=MAX_GEOJSON_TEXT)]  # a geometry in a URL; POST larger ones


# ---------------------------------------------------------------- render parameters

class RenderQuery(QueryModel):
    """Base of query models holding render parameters (all, as RenderParams, or some of them): they
    stay text here, since `parse_render_spec` checks them against the image's bands and presets."""

    repeated: ClassVar[frozenset[str]] = frozenset(name for name, p in RENDER_PARAMETERS.items() if p.values > 1)

    def render_values(self) -> dict[str, list[str]]:
        """The render parameters given, as Layer.spec and parse_outputs take them: name -> values."""
        values: dict[str, list[str]] = {}
        for name in RENDER_PARAMETERS:
            value = getattr(self, name, None)
            if value is not None:
                values[name] = list(value) if isinstance(value, list) else [value]
        return values


def render_field(name: str) -> Any:
    """The field (default None, described) of render parameter `name` from RENDER_PARAMETERS, for
    models that take a few of them as Text: `expression: Text | None = render_field("expression")`."""
    return Field(None, description=RENDER_PARAMETERS[name].description)


def _render_declaration(name: str) -> tuple[Any, Any]:
    """(type, field) of render parameter `name` for create_model: text of its maximum length, a list
    of up to `values` of them where it takes one per output."""
    parameter = RENDER_PARAMETERS[name]
    text = Annotated[str, StringConstraints(max_length=parameter.max_length)]
    if parameter.values > 1:
        return list[text] | None, Field(None, max_length=parameter.values, description=parameter.description)
    return text | None, Field(None, description=parameter.description)


if TYPE_CHECKING:
    RenderParams = RenderQuery
else:
    RenderParams = create_model(
        "RenderParams", __base__=RenderQuery, __module__=__name__,
        __doc__="The render parameters of every picture (tiles, WMS/WMTS vendor parameters, previews, exports, "
                "timelapses), built from RENDER_PARAMETERS.",
        **{name: _render_declaration(name) for name in RENDER_PARAMETERS})
