"""Coordinates typed by a user, in any common notation, to a WGS 84 latitude and longitude.

    48.85, 2.35            decimal degrees, latitude first (a comma, semicolon or space between)
    48.85 N 2.35 E         with hemispheres, in either order (2.35E 48.85N), or as N48.85 E2.35
    48°51'24"N 2°21'03"E   degrees, minutes, seconds (also 48 51 24 N, 48d51m24s N, ′ ″ marks)
    31N 452480 5411718     UTM: zone, then N or S for the hemisphere, or a latitude band letter
    31U 452480 5411718       (C–X; the band is checked against the point), easting, northing
    31UDQ5248011718        MGRS, with or without spaces, 0 to 10 digits (31UDQ: the square's centre)

pygeodesy does the parsing and the conversions; this module decides which notation the text is in.
Text that is clearly meant as coordinates but wrong (a latitude of 95°, an easting outside its zone)
raises InvalidInput naming the problem; text that is not coordinates at all gives None.
"""

from __future__ import annotations

import re

import pygeodesy  # type: ignore[import-untyped]

from cogbrowser.errors import InvalidInput

BANDS = "CDEFGHJKLMNPQRSTUVWX"  # UTM latitude bands, 8° each from 80°S (X: 72–84°N)
_MARKS = {"′": "'", "’": "'", "‘": "'", "´": "'", "″": '"', "”": '"', "“": '"', "''": '"', "º": "°", "˚": "°"}
_MGRS = re.compile(r"(\d{1,2})\s*([C-HJ-NP-X])\s*([A-HJ-NP-Z])\s*([A-HJ-NP-V])\s*(\d*)\s*(\d*)", re.I)
_UTM = re.compile(r"(\d{1,2})\s*([C-HJ-NP-X])\s+(\d+(?:\.\d*)?)\s*m?\s*[,;\s]\s*(\d+(?:\.\d*)?)\s*m?", re.I)
# a latitude and longitude: numbers, signs, degree/minute/second marks, hemispheres, separators
_LATLON_CHARS = re.compile(r"[\d\s.,;:+\-°'\"dmsNSEWnsew]+")
_NUMBER = re.compile(r"\d+(?:\.\d*)?")
_HEMISPHERE = re.compile(r"[NSEW]", re.I)


def parse(text: str) -> tuple[float, float] | None:
    """(latitude, longitude) in degrees, or None if the text is not coordinates; InvalidInput if
    it is but cannot be a place on Earth."""
    text = text.strip()
    for mark, plain in _MARKS.items():
        text = text.replace(mark, plain)
    if len(_NUMBER.findall(text)) < 1:
        return None
    if match := _MGRS.fullmatch(text):
        return _mgrs(text, match)
    if match := _UTM.fullmatch(text):
        return _utm(text, match)
    if _LATLON_CHARS.fullmatch(text) and len(_NUMBER.findall(text)) >= 2:
        return _latlon(text)
    return None


def _mgrs(text: str, match: re.Match[str]) -> tuple[float, float]:
    zone, band, column, row, east, north = match.groups()
    digits = east + north
    if len(digits) % 2 or len(digits) > 10:
        raise InvalidInput(f"{text!r}: an MGRS reference has as many easting as northing digits (up to 5 each)")
    if not digits:
        digits = "5000050000"  # a 100 km square alone: its centre
    half = len(digits) // 2
    _check_zone(text, int(zone))
    try:
        point = pygeodesy.parseMGRS(f"{int(zone):02d}{band}{column}{row}{digits[:half]}{digits[half:]}").toLatLon()
    except (pygeodesy.MGRSError, ValueError) as error:
        raise InvalidInput(f"{text!r} is not a valid MGRS reference ({error})") from None
    return _checked(text, point.lat, point.lon)


