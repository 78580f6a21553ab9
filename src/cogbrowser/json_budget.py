"""What a JSON text would cost once parsed, told before it is parsed.

`json.loads` makes a Python object of 24 to 200 bytes for each value, plus a pointer in its
container, so a text parses into 10 to 20 times its size: 16 MiB of `[],` (within the bodies' byte
limit) parsed into 336 MB, and a 16 MiB GeoJSON polygon into 240 MB, on every thread that took one.
Counting the separators is a pass of C over the bytes (15 ms for 16 MiB; parsing them takes 620)
and bounds that: MAX_JSON_VALUES values parse into about 64 MB at most, whatever the text's shape
(measured: a million floats 37 MB, of coordinate pairs 50 MB, of one-key objects 60 MB; strings
cost their length). A polygon of 330,000 vertices still fits.
"""

from __future__ import annotations

MAX_JSON_VALUES = 1_000_000  # values in one JSON text: about 64 MB parsed at most


class JsonTooLarge(ValueError):
    """A JSON text that would parse into more than MAX_JSON_VALUES values."""


def json_values(text: bytes | str) -> int:
    """An upper bound on the values `text` parses into: one after each comma, colon or opening
    bracket, and the outermost one. Separators inside strings count too, so it errs high."""
    if isinstance(text, str):
        return text.count(",") + text.count(":") + text.count("[") + text.count("{") + 1
    return text.count(b",") + text.count(b":") + text.count(b"[") + text.count(b"{") + 1


def check_json_values(text: bytes | str, what: str = "the JSON text") -> None:
    """Raise JsonTooLarge, naming `what` and its count, when `text` holds more values than allowed."""
    count = json_values(text)
    if count > MAX_JSON_VALUES:
        raise JsonTooLarge(f"{what} holds about {count:,} values (numbers, texts, lists, objects); at most "
                           f"{MAX_JSON_VALUES:,} are accepted (a polygon of about 330,000 vertices)")
