"""The Browse page's whole state as one value, read from and written to the page's query string.

A view is shared by sending its link, so everything a user sets lives in the URL:

    /?lat=45.7723&lon=13.5884&zoom=13&image=S2_demo_20240601&style=ndvi&rescale=-0.2,0.9
     &opacity=0.8&from=2024-04-01&to=2024-06-30&cloud=30&collection=sentinel2-demo&target=ship
     &inview=1&det_class=ship&det_score=0.5&detection=42

- the view: `lat`, `lon`, `zoom`;
- the layer: `image`, and its visualization as exactly the render parameters the map sends to
  /wms (`style`, `bands`, `expression`, `rescale` once or per band, `gain`, `gamma`, `colormap`),
  so the page's URL and the WMS requests speak the same language; `opacity`;
- the search: `from`, `to` (days), `cloud` (max %), `collection`, `target` (images with
  detections of that class), `inview=1` (only the map's view), `aoi` (a GeoJSON geometry);
- the detections overlay: `detections=off`, `det_class`, `det_name`, `det_score` (minimum);
- `detection`: the highlighted detection (the Analytics page links to `/?detection=<id>`);
- the comparison (see `Compare`): `compare` (an image id, or `collection@YYYY-MM-DD`), `compare_mode`
  (`swipe`, the default, or `opacity`), `swipe` (the divider, 0..1 of the map's width),
  `compare_opacity`, `compare_style` (the compared side's own preset).
- `basemap`: an image or collection of the catalog drawn as the basemap (none: Natural Earth).
- `labels`: 1 when the map's place names are drawn (place_search.py).

Lists are repeated parameters (a class or name may hold a comma). Reading never fails: a value
that cannot be read is left out (the page then shows its default), and render parameters are
checked by the API, whose messages the page shows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, overload
from urllib.parse import parse_qsl, quote, urlencode

from cogbrowser.layers import MOSAIC_ORDERS
from cogbrowser.ui.detection_filters import Filters

RENDER_KEYS = ("style", "bands", "expression", "rescale", "gain", "gamma", "colormap")
SAFE = ",:()/*!'~"  # left readable in the query string ('+' and ';' are not: they are encoded)
MAX_AOI_CHARACTERS = 20_000  # the API's limit for an `intersects` geometry in a URL


@dataclass(frozen=True)
class Visualization:
    """How the shown image is drawn: a preset of its collection (`style`) or a composite (`bands`)
    or band math (`expression`), with optional overrides of the stretch and colours."""

    style: str | None = None
    bands: tuple[str, ...] = ()
    expression: str | None = None
    rescale: tuple[tuple[float, float], ...] = ()
    gain: float | None = None
    gamma: float | None = None
    colormap: str | None = None

    def render_params(self) -> list[tuple[str, str]]:
        """The API's render parameters for this visualization, in order (`rescale` repeated per
        band). The one translation used by the map layer, its legend, the previews and the URL."""
        pairs: list[tuple[str, str]] = []
        if self.style:
            pairs.append(("style", self.style))
        if self.bands:
            pairs.append(("bands", ",".join(self.bands)))
        if self.expression:
            pairs.append(("expression", self.expression))
        pairs += [("rescale", f"{number(low)},{number(high)}") for low, high in self.rescale]
        pairs += [(name, number(value)) for name, value in (("gain", self.gain), ("gamma", self.gamma))
                  if value is not None]
        if self.colormap:
            pairs.append(("colormap", self.colormap))
        return pairs

    def vendor_params(self) -> list[tuple[str, str]]:
        """The render parameters WMS takes as vendor parameters: all but the style (WMS STYLES)."""
        return [(name, value) for name, value in self.render_params() if name != "style"]

    @classmethod
    def from_pairs(cls, pairs: Iterable[Sequence[str]]) -> Visualization:
        """Read back `render_params()` (as a list of pairs, e.g. from a JSON store)."""
        return cls.from_params(grouped(pairs))

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> Visualization:
        """Read back what `render_params` wrote (values that are not numbers are left out)."""
        def last(name: str) -> str | None:
            values = [v.strip() for v in params.get(name, ()) if v.strip()]
            return values[-1] if values else None

        ranges = tuple(r for r in (_range(text) for text in params.get("rescale", ())) if r is not None)
        bands = last("bands")
        return cls(style=last("style"), bands=tuple(b.strip() for b in bands.split(",") if b.strip()) if bands else (),
                   expression=last("expression"), rescale=ranges, gain=_float(last("gain")),
                   gamma=_float(last("gamma")), colormap=last("colormap"))


@dataclass(frozen=True)
class View:
    """Where the map looks."""

    lat: float
    lon: float
    zoom: float


URL_WRITTEN = "browse-url-written"  # the Browse page's query string, once written to the address bar (browse.py)
RESULT_SORTS = {"-acquired_at": "Newest first", "acquired_at": "Oldest first", "cloud_cover": "Least cloudy first",
                "id": "By id"}  # the results' orders (GET /api/v1/images `sortby`), the first the default
DEFAULT_SORT = "-acquired_at"


@dataclass(frozen=True)
class SearchFilters:
    """What the image search asks the catalog; empty fields do not filter."""

    start: str | None = None  # YYYY-MM-DD, included
    end: str | None = None  # YYYY-MM-DD, included
    max_cloud: float | None = None
    collections: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()  # images with detections of these classes
    in_view: bool = False
    aoi: dict | None = None  # a GeoJSON geometry (WGS 84)
    sort: str = DEFAULT_SORT  # the results' order, a key of RESULT_SORTS

    def api_params(self, view_bbox: Sequence[float] | None = None) -> dict[str, Any]:
        """The parameters of GET /api/v1/images for this search (`view_bbox`: the map's bounds,
        used when `in_view`)."""
        params: dict[str, Any] = {
            "datetime": Filters(start=self.start, end=self.end).datetime_param(),
            "max_cloud_cover": self.max_cloud, "collections": list(self.collections),
            "detection_class": list(self.targets),
            "bbox": ",".join(f"{v:.6f}" for v in view_bbox) if self.in_view and view_bbox else None,
            "intersects": json.dumps(self.aoi, separators=(",", ":")) if self.aoi else None,
            "sortby": self.sort if self.sort != DEFAULT_SORT else None,
        }
        return {key: value for key, value in params.items() if value not in (None, [])}


@dataclass(frozen=True)
class OverlayFilters:
    """Which detections of the shown image the map draws."""

    show: bool = True
    classes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    min_score: float | None = None

    def api_params(self, image_id: str) -> dict[str, Any]:
        """The parameters of /api/v1/detections (and its counts) selecting them on `image_id`, in
        the Analytics page's grammar (the same Filters): both pages mean the same by a filter."""
        return Filters(images=(image_id,), classes=self.classes, names=self.names,
                       min_score=self.min_score).api_params()