def _utm(text: str, match: re.Match[str]) -> tuple[float, float]:
    zone, letter, easting, northing = int(match[1]), match[2].upper(), float(match[3]), float(match[4])
    _check_zone(text, zone)
    if not 100_000 <= easting <= 900_000:
        raise InvalidInput(f"{text!r}: a UTM easting lies between 100000 and 900000 m; {easting:g} is outside its zone")
    if not 0 <= northing <= 10_000_000:
        raise InvalidInput(f"{text!r}: a UTM northing lies between 0 and 10000000 m; {northing:g} is not")
    hemisphere = letter if letter in "NS" else ("N" if letter >= "N" else "S")
    point = pygeodesy.Utm(zone, hemisphere, easting, northing).toLatLon()
    if letter not in "NS":
        south = -80 + 8 * BANDS.index(letter)
        north = 84 if letter == "X" else south + 8
        if not south - 0.5 <= point.lat <= north + 0.5:
            raise InvalidInput(f"{text!r}: that point is at latitude {point.lat:.2f}°, outside band {letter} "
                               f"({south}° to {north}°)")
    return _checked(text, point.lat, point.lon)


def _latlon(text: str) -> tuple[float, float]:
    first, second = _halves(text)
    if _hemisphere(first) in "EW" and _hemisphere(second) in "NS" and (_hemisphere(first) or _hemisphere(second)):
        first, second = second, first  # longitude written first, with its hemisphere
    return _checked(text, _degrees(text, first, "NS", 90, "latitude"), _degrees(text, second, "EW", 180, "longitude"))


def _halves(text: str) -> tuple[str, str]:
    """The latitude's and the longitude's text: split at a comma or semicolon, after the first
    hemisphere letter (before it when hemispheres lead: N48 E2), or at the one space between two numbers."""
    parts = [p.strip() for p in re.split(r"[,;]", text) if p.strip()]
    if len(parts) == 2:
        return parts[0], parts[1]
    letters = [m for m in _HEMISPHERE.finditer(text) if not _is_dms_letter(text, m.start())]
    if letters:
        leading = letters[0].start() == 0
        cut = letters[1].start() if leading and len(letters) > 1 else letters[0].end()
        if 0 < cut < len(text):
            return text[:cut].strip(), text[cut:].strip()
    words = text.split()
    if len(words) == 2:
        return words[0], words[1]
    raise InvalidInput(f"{text!r}: write a latitude and a longitude, e.g. 48.85, 2.35 or 48°51'N 2°21'E")


def _is_dms_letter(text: str, position: int) -> bool:
    """An s that is a seconds mark (48d51m24s), not South."""
    return text[position] in "sS" and position > 0 and text[position - 1].isdigit() and "d" in text[:position].lower()


def _hemisphere(part: str) -> str:
    found = [m.group().upper() for m in _HEMISPHERE.finditer(part) if not _is_dms_letter(part, m.start())]
    return found[0] if found else ""


def _degrees(text: str, part: str, hemispheres: str, limit: float, what: str) -> float:
    hemisphere = _hemisphere(part)
    if hemisphere and hemisphere not in hemispheres:
        raise InvalidInput(f"{text!r}: {part!r} cannot be a {what} (a {what} is {' or '.join(hemispheres)})")
    plain = re.sub(r"(?<=\d)\s*d\s*", "°", part, flags=re.I)
    plain = re.sub(r"(?<=\d)\s*m\s*", "'", plain, flags=re.I)
    plain = re.sub(r"(?<=\d)\s*s(?=\s*[NSEWnsew]?\s*$)", '"', plain)
    plain = re.sub(r"^\s*([NSEWnsew])\s*(.*)$", r"\2\1", plain)  # N48.85 -> 48.85N
    try:
        value = float(pygeodesy.parseDMS(plain, suffix=hemispheres, clip=0))
    except (pygeodesy.ParseError, pygeodesy.RangeError, ValueError):
        raise InvalidInput(f"{text!r}: {part!r} is not a {what} in degrees (decimal, or degrees minutes seconds)") \
            from None
    if not -limit <= value <= limit:
        raise InvalidInput(f"{text!r}: {what} {value:g}° is out of range (-{limit:g}° to {limit:g}°)")
    return value


def _check_zone(text: str, zone: int) -> None:
    if not 1 <= zone <= 60:
        raise InvalidInput(f"{text!r}: UTM zone {zone} does not exist (zones are 1 to 60)")


def _checked(text: str, lat: float, lon: float) -> tuple[float, float]:
    if not -90 <= lat <= 90:
        raise InvalidInput(f"{text!r}: latitude {lat:g}° is out of range (-90° to 90°)")
    if not -180 <= lon <= 180:
        raise InvalidInput(f"{text!r}: longitude {lon:g}° is out of range (-180° to 180°)")
    return round(lat, 7), round(lon, 7)
