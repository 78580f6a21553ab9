"""What WMS and WMTS share beyond their grammars.

Each service reads its own requests (KVP, RESTful paths) and writes its own exception reports; both
look layers up, pick a collection's acquisitions by TIME, take our render parameters as vendor
parameters, find the pixel a GetFeatureInfo clicks and answer capabilities the same way. Those
steps are here, once, so the two services cannot drift apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import ClassVar

from flask import Response, request

from cogbrowser.catalog import queries
from cogbrowser.catalog.database import Connection
from cogbrowser.errors import NotFound
from cogbrowser.layers import (
    Layer,
    MosaicChoice,
    MosaicError,
    TimeRange,
    mosaic_choice,
    parse_time_range,
    utc_iso,
)
from cogbrowser.raster.bbox import Bounds
from cogbrowser.raster.render_spec import RENDER_PARAMETERS
from cogbrowser.web.context import services

# Exception reports and feature info answer one request: never stored, readable by map pages of any origin.
NOT_STORED = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}


class ServiceError(Exception):
    """A request a service cannot answer, as its exception report says it: `code` (one of the
    service's `CODES`), a one-line `message`, the parameter at fault (`locator`), and the answer's
    HTTP `status` (the code's own, unless given) and `headers` (Retry-After, WWW-Authenticate)."""

    CODES: ClassVar[Collection[str]] = ()

    def __init__(self, code: str, message: str, locator: str | None = None, status: int | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        if code not in self.CODES:
            raise ValueError(f"not an exception code of {type(self).__name__}: {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.locator = locator
        self.status = status or self.status_of(code)
        self.headers = dict(headers or {})

    @staticmethod
    def status_of(code: str) -> int:
        """The HTTP status of a report with `code`, as the service's standard says."""
        return 200


def lookup_layer(name: str, error: Callable[[str], Exception]) -> Layer:
    """The layer called `name`; when there is none, `error(message)` is raised: the service's own
    exception (WMS LayerNotDefined, WMTS InvalidParameterValue)."""
    try:
        return services().layers.find(name)
    except NotFound as exc:
        raise error(str(exc)) from None


def dimension_time(layer: Layer, text: str | None) -> TimeRange:
    """The acquisitions a layer draws for a value of its time dimension (WMS TIME, WMTS Time).

    An image layer has no time dimension, so the value is ignored, as both standards say of
    undeclared dimensions. A collection without a value draws its newest acquisition: the default
    its capabilities declare (`time_values`). Otherwise the instant, day or `start/end` interval
    given; InvalidInput naming TIME when it is none of those.
    """
    if not layer.is_collection:
        return None, None
    if text is None or not text.strip():
        newest = layer.image.acquired_at  # a collection layer's image is its newest
        return newest, newest
    return parse_time_range(text, "TIME")


MOSAIC_PARAMETERS = ("max_cloud_cover", "mosaic_order", "closest_to")


def mosaic_of(layer: Layer, time: TimeRange, pairs: Iterable[tuple[str, str]]) -> MosaicChoice:
    """Which acquisitions a collection layer draws and which lies on top: its time filter and the
    vendor parameters `max_cloud_cover`, `mosaic_order` and `closest_to` (names in any case, as
    the tiles' query takes them). An image layer ignores them. InvalidInput names the one at fault."""
    if not layer.is_collection:
        return MosaicChoice()
    given = {key.lower(): value for key, value in pairs if key.lower() in MOSAIC_PARAMETERS}
    cloud = given.get("max_cloud_cover")
    try:
        limit = float(cloud) if cloud not in (None, "") else None
    except ValueError:
        raise MosaicError("max_cloud_cover", f"{cloud!r} is not a number") from None
    return mosaic_choice(time, limit, given.get("mosaic_order"), given.get("closest_to"))


def time_values(conn: Connection, layer: Layer) -> tuple[str, ...]:
    """The values of a layer's time dimension, oldest first, the last being the default: every
    acquisition time of a collection; none for an image (it has no time dimension)."""
    if not layer.is_collection:
        return ()
    return tuple(utc_iso(t) for t in queries.collection_dates(conn, layer.id))


def render_params(pairs: Iterable[tuple[str, str]], style: str | None = None) -> dict[str, list[str]]:
    """Our render parameters among a request's (name, value) pairs, names in any case as KVP names
    are, each with the values given in order; the service's own style (WMS STYLES or STYLE, WMTS
    STYLE), when one is given, stands in for our `style`."""
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        name = key.lower()
        if name in RENDER_PARAMETERS:
            values.setdefault(name, []).append(value)
    if style:
        values["style"] = [style]
    return values


def pixel_area(bounds: Bounds, width: int, height: int, i: int, j: int) -> tuple[float, float, Bounds]:
    """The centre (x, y) of pixel (i, j), counted from the top left, of a picture of `bounds` at
    width x height, and the pixel's own box: the point GetFeatureInfo reports and the area whose
    images it reads."""
    left, bottom, right, top = bounds
    dx, dy = (right - left) / width, (top - bottom) / height
    x, y = left + (i + 0.5) * dx, top - (j + 0.5) * dy
    return x, y, (x - dx / 2, y - dy / 2, x + dx / 2, y + dy / 2)


def capabilities_response(body: bytes, content_type: str) -> Response:
    """A capabilities document, revalidated by ETag rather than cached (304 when it has not
    changed): a new ingest must show up in a GIS client's next refresh."""
    etag = hashlib.blake2b(body, digest_size=16).hexdigest()
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    return Response(body, content_type=content_type, headers=headers)