@dataclass(frozen=True)
class Compare:
    """A second layer compared with the shown image: an image id, or `collection@YYYY-MM-DD` (that
    day of the collection's layer on /wms, by TIME). In `swipe` mode the shown image is left of a
    divider at `swipe` (a share of the map's width) and this one right of it; in `opacity` mode this
    one lies over the shown image at `opacity`. `style` is a preset of its own; without one it is
    drawn as the shown image is."""

    target: str
    mode: str = "swipe"
    swipe: float = 0.5
    opacity: float = 0.5
    style: str | None = None

    MODES = ("swipe", "opacity")

    @property
    def layer(self) -> tuple[str, str | None]:
        """The /wms layer name and its TIME (None for an image layer)."""
        name, _, day = self.target.rpartition("@")
        return (name, day) if name and _day(day) else (self.target, None)

    def pairs(self) -> list[tuple[str, str]]:
        pairs = [("compare", self.target)]
        if self.mode == "opacity":
            pairs += [("compare_mode", "opacity"), ("compare_opacity", number(round(self.opacity, 2)))]
        else:
            pairs.append(("swipe", number(round(self.swipe, 3))))
        return pairs + ([("compare_style", self.style)] if self.style else [])

    @classmethod
    def from_values(cls, one: Mapping[str, str]) -> Compare | None:
        """The comparison of a query string's single values, or None without a `compare`."""
        target = one.get("compare")
        if not target:
            return None
        return cls(target=target, mode="opacity" if one.get("compare_mode") == "opacity" else "swipe",
                   swipe=_clamp(_float(one.get("swipe")), 0.0, 1.0, 0.5),
                   opacity=_clamp(_float(one.get("compare_opacity")), 0.0, 1.0, 0.5), style=one.get("compare_style"))


