"""Reading WMS requests (KVP): each parameter into a typed value, each mistake a WMSError.

What GIS clients actually send, and what this module therefore tolerates:

- parameter names in any case (GDAL's WMS driver writes `request=GetMap&bbox=...`, QGIS and
  OWSLib `REQUEST=...`, scripts a mix);
- a missing VERSION (negotiated to 1.3.0, or 1.1.1 when the request names an SRS), and versions
  that do not exist (1.0.0 → 1.1.1, 1.2.0 → 1.1.1, 2.0 → 1.3.0), as the negotiation rules say;
- SRS in a 1.3.0 request or CRS in a 1.1.1 one; X/Y in 1.3.0 and I/J in 1.1.1 (GDAL always sends
  X/Y), while the axis order of BBOX follows the version: in 1.3.0 a CRS whose EPSG definition
  has latitude/northing first (EPSG:4326!) takes BBOX as `miny,minx,maxy,maxx`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection
from dataclasses import dataclass

from pyproj import CRS as ProjCRS
from pyproj.exceptions import CRSError
from rasterio.crs import CRS
from werkzeug.datastructures import MultiDict

from cogbrowser.ogc.common import render_params
from cogbrowser.ogc.wms_exceptions import WMSError
from cogbrowser.raster.crs import WGS84, epsg_crs

VERSIONS = ("1.1.1", "1.3.0")
BASE_CRS = ("EPSG:4326", "CRS:84", "EPSG:3857")
UTM_CRS = tuple(f"EPSG:{code}" for code in (*range(32601, 32661), *range(32701, 32761)))
SUPPORTED_CRS = BASE_CRS + UTM_CRS
MAP_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/tiff": "tiff"}
FORMAT_ALIASES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "image/jpg": "image/jpeg",
                  "webp": "image/webp", "tiff": "image/tiff", "tif": "image/tiff", "geotiff": "image/tiff",
                  "image/geotiff": "image/tiff", "image/tiff; application=geotiff": "image/tiff"}
INFO_FORMATS = ("text/plain", "application/json", "text/html")
MAX_LAYERS = 16  # layers drawn into one GetMap (LayerLimit in the capabilities)
MAX_FEATURE_COUNT = 50
MAX_COORDINATE = 1e9  # |BBOX values| beyond this are no place on Earth in any CRS we offer
_HEX_COLOUR = re.compile(r"(?:0x|#)?([0-9a-fA-F]{6})")


class Params:
    """The query parameters with case-insensitive names (WMS KVP names are), values as given."""

    def __init__(self, args: MultiDict) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in args.items(multi=True):
            self._values.setdefault(key.lower(), []).append(value)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._values

    def get(self, name: str) -> str | None:
        """The value of a single-valued parameter (the last one given), stripped; None if absent."""
        values = self._values.get(name.lower())
        return values[-1].strip() if values else None

    def required(self, name: str) -> str:
        """The value of a parameter that must be given and not blank (MissingParameterValue)."""
        value = self.get(name)
        if not value:
            raise WMSError("MissingParameterValue", f"the {name.upper()} parameter is missing", name.upper())
        return value

    def render_params(self, style: str | None = None) -> dict[str, list[str]]:
        """Our render parameters given as vendor parameters; `style` (a WMS style) overrides `style`."""
        return render_params(((name, value) for name, values in self._values.items() for value in values), style)


# ------------------------------------------------------------------------------ versions

def _version_tuple(text: str | None) -> tuple[int, ...] | None:
    if not text or not re.fullmatch(r"\d+(\.\d+){0,2}", text.strip()):
        return None
    return tuple(int(part) for part in text.strip().split("."))


def negotiate_version(text: str | None) -> str:
    """The version to answer a request for `text`: the highest we have not above it, else the
    lowest (WMS version negotiation); without a (readable) version, the highest."""
    numbers = _version_tuple(text)
    if numbers is None:
        return VERSIONS[-1]
    return "1.3.0" if numbers >= (1, 3, 0) else "1.1.1"


def request_version(params: Params) -> str:
    """The version of an operation request: VERSION (or WMTVER of old clients), else guessed from
    the request's grammar (an SRS and no CRS: 1.1.1)."""
    text = params.get("version") or params.get("wmtver")
    if text:
        return negotiate_version(text)
    return "1.1.1" if "srs" in params and "crs" not in params else "1.3.0"


# ------------------------------------------------------------------------------ CRS and area

