"""Pydantic models every endpoint shares: links, the bases of query and body models, and the query
parameter types every search uses (bbox, datetime intervals, id lists, page limits), each parsed once and the same way.

Query parameters arrive as text; these types say what a value must look like (for validation and
for the OpenAPI description alike). Lists come comma-separated or repeated (endpoints.parse_query
splits them), so `bbox=5,50,6,51` is a list of four numbers.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)

from cogbrowser.catalog.queries import ID_PATTERN
from cogbrowser.errors import InvalidInput
from cogbrowser.layers import parse_time_range
from cogbrowser.raster.bbox import ANTIMERIDIAN_RULE, BBox

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


def _lonlat_bbox(value: Any) -> BBox:
    """A bbox parameter or body member (`w,s,e,n` text, or four numbers) as a WGS 84 BBox."""
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)) or len(parts) != 4:
        raise ValueError("expected 4 numbers west,south,east,north")
    try:
        numbers = [float(part) for part in parts]
    except (TypeError, ValueError):
        raise ValueError("west,south,east,north must be numbers") from None
    try:
        return BBox.of(numbers)
    except InvalidInput as exc:
        raise ValueError(str(exc).removeprefix("bbox: ")) from None


BBoxParam = Annotated[BBox, PlainValidator(_lonlat_bbox), PlainSerializer(list), WithJsonSchema({
    "type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
    "description": f"west,south,east,north in WGS 84 degrees; {ANTIMERIDIAN_RULE}"})]


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
GeoJSONText = Annotated[str, StringConstraints(max_length=20_000)]  # a geometry in a URL; POST larger ones


class RenderParams(QueryModel):
    """The render parameters of every picture (tiles, WMS/WMTS vendor parameters, previews,
    exports), as text: `parse_render_spec` checks them against the image's bands and presets."""

    repeated: ClassVar[frozenset[str]] = frozenset({"rescale"})  # each value is "min,max"

    style: Text | None = Field(None, description="a preset of the image's collection, e.g. true-color, ndvi")
    bands: Text | None = Field(None, description="1 or 3 bands by index or name: 4,3,2 or B08,B04,B03")
    expression: Text | None = Field(None, description="band math, e.g. (B08-B04)/(B08+B04); ';' separates R;G;B")
    rescale: list[Text] | None = Field(None, max_length=3, description="min,max once, or once per output band")
    gain: Text | None = None
    gamma: Text | None = None
    colormap: Annotated[str, StringConstraints(max_length=20_000)] | None = Field(
        None, description="gray, viridis, magma, terrain, rdylgn, ... or a JSON class map")
    resampling: Text | None = Field(None, description="nearest, bilinear, cubic, average, ...")
    nodata: Text | None = Field(None, description="a value to treat as no data (overrides the image's)")