@dataclass(frozen=True)
class BrowseState:
    """Everything the URL of the Browse page holds (see the module docstring)."""

    view: View | None = None
    image: str | None = None
    visualization: Visualization = field(default_factory=Visualization)
    opacity: float = 1.0
    search: SearchFilters = field(default_factory=SearchFilters)
    overlay: OverlayFilters = field(default_factory=OverlayFilters)
    detection: int | None = None
    compare: Compare | None = None  # only with a shown image
    basemap: str | None = None  # a catalog image or collection drawn as the basemap (None: Natural Earth)
    mosaic: str | None = None  # the shown image's collection drawn as a mosaic, in this order (layers.MosaicOrder)
    place_names: bool = False  # the map's place names drawn over the imagery

    def query_string(self) -> str:
        """The state as a query string (with its '?'; empty for the default state)."""
        text = urlencode(self._pairs(), quote_via=quote, safe=SAFE)
        return f"?{text}" if text else ""

    def _pairs(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if self.view is not None:
            pairs += [("lat", f"{self.view.lat:.5f}"), ("lon", f"{self.view.lon:.5f}"),
                      ("zoom", number(round(self.view.zoom, 2)))]
        if self.image:
            pairs.append(("image", self.image))
            pairs += self.visualization.render_params()
            if self.opacity < 1:
                pairs.append(("opacity", number(round(self.opacity, 2))))
            if self.compare is not None:
                pairs += self.compare.pairs()
            if self.mosaic:
                pairs.append(("mosaic", self.mosaic))
        search = self.search
        pairs += [(key, value) for key, value in (("from", search.start), ("to", search.end)) if value]
        if search.max_cloud is not None:
            pairs.append(("cloud", number(search.max_cloud)))
        pairs += [("collection", c) for c in search.collections] + [("target", t) for t in search.targets]
        if search.in_view:
            pairs.append(("inview", "1"))
        if search.aoi:
            pairs.append(("aoi", json.dumps(search.aoi, separators=(",", ":"))))
        if search.sort != DEFAULT_SORT:
            pairs.append(("sort", search.sort))
        overlay = self.overlay
        if not overlay.show:
            pairs.append(("detections", "off"))
        pairs += [("det_class", c) for c in overlay.classes] + [("det_name", n) for n in overlay.names]
        if overlay.min_score is not None:
            pairs.append(("det_score", number(overlay.min_score)))
        if self.detection is not None:
            pairs.append(("detection", str(self.detection)))
        if self.basemap:
            pairs.append(("basemap", self.basemap))
        if self.place_names:
            pairs.append(("labels", "1"))
        return pairs

    @classmethod
    def from_query_string(cls, text: str | None) -> BrowseState:
        """The state a query string describes; what cannot be read is left at its default."""
        params = grouped(parse_qsl((text or "").lstrip("?"), keep_blank_values=False))
        one = {key: values[-1].strip() for key, values in params.items() if values and values[-1].strip()}
        lat, lon, zoom = (_float(one.get(k)) for k in ("lat", "lon", "zoom"))
        view = View(lat, lon, zoom) if lat is not None and lon is not None and zoom is not None and abs(lat) <= 90 \
            else None
        return cls(
            view=view, image=one.get("image"), visualization=Visualization.from_params(params),
            opacity=_clamp(_float(one.get("opacity")), 0.0, 1.0, 1.0),
            search=SearchFilters(
                start=_day(one.get("from")), end=_day(one.get("to")),
                max_cloud=_clamp(_float(one.get("cloud")), 0.0, 100.0, None),
                collections=_items(params.get("collection")), targets=_items(params.get("target")),
                in_view=one.get("inview") in ("1", "true", "on"), aoi=_geometry(one.get("aoi")),
                sort=one["sort"] if one.get("sort") in RESULT_SORTS else DEFAULT_SORT),
            overlay=OverlayFilters(
                show=one.get("detections") not in ("off", "0", "false"), classes=_items(params.get("det_class")),
                names=_items(params.get("det_name")), min_score=_clamp(_float(one.get("det_score")), 0.0, 1.0, None)),
            detection=_int(one.get("detection")),
            compare=Compare.from_values(one) if one.get("image") else None, basemap=one.get("basemap"),
            mosaic=one.get("mosaic") if one.get("image") and one.get("mosaic") in MOSAIC_ORDERS else None,
            place_names=one.get("labels") in ("1", "true", "on"))


# ---------------------------------------------------------------- small readers and writers

def number(value: float) -> str:
    """A number as short as it reads (2500 not 2500.0, 0.25 not 0.2500)."""
    return f"{value:.10g}"


def grouped(pairs: Iterable[Sequence[str]]) -> dict[str, list[str]]:
    """Query pairs as name -> the values given, in order."""
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    return values


def _items(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values or () if v.strip()))


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


@overload
def _clamp(value: float | None, low: float, high: float, default: float) -> float: ...


@overload
def _clamp(value: float | None, low: float, high: float, default: None) -> float | None: ...


def _clamp(value: float | None, low: float, high: float, default: float | None) -> float | None:
    """`value` if it lies in low..high, else `default` (a number, or None to leave the field unset)."""
    return default if value is None or not low <= value <= high else value


def _range(text: str) -> tuple[float, float] | None:
    parts = [_float(p) for p in text.split(",")]
    if len(parts) != 2:
        return None
    low, high = parts
    return (low, high) if low is not None and high is not None else None


def _day(text: str | None) -> str | None:
    """A YYYY-MM-DD day, or None."""
    try:
        return date.fromisoformat(text).isoformat() if text else None
    except ValueError:
        return None


def _geometry(text: str | None) -> dict | None:
    """A GeoJSON geometry given as JSON text (the API checks it further), or None."""
    if not text or len(text) > MAX_AOI_CHARACTERS:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("type"), str) and "coordinates" in value \
        else None