@dataclass(frozen=True)
class MapCRS:
    """A requested CRS: its name, the CRS to render in, and whether BBOX is given as y,x."""

    code: str
    crs: CRS
    swap_axes: bool


@functools.lru_cache(maxsize=512)
def north_first(code: str) -> bool:
    """Whether the EPSG definition of `code` puts latitude/northing first (e.g. EPSG:4326).

    A polar stereographic CRS whose two axes both point "north" along meridians (EPSG:3031) is
    read easting first, as GDAL reads it."""
    if not code.startswith("EPSG:"):
        return False
    axes = ProjCRS.from_user_input(code).axis_info
    return (len(axes) >= 2 and axes[0].direction in ("north", "south")
            and axes[1].direction in ("east", "west"))


def normalise_crs_code(text: str) -> str:
    """`epsg:4326` → `EPSG:4326`; `OGC:CRS84` and the like → `CRS:84`."""
    code = text.strip().upper()
    if code in ("OGC:CRS84", "CRS84", "EPSG:CRS84"):
        return "CRS:84"
    return code


def parse_crs(params: Params, version: str, offered: Collection[str]) -> MapCRS:
    """The CRS of a map request (CRS in 1.3.0, SRS in 1.1.1, either accepted), among `offered`."""
    names = ("crs", "srs") if version == "1.3.0" else ("srs", "crs")
    text = params.get(names[0]) or params.get(names[1])
    if not text:
        raise WMSError("MissingParameterValue", f"the {names[0].upper()} parameter is missing", names[0].upper())
    code = normalise_crs_code(text)
    if code not in offered:
        raise WMSError("InvalidCRS", f"{names[0].upper()} {text!r} is not offered by the requested layer(s); "
                       f"use EPSG:4326, CRS:84, EPSG:3857, a UTM zone (EPSG:326xx/327xx) or the layer's own CRS",
                       names[0].upper())
    try:  # every offered code is EPSG:n or CRS:84
        crs = WGS84 if code == "CRS:84" else epsg_crs(int(code.removeprefix("EPSG:")))
        swap = version == "1.3.0" and north_first(code)
    except (CRSError, ValueError) as exc:  # rasterio's CRSError is a ValueError
        raise WMSError("InvalidCRS", f"{code}: {exc}", names[0].upper()) from None
    if crs is None:
        raise WMSError("InvalidCRS", f"{code}: not a CRS that PROJ knows", names[0].upper())
    return MapCRS(code, crs, swap)


def parse_bbox(params: Params, crs: MapCRS) -> tuple[float, float, float, float]:
    """BBOX as (minx, miny, maxx, maxy) in the CRS's x/y (lon/lat, easting/northing) order."""
    text = params.required("bbox")
    parts = text.split(",")
    if len(parts) != 4:
        raise WMSError("InvalidParameterValue", f"BBOX {text!r} must have 4 numbers, not {len(parts)}", "BBOX")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise WMSError("InvalidParameterValue", f"BBOX {text!r} is not 4 numbers", "BBOX") from None
    if not all(math.isfinite(v) and abs(v) <= MAX_COORDINATE for v in values):
        raise WMSError("InvalidParameterValue", f"BBOX {text!r} has a value that is not finite or is "
                       f"beyond ±{MAX_COORDINATE:g}", "BBOX")
    if crs.swap_axes:
        values = [values[1], values[0], values[3], values[2]]
    minx, miny, maxx, maxy = values
    if not (minx < maxx and miny < maxy):
        order = "miny,minx,maxy,maxx (WMS 1.3.0 axis order)" if crs.swap_axes else "minx,miny,maxx,maxy"
        raise WMSError("InvalidParameterValue", f"BBOX {text!r} is empty or inverted: give {order} "
                       f"with min below max", "BBOX")
    return minx, miny, maxx, maxy


def parse_size(params: Params, limit: int) -> tuple[int, int]:
    """WIDTH and HEIGHT: positive integers of at most `limit` pixels (the server's max image size)."""
    return _pixels(params, "width", limit), _pixels(params, "height", limit)


def _pixels(params: Params, name: str, limit: int) -> int:
    text = params.required(name)
    if not text.isdigit() or int(text) < 1:
        raise WMSError("InvalidParameterValue", f"{name.upper()} {text!r} is not a positive whole number "
                       f"of pixels", name.upper())
    value = int(text)
    if value > limit:
        raise WMSError("InvalidParameterValue", f"{name.upper()} {value} is above this server's limit of "
                       f"{limit} pixels", name.upper())
    return value


def parse_optional_size(params: Params, limit: int) -> tuple[int | None, int | None]:
    """WIDTH and HEIGHT where both are optional (GetLegendGraphic)."""
    width = _pixels(params, "width", limit) if params.get("width") else None
    height = _pixels(params, "height", limit) if params.get("height") else None
    return width, height


# ------------------------------------------------------------------------------ layers, styles

def parse_names(params: Params, name: str) -> list[str]:
    """A comma-separated list of layer names (LAYERS, QUERY_LAYERS)."""
    names = [part.strip() for part in params.required(name).split(",")]
    if any(not part for part in names):
        raise WMSError("LayerNotDefined", f"{name.upper()} {params.get(name)!r} has an empty layer name",
                       name.upper())
    if len(names) > MAX_LAYERS:
        raise WMSError("InvalidParameterValue", f"{name.upper()} names {len(names)} layers; at most "
                       f"{MAX_LAYERS} are drawn in one map", name.upper())
    return names


def parse_styles(params: Params, count: int) -> list[str]:
    """One style per layer: STYLES empty or absent means each layer's default."""
    text = params.get("styles") or ""
    if not text.strip(","):
        return [""] * count
    styles = [part.strip() for part in text.split(",")]
    if len(styles) != count:
        raise WMSError("StyleNotDefined", f"STYLES lists {len(styles)} style(s) for {count} layer(s); give one "
                       f"per layer (empty for the default) or leave STYLES empty", "STYLES")
    return styles


# ------------------------------------------------------------------------------ formats, colours

def parse_format(params: Params, name: str, formats: Collection[str], default: str | None = None) -> str:
    """A MIME type among `formats` (aliases such as `png` or `image/jpg` accepted)."""
    text = params.get(name)
    if not text:
        if default is None:
            raise WMSError("MissingParameterValue", f"the {name.upper()} parameter is missing", name.upper())
        return default
    value = text.lower()
    value = FORMAT_ALIASES.get(value, value)
    if value not in formats:
        value = FORMAT_ALIASES.get(value.split(";")[0].strip(), value.split(";")[0].strip())
    if value not in formats:
        raise WMSError("InvalidFormat", f"{name.upper()} {text!r} is not offered (use {', '.join(formats)})",
                       name.upper())
    return value


def parse_transparent(params: Params) -> bool:
    text = (params.get("transparent") or "FALSE").upper()
    if text not in ("TRUE", "FALSE"):
        raise WMSError("InvalidParameterValue", f"TRANSPARENT {params.get('transparent')!r} must be TRUE "
                       f"or FALSE", "TRANSPARENT")
    return text == "TRUE"


def parse_bgcolor(params: Params) -> tuple[int, int, int]:
    """BGCOLOR `0xRRGGBB` (a `#` or nothing in front is accepted too); white by default."""
    text = params.get("bgcolor") or "0xFFFFFF"
    match = _HEX_COLOUR.fullmatch(text)
    if not match:
        raise WMSError("InvalidParameterValue", f"BGCOLOR {text!r} is not a colour 0xRRGGBB", "BGCOLOR")
    digits = match.group(1)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def exception_mode(params: Params) -> str:
    """How to report errors of a GetMap: "xml" (the report), "inimage" or "blank" (a picture)."""
    text = (params.get("exceptions") or "").lower()
    for mode in ("inimage", "blank"):
        if mode in text:
            return mode
    return "xml"


# ------------------------------------------------------------------------------ GetFeatureInfo

def parse_point(params: Params, width: int, height: int) -> tuple[int, int]:
    """The queried pixel: I/J (1.3.0) or X/Y (1.1.1, and GDAL in any version), from the top left."""
    names = ("i", "j") if "i" in params or "j" in params else ("x", "y")
    point = []
    for name, size in zip(names, (width, height)):
        text = params.required(name)
        if not re.fullmatch(r"[+-]?\d+", text):
            raise WMSError("InvalidPoint", f"{name.upper()} {text!r} is not a pixel number", name.upper())
        value = int(text)
        if not 0 <= value < size:
            raise WMSError("InvalidPoint", f"{name.upper()} {value} is outside the map (0..{size - 1})", name.upper())
        point.append(value)
    return point[0], point[1]


def parse_feature_count(params: Params) -> int:
    text = params.get("feature_count") or "1"
    if not text.isdigit() or int(text) < 1:
        raise WMSError("InvalidParameterValue", f"FEATURE_COUNT {text!r} is not a positive whole number",
                       "FEATURE_COUNT")
    return min(int(text), MAX_FEATURE_COUNT)
